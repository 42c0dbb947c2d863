"""The console's logins: the admin password (scrypt hash in <data_dir>/console/admin.password,
set by `wirexa console set-password`), server-side sessions with an idle expiry, and the CSRF
token each session carries (every form and POST of the console sends it back).

Sessions live in the engine's memory: a restart logs everyone out, which is fine for a console.
Loop-only apart from hash_password/verify_password (CPU-bound: run them on a thread)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD = 10
MAX_SESSIONS = 10_000


def password_path(data_dir: Path) -> Path:
    return data_dir / "console" / "admin.password"


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """'scrypt$N$r$p$<salt hex>$<hash hex>' of the password."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str | None) -> bool:
    """True when `password` matches the stored hash (constant-time compare); False for none."""
    if not stored:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.strip().split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def write_password(data_dir: Path, password: str) -> Path:
    """Store the admin password's hash (mode 0600, replacing any earlier one); returns the file."""
    path = password_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(hash_password(password) + "\n")
    os.replace(tmp, path)
    return path


def read_password(data_dir: Path) -> str | None:
    """The stored hash, or None when no admin password was set."""
    try:
        return password_path(data_dir).read_text().strip() or None
    except OSError:
        return None


@dataclasses.dataclass(slots=True)
class Session:
    """A login: `project_sid` None for the admin (every project)."""

    id: str
    csrf: str
    project_sid: str | None
    name: str
    expires: float


class Sessions:
    """Session id -> Session, each valid for `ttl_s` after its last use."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self._by_id: dict[str, Session] = {}

    def create(self, project_sid: str | None, name: str) -> Session:
        now = self.clock()
        if len(self._by_id) >= MAX_SESSIONS:
            for sid in [k for k, s in self._by_id.items() if s.expires <= now]:
                del self._by_id[sid]
            if len(self._by_id) >= MAX_SESSIONS:  # the oldest-expiring go first
                for sid, _ in sorted(self._by_id.items(), key=lambda kv: kv[1].expires)[: MAX_SESSIONS // 10]:
                    del self._by_id[sid]
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), project_sid, name, now + self.ttl_s)
        self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of that id (its expiry pushed back), or None."""
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None:
            return None
        now = self.clock()
        if session.expires <= now:
            del self._by_id[session_id]
            return None
        session.expires = now + self.ttl_s
        return session

    def drop(self, session_id: str) -> None:
        self._by_id.pop(session_id, None)

    def drop_project(self, project_sid: str) -> None:
        for sid in [k for k, s in self._by_id.items() if s.project_sid == project_sid]:
            del self._by_id[sid]

    def __len__(self) -> int:
        return len(self._by_id)


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), (sent or "").encode())
