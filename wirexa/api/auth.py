"""HTTP Basic auth against projects (constant-time), and the per-project request rate limit."""

from __future__ import annotations

import base64
import binascii
import hmac
import time

from wirexa.errors import TooManyRequests, Unauthorized
from wirexa.store.repo import ProjectRecord
from wirexa.tokenbucket import TokenBucket


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """'Basic base64(user:pass)' -> (user, pass); None when absent or malformed."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def check_token(project: ProjectRecord | None, password: str) -> ProjectRecord:
    """Raise Unauthorized unless the password matches the project's token (constant time)."""
    expected = project.auth_token if project is not None else "x" * 32
    ok = hmac.compare_digest(expected.encode(), password.encode())
    if project is None or not ok or project.status != "active":
        raise Unauthorized("Authenticate", code=20003)
    return project


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
            raise TooManyRequests("Too many requests", code=20429)
