"""HTTP Basic auth against projects (constant-time) and their API Keys (KeyVerifier), the
per-project request rate limit, and the slow-down of client addresses that keep failing to log in
(AuthThrottle)."""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import hmac
import logging
import time
import urllib.parse
from collections.abc import Callable

from wirexa.config import Settings
from wirexa.errors import ApiCode, TooManyRequests, Unauthorized
from wirexa.store.repo import ProjectRecord
from wirexa.store.repo.keys import decoy_hash, secret_matches
from wirexa.tokenbucket import TokenBucket


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """'Basic base64(user:pass)' -> (user, pass); None when absent or malformed."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):  # binascii.Error, and a str that is not ASCII
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def check_token(project: ProjectRecord | None, password: str) -> ProjectRecord:
    """Raise Unauthorized unless the password matches the project's token (constant time) and
    the project is active (check_active)."""
    expected = project.auth_token if project is not None else "x" * 32
    ok = hmac.compare_digest(expected.encode(), password.encode())
    if project is None or not ok:
        raise Unauthorized("Authenticate", code=ApiCode.AUTHENTICATION_FAILED)
    return check_active(project)


def check_active(project: ProjectRecord | None) -> ProjectRecord:
    """The project whose credentials were right, if it may use the API: a suspended one is
    401 / 20005 (Account not active: its parent may make it active again), a closed one (or
    one that is gone) 401 / 20003 as a wrong password is, since it never comes back. Only
    called once the secret matched, so a status is never told to a guesser."""
    if project is None or project.status == "closed":
        raise Unauthorized("Authenticate", code=ApiCode.AUTHENTICATION_FAILED)
    if project.status != "active":
        raise Unauthorized(f"Account not active: {project.sid} is {project.status}", code=ApiCode.ACCOUNT_NOT_ACTIVE)
    return project


class KeyVerifier:
    """Checks API Key secrets against their stored scrypt hashes (store/repo/keys.py). Loop-only.

    A hash costs ~0.1 s of CPU, too much for every request of a busy key, so a secret that
    matched is remembered: its SHA-256 under the key's SID, with the stored hash it matched.
    The caller reads the key's row for every request (no cache), and a remembered secret counts
    only while that row still holds the same hash, so a deleted key fails at once, in this
    process and in any other. Everything else (a new secret, a wrong one, a key that does not
    exist, checked against a decoy hash so that its answer takes as long) runs scrypt on a
    thread, at most KDF_AT_ONCE at a time: a flood of wrong secrets costs that many cores, and
    the AuthThrottle slows its addresses down.
    """

    KDF_AT_ONCE = 2
    MAX_REMEMBERED = 10_000

    def __init__(self) -> None:
        self._matched: dict[str, tuple[str, bytes]] = {}
        self._kdf = asyncio.Semaphore(self.KDF_AT_ONCE)

    async def check(self, key_sid: str, secret: str, stored: tuple[str, str] | None) -> str | None:
        """The account SID of the key when `secret` is its secret, else None. `stored` is the
        key's (account_sid, secret_hash) as just read from the store, None when it is gone."""
        fingerprint = hashlib.sha256(secret.encode()).digest()
        if stored is not None:
            known = self._matched.get(key_sid)
            if known is not None and known[0] == stored[1] and hmac.compare_digest(known[1], fingerprint):
                return stored[0]
        async with self._kdf:
            ok = await asyncio.to_thread(_secret_matches, secret, stored[1] if stored is not None else None)
        if not ok or stored is None:
            return None
        if len(self._matched) >= self.MAX_REMEMBERED:
            self._matched.clear()
        self._matched[key_sid] = (stored[1], fingerprint)
        return stored[0]

    def forget(self, key_sid: str) -> None:
        """Drop what is remembered of a key (deleted here)."""
        self._matched.pop(key_sid, None)


def _secret_matches(secret: str, stored_hash: str | None) -> bool:
    """secret_matches on a thread; a key that does not exist is checked against the decoy."""
    return secret_matches(secret, decoy_hash() if stored_hash is None else stored_hash)


