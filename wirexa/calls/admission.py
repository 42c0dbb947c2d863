"""Admission: whether a call, or a <Dial> leg, may go, decided in one place with one Policy.

Theory of operation. A call is admitted three times, each time against the facts of that moment:
at create (the API answers the refusal: the emergency stop 503 / 20503, a destination outside the
dialing permissions 400 / 21215, the daily minutes used up 402 / 20005, no credits left 402 /
20005, a caller id the trunk does not allow 400 / 21210), when it leaves the queue (permissions and
minutes may have changed meanwhile: the queued call ends `failed` with the refusal as its
notification), and for a <Dial> leg (the emergency stop, the project's concurrency cap, then the
same permissions and minutes). The checks run in that order and the first refusal wins. The
Policy (the engine's defaults) is built once from Settings; the project's own limits and usage
come from the LimitsStore each time. Loop-only.
"""

from __future__ import annotations

from wirexa.calls import permissions
from wirexa.calls.permissions import LimitsStore, Refusal
from wirexa.calls.ports import CallStore, Clock
from wirexa.calls.records import ProjectRecord
from wirexa.config import Settings
from wirexa.errors import ApiCode

NO_CREDITS = Refusal(402, ApiCode.ACCOUNT_NOT_ACTIVE, "No credits remaining for this project")


def inactive(project: ProjectRecord | None) -> Refusal | None:
    """A suspended or closed project (subaccount) places and takes no calls: 401 / 20005."""
    if project is None or project.status == "active":
        return None
    return Refusal(401, ApiCode.ACCOUNT_NOT_ACTIVE, f"Account not active: {project.sid} is {project.status}")


# Per dispatch pass: account_sid -> (the project's limits, call-seconds used today), or the
# refusal of a project that is not active
UsageCache = dict[str, tuple[permissions.ProjectLimits, int] | Refusal]


def settings_policy(s: Settings) -> permissions.Policy:
    """The engine's toll-fraud defaults from its settings."""
    return permissions.policy(
        s.sip_trunk_country_code, s.calls_allowed_countries, s.calls_daily_minutes, s.sip_trunk_host
    )


def allowed_caller_ids(s: Settings) -> frozenset[str]:
    """The From numbers a trunk allows (`sip_trunk_allowed_caller_ids`); empty = any (and always
    any with the sandbox carrier)."""
    if not s.sip_trunk_host:
        return frozenset()
    return frozenset(n.strip() for n in s.sip_trunk_allowed_caller_ids.split(",") if n.strip())


class Admission:
    def __init__(
        self,
        policy: permissions.Policy,
        store: CallStore,
        clock: Clock,
        *,
        limits: LimitsStore | None = None,
        caller_ids: frozenset[str] = frozenset(),
    ) -> None:
        """`limits` None: no toll-fraud checks (only credits and caller ids)."""
        self.policy = policy
        self.store = store
        self.clock = clock
        self.limits = limits
        self.caller_ids = caller_ids

    @classmethod
    def from_settings(cls, s: Settings, store: CallStore, clock: Clock) -> Admission:
        limits = store if isinstance(store, LimitsStore) else None
        return cls(settings_policy(s), store, clock, limits=limits, caller_ids=allowed_caller_ids(s))

    async def at_create(self, project: ProjectRecord, to_number: str, from_number: str) -> Refusal | None:
        """Why the API must refuse a new call, or None."""
        if self.limits is not None and await self.limits.calls_stopped():
            return permissions.STOPPED
        # The balance moves as calls end, a parent suspends a subaccount: the stored project, not
        # the auth-time copy.
        current = await self.store.project(project.sid) or project
        refusal = inactive(current) or await self.destination_and_usage(project.sid, to_number)
        if refusal is not None:
            return refusal
        if current.credits_s is not None and current.credits_s <= 0:
            return NO_CREDITS
        if self.caller_ids and from_number not in self.caller_ids:
            return Refusal(
                400,
                ApiCode.FROM_NOT_VERIFIED,
                f"The source phone number provided, {from_number}, is not yet verified for your account.",
            )
        return None

    async def calls_stopped(self) -> bool:
        """The emergency stop is on: nothing leaves the queue."""
        return self.limits is not None and await self.limits.calls_stopped()

    @staticmethod
    def over_concurrency(project: ProjectRecord | None, live_calls: int) -> Refusal | None:
        """The project's concurrency cap (`live_calls`: its live calls and legs) is reached."""
        if project is not None and project.max_concurrent is not None and live_calls >= project.max_concurrent:
            return Refusal(
                429,
                ApiCode.TOO_MANY_REQUESTS,
                f"The project's limit of {project.max_concurrent} concurrent calls is reached",
            )
        return None

    async def seconds_used_today(self, account_sid: str, limits: permissions.ProjectLimits) -> int:
        """Call seconds the project used since the UTC day began (0 when it has no daily cap)."""
        if self.limits is None or not permissions.daily_cap_s(limits, self.policy):
            return 0
        now = self.clock.now()
        finished_s, live = await self.limits.call_usage_since(account_sid, permissions.day_start(now))
        return permissions.seconds_used(finished_s, live, now)

    async def destination_and_usage(
        self, account_sid: str, to_number: str, usage: UsageCache | None = None
    ) -> Refusal | None:
        """Why a call (or leg) of this project to `to_number` may not be placed now, or None:
        the project is suspended or closed, the destination is not permitted, its minutes are
        used up. `usage` caches the project's limits and minutes used over one dispatch pass."""
        cached = usage.get(account_sid) if usage is not None else None
        if cached is None:
            refusal = inactive(await self.store.project(account_sid))
            if refusal is not None:
                if usage is not None:
                    usage[account_sid] = refusal
                return refusal
        elif isinstance(cached, Refusal):
            return cached
        if self.limits is None:
            return None
        if cached is None:
            limits = await self.limits.project_limits(account_sid)
            cached = (limits, await self.seconds_used_today(account_sid, limits))
            if usage is not None:
                usage[account_sid] = cached
        limits, used_s = cached
        prefixes = permissions.prefixes_for(limits, self.policy)
        return permissions.destination_refusal(to_number, prefixes, self.policy.trunk_host) or (
            permissions.usage_refusal(used_s, permissions.daily_cap_s(limits, self.policy))
        )

    async def for_inbound(self, account_sid: str, live_calls: int) -> Refusal | None:
        """Why an inbound call to a number of the project may not be taken now (`live_calls`: the
        project's live calls): the emergency stop, its concurrency cap, no credits left, its
        daily minutes used up."""
        if await self.calls_stopped():
            return permissions.STOPPED
        project = await self.store.project(account_sid)
        if project is None:
            return Refusal(404, ApiCode.NOT_FOUND, "The project of the number is gone")
        if (refusal := inactive(project) or self.over_concurrency(project, live_calls)) is not None:
            return refusal
        if project.credits_s is not None and project.credits_s <= 0:
            return NO_CREDITS
        if self.limits is None:
            return None
        limits = await self.limits.project_limits(account_sid)
        used_s = await self.seconds_used_today(account_sid, limits)
        return permissions.usage_refusal(used_s, permissions.daily_cap_s(limits, self.policy))

    async def for_leg(self, account_sid: str, to_number: str, live_calls: int) -> Refusal | None:
        """Why a <Dial> leg may not be placed now (`live_calls`: the project's live calls and legs)."""
        if await self.calls_stopped():
            return permissions.STOPPED
        refusal = self.over_concurrency(await self.store.project(account_sid), live_calls)
        return refusal or await self.destination_and_usage(account_sid, to_number)
