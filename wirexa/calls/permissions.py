"""PURE: toll-fraud rules for placing a call: dialing permissions by destination prefix (geo
permissions), the daily call-minutes cap and the emergency stop, as refusals with Twilio's codes.

The callers (the API's call create, the dispatcher for queued calls and <Dial> legs) read the
facts (the project's limits, the minutes it used today, the stop switch) and ask these functions;
nothing here reads a clock or a database.

Destinations. A permission is an E.164 prefix without the "+": a country calling code ("44",
"49") or anything longer ("4420" = London, "1876" = Jamaica); "*" allows every destination. The
North American Numbering Plan shares country code 1 between the US, Canada and the Caribbean
nations, the classic toll-fraud destinations: "1" covers the US and Canada (and US territories)
only, and each other NANP country is its own "1" + area code, as ITU lists them. SIP URIs reach
the trunk too when their host is the trunk's (`sip:+4420...@trunk`): they are checked by their
user part, which must then be an E.164 number. Other SIP URIs and client: addresses do not use
the trunk and are not checked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Protocol, runtime_checkable

from wirexa.errors import ApiCode

# NANP area codes of countries other than the US and Canada (ITU: "+1 xxx" country codes).
NANP_OTHER_COUNTRIES: dict[str, str] = {
    "242": "Bahamas",
    "246": "Barbados",
    "264": "Anguilla",
    "268": "Antigua and Barbuda",
    "284": "British Virgin Islands",
    "345": "Cayman Islands",
    "441": "Bermuda",
    "473": "Grenada",
    "649": "Turks and Caicos Islands",
    "658": "Jamaica",
    "664": "Montserrat",
    "721": "Sint Maarten",
    "758": "Saint Lucia",
    "767": "Dominica",
    "784": "Saint Vincent and the Grenadines",
    "809": "Dominican Republic",
    "829": "Dominican Republic",
    "849": "Dominican Republic",
    "868": "Trinidad and Tobago",
    "869": "Saint Kitts and Nevis",
    "876": "Jamaica",
}

ANYWHERE = "*"
_PREFIX = re.compile(r"^[1-9]\d{0,14}$")
_E164 = re.compile(r"^\+([1-9]\d{1,14})$")
_SIP_URI = re.compile(r"^sips?:(?:([^@;?]*)@)?([^;?:>]+)", re.IGNORECASE)

GEO_PERMISSIONS_URL = "https://www.twilio.com/console/voice/calls/geo-permissions/low-risk"


@dataclasses.dataclass(frozen=True, slots=True)
class Refusal:
    """Why a call may not be placed: the HTTP status and Twilio code the API answers with."""

    status: int
    code: int
    message: str


@dataclasses.dataclass(frozen=True, slots=True)
class ProjectLimits:
    """A project's own toll-fraud settings; None = the engine's default."""

    allowed_countries: str | None = None
    daily_minutes: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    """The engine's defaults (from Settings): the permitted prefixes when a project has none of
    its own, the daily minutes cap (0 = none), and the trunk's host (SIP URIs to it are checked)."""

    default_prefixes: tuple[str, ...]
    daily_minutes: int = 0
    trunk_host: str = ""


@runtime_checkable
class LimitsStore(Protocol):
    """Where the dispatcher reads the facts (store/calls.py StoreCalls implements it). Loop-only."""

    async def calls_stopped(self) -> bool:
        """Is the emergency stop on?"""
        ...

    async def project_limits(self, account_sid: str) -> ProjectLimits: ...

    async def call_usage_since(self, account_sid: str, since: dt.datetime) -> tuple[int, list[dt.datetime]]:
        """Seconds of the project's finished calls created since `since`, and the answer times
        of its live answered ones."""
        ...


def parse_prefixes(text: str) -> tuple[str, ...]:
    """'1, 44,1876' -> ('1', '44', '1876'); '*' allows everything. ValueError on anything else."""
    out: list[str] = []
    for raw in text.split(","):
        item = raw.strip().lstrip("+")
        if not item:
            continue
        if item != ANYWHERE and not _PREFIX.match(item):
            raise ValueError(f"not an E.164 country code or prefix: {raw.strip()!r}")
        out.append(item)
    return tuple(dict.fromkeys(out))


