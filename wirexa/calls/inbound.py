"""Inbound calls: an INVITE a media worker holds becomes a call, or is refused.

Theory of operation. The inbound front (sip/front.py) lets in the carrier (by address, optionally
digest), the desk phones and the sandbox caller (by their credentials), and says which in the
X-Wirexa-Auth header of the INVITE it forwards to a worker; an INVITE the worker took straight
from the trunk (its own port, the trunk's address) has none and is the carrier's. The worker
holds it and the bridge hands it here as an InboundInvite. The router then:
- finds the route: the called number (the Request-URI's user, or To's with `[sip]
  inbound_number_from = "to"`, normalised to E.164 with the trunk's country code and dial prefix)
  among the projects' numbers; a desk phone's call goes to `[sip] phones_voice_url` in the phone's
  project, From `sip:alice@<domain>` and To the URI it dialled. No route: 404;
- admits it (Admission.for_inbound: the emergency stop, the project's concurrency cap, credits,
  daily minutes): a refusal is 503 with a notification on the project;
- inserts the call `inbound`, `ringing` (From from P-Asserted-Identity when present, `anonymous`
  when withheld; ForwardedFrom from Diversion), registers its session, accepts the INVITE under
  the new CallSid (the caller hears 180), and starts the session: it fetches the VoiceUrl while
  the call rings and answers when the document first needs media (calls/session.py).
A caller who hangs up before the accept is seen by the worker, which reports the accepted call
ended `canceled`. Loop-only.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Protocol

from wirexa.calls import state
from wirexa.calls.admission import Admission
from wirexa.calls.ports import CallEnded, CallSid, CallStore, InboundInvite, InboundSip, NumberDirectory
from wirexa.calls.records import CallRecord, InboundRoute, NewCall, NewNotification
from wirexa.calls.session import sip_header_params
from wirexa.config import Settings
from wirexa.errors import ApiCode, SipError

log = logging.getLogger(__name__)

NOT_FOUND = 404
UNAVAILABLE = 503
ANONYMOUS = "anonymous"
# Status callback events of a number's StatusCallback (Twilio: the call's end).
NUMBER_CALLBACK_EVENTS = ("completed",)

_URI = re.compile(r"(?:sips?|tel):([^@;>?]*)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sent an INVITE, as the front vouches: the carrier, the sandbox caller, or a phone."""

    kind: str  # "carrier" | "sandbox" | "phone"
    username: str = ""


@dataclass(frozen=True, slots=True)
class Numbering:
    """The settings that turn a SIP user part into E.164 and name the phones' domain."""

    country_code: str = "1"
    dial_prefix: str = ""
    number_from: str = "request-uri"
    domain: str = "wirexa"

    @classmethod
    def from_settings(cls, s: Settings) -> Numbering:
        return cls(s.sip_trunk_country_code, s.sip_trunk_dial_prefix, s.sip_inbound_number_from, s.sip_domain)


def sender_of(invite: InboundInvite) -> Sender:
    said = (invite.header("X-Wirexa-Auth") or "carrier").strip()
    if said.startswith("phone="):
        return Sender("phone", said.removeprefix("phone="))
    return Sender("sandbox") if said == "sandbox" else Sender("carrier")


def uri_user(uri: str) -> str:
    """The user part of a SIP/tel URI in a header value (display name, <>, params around it)."""
    match = _URI.search(uri)
    return match.group(1) if match else ""


def to_e164(user: str, numbering: Numbering) -> str:
    """A called or calling number as E.164 where it looks like one: the trunk's dial prefix
    dropped, a national number given the country code (10 digits for +1), `00` read as `+`;
    anything else (an extension, a name) is returned as it came."""
    user = user.strip()
    if numbering.dial_prefix and user.startswith(numbering.dial_prefix) and not user.startswith("+"):
        user = user[len(numbering.dial_prefix) :]
    if user.startswith("+"):
        return user
    if not user.isdigit():
        return user
    if user.startswith("00"):
        return "+" + user[2:]
    cc = numbering.country_code
    if cc == "1" and len(user) == 10:
        return "+1" + user
    if cc == "1" and len(user) == 11 and user.startswith("1"):
        return "+" + user
    if cc != "1" and user.startswith("0"):
        return "+" + cc + user[1:]
    return "+" + user if len(user) > 7 else user


def called_number(invite: InboundInvite, numbering: Numbering) -> str:
    uri = invite.to_uri if numbering.number_from == "to" else (invite.request_uri or invite.to_uri)
    return to_e164(uri_user(uri), numbering)


def caller_number(invite: InboundInvite, numbering: Numbering) -> str:
    """The caller's number: P-Asserted-Identity (or Remote-Party-ID) over From; `anonymous` when
    the caller withheld it (Privacy: id, or an anonymous From with no asserted identity)."""
    privacy = (invite.header("Privacy") or "").lower()
    asserted = invite.header("P-Asserted-Identity") or invite.header("Remote-Party-ID")
    if "id" in re.split(r"[;\s,]+", privacy) and not asserted:
        return ANONYMOUS
    user = uri_user(asserted or invite.from_uri)
    if not user or user.lower() in (ANONYMOUS, "unknown", "restricted", "unavailable"):
        return ANONYMOUS
    return to_e164(user, numbering)