class RateLimiter:
    """A token bucket per project; loop-only. rate 0 disables it."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = max(1, burst)
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, key: str, now: float | None = None) -> None:
        if self.rate <= 0:
            return
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
        if bucket.take(now) > 0:
            raise TooManyRequests("Too many requests", code=ApiCode.TOO_MANY_REQUESTS)


log = logging.getLogger(__name__)

# The one log line of a failed login, for fail2ban (config/fail2ban/filter.d/wirexa.conf):
#   <asctime> WARNING wirexa.api.auth: auth failure client=<address> failures=<n> action=<a> account=<user> path=<path>
# Everything the client controls comes after the address and is escaped (no spaces, no control
# characters), so no request can make the line name another address.
FAILURE_LINE = "auth failure client=%s failures=%d action=%s account=%s path=%s"


def log_field(text: str, limit: int = 120) -> str:
    """A client-controlled value as one log token: percent-encoded outside a safe set, capped."""
    return urllib.parse.quote(text[:limit], safe="/._-@:,=+") or "-"


class AuthThrottle:
    """Failed logins per client address, and what to do about the next one. Loop-only.

    Theory of operation. Every failed Basic auth (wrong token, unknown account, a malformed
    header) is counted against the client's address for `window_s`. The first `free` failures
    are answered at once (typos happen); each one beyond is answered 401 only after a delay that
    doubles from FIRST_DELAY_S up to MAX_DELAY_S, so guessing gets slower and slower. From `block`
    failures on (0 = never) the address is blocked until its oldest failures leave the window.
    A success does not clear the count: an address that holds one project's token must not
    guess another's faster. Every failure logs FAILURE_LINE; a blocked address logs it once per
    BLOCK_LOG_S, not once per request.

    What a block means depends on who chose the secret (`lockout`):

    - Machine-generated secrets (lockout=False; the API's Auth Tokens, 128-bit random): the
      credentials are checked first (`failed` is called only for a request that failed), so a
      valid one is always served, and at once, however many failures its address has. Only the
      failing requests are throttled: delayed, then 429 / 20429 while blocked. Guessing a
      128-bit token is hopeless with or without a lockout, and a lockout would let one
      misconfigured client (an old token in a cron job on the same host or behind the same NAT)
      take down the good integration at that address.
    - Human-chosen secrets (lockout=True; the console's admin password, to come): call
      `before_credentials` first. A blocked address gets 429 / 20429 without its credentials
      being checked at all, the right password too, so that a block tells a guesser nothing.

    Memory is bounded: at most MAX_ADDRESSES addresses are tracked (the stalest go first), and
    each keeps at most max(block, free + 16) failure times.
    """

    FIRST_DELAY_S = 0.5
    MAX_DELAY_S = 8.0
    BLOCK_LOG_S = 60.0
    MAX_ADDRESSES = 50_000

    def __init__(
        self,
        free: int,
        block: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        lockout: bool = False,
    ) -> None:
        self.free = max(0, free)
        self.block = max(0, block)
        self.window_s = window_s
        self.clock = clock
        self.lockout = lockout
        self._keep = max(self.block, self.free + 16)
        self._failures: collections.OrderedDict[str, collections.deque[float]] = collections.OrderedDict()
        self._block_logged: dict[str, float] = {}

    @classmethod
    def from_settings(cls, s: Settings) -> AuthThrottle:
        """The REST API's throttle: its Auth Tokens are random, so failures only (no lockout)."""
        return cls(s.api_auth_failures_free, s.api_auth_failures_block, s.api_auth_failure_window_s)

    def failures(self, address: str, now: float | None = None) -> int:
        """Failures of `address` still in the window."""
        times = self._failures.get(address)
        if times is None:
            return 0
        now = self.clock() if now is None else now
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[address]
            self._block_logged.pop(address, None)
            return 0
        return len(times)

    def before_credentials(self, address: str, path: str = "") -> None:
        """Call before the credentials are looked at. With lockout: `check` (a blocked address is
        refused with the right secret too). Without: nothing, a valid credential is served."""
        if self.lockout:
            self.check(address, path)

    def check(self, address: str, path: str = "") -> None:
        """TooManyRequests (20429) while `address` is blocked."""
        if not self.block or address not in self._failures:
            return
        now = self.clock()
        count = self.failures(address, now)
        if count < self.block:
            return
        oldest = self._failures[address][-self.block]
        retry_s = max(1, int(oldest + self.window_s - now + 0.999))
        if now - self._block_logged.get(address, -self.BLOCK_LOG_S) >= self.BLOCK_LOG_S:
            self._block_logged[address] = now
            log.warning(FAILURE_LINE, address, count, "blocked", "-", log_field(path))
        raise TooManyRequests(
            f"Too many failed authentication attempts from {address}; try again in {retry_s} s",
            code=ApiCode.TOO_MANY_REQUESTS,
        )

    def delay_s(self, count: int) -> float:
        """How long the answer to the `count`-th failure in the window waits."""
        if count <= self.free:
            return 0.0
        return min(self.MAX_DELAY_S, self.FIRST_DELAY_S * float(2 ** (count - self.free - 1)))

    def record_failure(self, address: str, account: str, path: str) -> float:
        """Count a failed login of `address`, log it; returns the delay its 401 should wait."""
        now = self.clock()
        count = self.failures(address, now) + 1
        times = self._failures.setdefault(address, collections.deque(maxlen=self._keep))
        times.append(now)
        self._failures.move_to_end(address)
        if len(self._failures) > self.MAX_ADDRESSES:
            self._evict(now)
        if self.block and count >= self.block:
            delay, action = 0.0, "blocked"  # its next failing request gets 429: no need to hold this one
        else:
            delay = self.delay_s(count)
            action = f"delay={delay:g}s" if delay else "none"
        log.warning(FAILURE_LINE, address, count, action, log_field(account, 64), log_field(path))
        return delay

    async def failed(self, address: str, account: str, path: str) -> None:
        """A request of `address` failed to log in: TooManyRequests (20429) at once while the
        address is blocked (not counted again); else record_failure, then wait out its delay
        (the caller answers 401 afterwards)."""
        self.check(address, path)
        delay = self.record_failure(address, account, path)
        if delay:
            await asyncio.sleep(delay)

    def _evict(self, now: float) -> None:
        """Drop addresses whose failures all left the window, then the least recently failing."""
        for address in [a for a, t in self._failures.items() if not t or t[-1] <= now - self.window_s]:
            del self._failures[address]
            self._block_logged.pop(address, None)
        while len(self._failures) > self.MAX_ADDRESSES:
            address, _ = self._failures.popitem(last=False)
            self._block_logged.pop(address, None)

    def __len__(self) -> int:
        return len(self._failures)