def policy(home_country: str, allowed_countries: str, daily_minutes: int, trunk_host: str) -> Policy:
    """The engine's Policy from its settings: `allowed_countries`, else the trunk's home country."""
    prefixes = parse_prefixes(allowed_countries) or parse_prefixes(home_country)
    return Policy(prefixes, max(0, daily_minutes), trunk_host.split(":")[0].lower())


def prefixes_for(limits: ProjectLimits, pol: Policy) -> tuple[str, ...]:
    if limits.allowed_countries is not None:
        return parse_prefixes(limits.allowed_countries)
    return pol.default_prefixes


def prefix_allows(digits: str, prefix: str) -> bool:
    """Does one permission cover an E.164 number (its digits, no '+')?"""
    if prefix == ANYWHERE:
        return True
    if not digits.startswith(prefix):
        return False
    # "1" is the US and Canada: the other NANP countries need their own "1xxx" entry.
    return not (prefix == "1" and digits[1:4] in NANP_OTHER_COUNTRIES)


def trunk_number(to: str, trunk_host: str) -> str | None:
    """The E.164 number a destination would reach the trunk with (with its '+'), "" for a
    destination that reaches the trunk with no E.164 number (refused unless '*' is allowed), None
    for one that does not use the trunk (another SIP host, a client: address)."""
    if _E164.match(to):
        return to
    match = _SIP_URI.match(to)
    if match is None:
        return None
    user, host = match.group(1) or "", match.group(2).lower()
    if trunk_host and host == trunk_host:
        user = re.sub(r"[\s().-]", "", user)
        return user if _E164.match(user) else ""
    return None


def destination_refusal(to: str, prefixes: tuple[str, ...], trunk_host: str = "") -> Refusal | None:
    """21215 unless the permissions allow dialing `to` (a To or <Dial> target as given)."""
    number = trunk_number(to, trunk_host)
    if number is None or ANYWHERE in prefixes:
        return None
    if number and any(prefix_allows(number[1:], p) for p in prefixes):
        return None
    return Refusal(
        400,
        ApiCode.NOT_PERMITTED_DESTINATION,
        f"Account not authorized to call {to}. Perhaps you need to enable some international permissions: "
        f"{GEO_PERMISSIONS_URL}",
    )


def daily_cap_s(limits: ProjectLimits, pol: Policy) -> int:
    """The project's daily cap in call-seconds; 0 = none."""
    minutes = limits.daily_minutes if limits.daily_minutes is not None else pol.daily_minutes
    return max(0, minutes) * 60


def usage_refusal(used_s: int, cap_s: int) -> Refusal | None:
    """402 / 20005 once the calls of the day used up the cap (like an exhausted credit balance)."""
    if cap_s <= 0 or used_s < cap_s:
        return None
    return Refusal(
        402,
        ApiCode.ACCOUNT_NOT_ACTIVE,
        f"Daily call-minutes limit reached for this project ({cap_s // 60} minutes a day, "
        f"{used_s // 60} used); calls resume at 00:00 UTC",
    )


STOPPED = Refusal(
    503,
    ApiCode.SERVICE_UNAVAILABLE,
    "New calls are refused: an operator stopped calling on this engine (emergency stop). "
    "It lifts with `wirexa calls resume`.",
)


def day_start(now: dt.datetime) -> dt.datetime:
    """The UTC midnight that began `now`'s day (naive UTC in, naive UTC out): the daily cap counts
    calls created since then."""
    return dt.datetime(now.year, now.month, now.day)


def seconds_used(finished_s: int, live_answers: list[dt.datetime], now: dt.datetime) -> int:
    """Call-seconds of the day: the finished calls' durations plus the time the live answered
    calls have been up so far."""
    return finished_s + sum(max(0, int((now - answered).total_seconds())) for answered in live_answers)