def forwarded_from(invite: InboundInvite, numbering: Numbering) -> str | None:
    diversion = invite.header("Diversion")
    user = uri_user(diversion) if diversion else ""
    return to_e164(user, numbering) if user else None


class Sessions(Protocol):
    """What the router needs from the dispatcher."""

    node_id: str  # the engine that takes the call owns it (its calls' `owner`)

    def live_calls(self, account_sid: str) -> int: ...

    def engine_full(self) -> str | None: ...

    def adopt_inbound(self, call: CallRecord) -> _Startable: ...


class _Startable(Protocol):
    sip_params: list[tuple[str, str]]

    def start_inbound(self) -> None: ...

    def post(self, item: CallEnded) -> None: ...


class InboundRouter:
    def __init__(
        self,
        numbering: Numbering,
        directory: NumberDirectory,
        store: CallStore,
        admission: Admission,
        sessions: Sessions,
        sip: InboundSip,
    ) -> None:
        self.numbering = numbering
        self.directory = directory
        self.store = store
        self.admission = admission
        self.sessions = sessions
        self.sip = sip
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self) -> None:
        self.sip.set_incoming_handler(self.take)

    def take(self, invite: InboundInvite) -> None:
        """The bridge's incoming handler: route the INVITE in a task of its own."""
        task = asyncio.get_running_loop().create_task(self._route_safely(invite), name=f"inbound-{invite.dialog_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _route_safely(self, invite: InboundInvite) -> None:
        try:
            await self.route(invite)
        except asyncio.CancelledError:
            await self._refuse(invite, UNAVAILABLE, "the engine is stopping")
            raise
        except Exception:  # noqa: BLE001 - an INVITE must get an answer whatever went wrong
            log.exception("inbound INVITE %s from %s failed", invite.dialog_id, invite.source)
            await self._refuse(invite, 500, "server error")

    async def route(self, invite: InboundInvite) -> CallRecord | None:
        """Take `invite` as a new call (returned), or refuse it (None)."""
        sender = sender_of(invite)
        if sender.kind == "phone":
            route = await self.directory.phone_route(sender.username)
            from_number = f"sip:{sender.username}@{self.numbering.domain}"
            dialled = uri_user(invite.request_uri or invite.to_uri)
            to_number = f"sip:{dialled}@{self.numbering.domain}"
            if route is not None and not route.voice_url:
                await self._notify(route, "A desk phone called but [sip] phones_voice_url is not set")
                route = None
            missing = f"no route for calls from the phone {sender.username}"
        else:
            to_number = called_number(invite, self.numbering)
            from_number = caller_number(invite, self.numbering)
            route = await self.directory.number_route(to_number)
            missing = f"no project has the number {to_number}"
        if route is None:
            await self._refuse(invite, NOT_FOUND, missing)
            return None
        refusal = await self.admission.for_inbound(route.account_sid, self.sessions.live_calls(route.account_sid))
        why = refusal.message if refusal is not None else self.sessions.engine_full()
        if why is not None:
            code = refusal.code if refusal is not None else ApiCode.TOO_MANY_REQUESTS
            await self._notify(route, f"Inbound call to {to_number} refused: {why}", code=code)
            await self._refuse(invite, UNAVAILABLE, why)
            return None
        call = await self.store.insert(
            route.account_sid,
            NewCall(
                to_number=to_number,
                from_number=from_number,
                url=route.voice_url,
                method=route.voice_method,
                fallback_url=route.voice_fallback_url,
                fallback_method=route.voice_fallback_method,
                status_callback=route.status_callback,
                status_callback_method=route.status_callback_method,
                status_callback_events=NUMBER_CALLBACK_EVENTS if route.status_callback else (),
                direction=state.Direction.INBOUND,
                phone_number_sid=route.phone_number_sid,
                forwarded_from=forwarded_from(invite, self.numbering) if sender.kind != "phone" else None,
                owner=self.sessions.node_id,
            ),
        )
        session = self.sessions.adopt_inbound(call)
        session.sip_params = sip_header_params(invite.headers)
        try:
            await self.sip.accept(invite.dialog_id, CallSid(call.sid))
        except SipError as exc:
            log.warning("[%s] the INVITE could not be taken: %s", call.sid, exc)
            session.post(CallEnded(CallSid(call.sid), "canceled", None, "remote"))
            return call
        session.start_inbound()
        log.info("[%s] inbound call from %s to %s (%s)", call.sid, from_number, to_number, sender.kind)
        return call

    async def _refuse(self, invite: InboundInvite, code: int, why: str) -> None:
        log.info("inbound INVITE from %s (%s) refused %d: %s", invite.source, invite.from_uri, code, why)
        try:
            await self.sip.refuse(invite.dialog_id, code, why)
        except SipError as exc:
            log.warning("refusing inbound INVITE %s failed: %s", invite.dialog_id, exc)

    async def _notify(self, route: InboundRoute, message: str, code: int = ApiCode.INTERNAL_SERVER_ERROR) -> None:
        await self.store.notify(NewNotification(route.account_sid, None, int(code), message))
