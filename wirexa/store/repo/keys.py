"""The api_keys table: API Keys (SK...) of a project, and how their secrets are kept.

A key's secret is shown once, when the key is created, and stored only as a salted scrypt hash
(`hash_secret`: "scrypt$n$r$p$salt$hash", hex). Checking a secret costs what hashing it does
(~0.05-0.1 s): callers on the event loop run `hash_secret` / `secret_matches` in a thread, and
the API remembers secrets that matched (api/auth.py KeyVerifier) so that only the first request
of a key pays it. `key_credentials` is a bounded read (by primary key) for every request that
authenticates with a key: nothing caches the row, so a deleted key fails at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
import secrets
import string
from typing import Any

from wirexa.clock import new_sid, utcnow
from wirexa.store.models import ApiKey
from wirexa.store.sql import Select, Write, newest_first, sids_with_prefix, update_by_sid

SECRET_LENGTH = 32
_ALPHABET = string.ascii_letters + string.digits  # 32 of 62 characters: ~190 bits
# scrypt's cost: n=2**14, r=8 (16 MiB, ~0.1 s), the interactive-login parameters of its paper.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 14, 8, 1
SALT_BYTES = 16


@dataclasses.dataclass(frozen=True, slots=True)
class KeyRecord:
    sid: str
    account_sid: str
    friendly_name: str | None
    date_created: dt.datetime
    date_updated: dt.datetime


_KEYS = Select(ApiKey, KeyRecord)
_CREDENTIALS = Select(ApiKey, None, ("account_sid", "secret_hash"))
_WRITE = Write(ApiKey)


def new_secret() -> str:
    """A key's secret: 32 random letters and digits."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    """The stored form of `secret`: scrypt with a random salt, its parameters kept with it."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def secret_matches(secret: str, stored: str) -> bool:
    """Does `secret` hash to `stored` (compared in constant time)? False for a malformed one."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
    except ValueError:
        return False
    return hmac.compare_digest(got.hex(), digest)


@functools.cache
def decoy_hash() -> str:
    """A hash no secret matches, checked for a key that does not exist: its answer takes as
    long as a wrong secret's."""
    return hash_secret(secrets.token_hex(16))


def insert_key(account_sid: str, friendly_name: str | None, secret_hash: str) -> KeyRecord:
    now = utcnow()
    values: dict[str, Any] = {
        "sid": new_sid("SK"),
        "account_sid": account_sid,
        "friendly_name": friendly_name,
        "secret_hash": secret_hash,
        "date_created": now,
        "date_updated": now,
    }
    _WRITE.insert(values)
    del values["secret_hash"]
    return KeyRecord(**values)


def get_key(sid: str, account_sid: str | None = None) -> KeyRecord | None:
    """The key `sid` (of the project `account_sid` when given), or None."""
    return _KEYS.by_sid(sid, account_sid)  # type: ignore[no-any-return]


def key_credentials(sid: str) -> tuple[str, str] | None:
    """(account_sid, secret_hash) of the key `sid`, or None: what authenticating with it needs."""
    row = _CREDENTIALS.one('"sid" = ?', (sid,))
    return (row[0], row[1]) if row else None


def key_sids_with_prefix(prefix: str, limit: int = 2) -> list[str]:
    """SIDs of keys starting with `prefix` (the CLI takes a unique start of a SID)."""
    return sids_with_prefix(ApiKey, prefix, limit)


def list_keys(
    account_sid: str | None, page_size: int, page: int = 0, after_sid: str | None = None
) -> tuple[list[KeyRecord], bool]:
    """One page of a project's keys (every project's with None), newest first, and whether
    another page follows."""
    if account_sid is None:
        return newest_first(_KEYS, ["1 = 1"], [], page_size, page, after_sid)
    return newest_first(_KEYS, ['"account_sid" = ?'], [account_sid], page_size, page, after_sid)


def update_key(sid: str, friendly_name: str | None) -> KeyRecord | None:
    """Rename the key; None when there is no such key."""
    return update_by_sid(_WRITE, _KEYS, sid, {"friendly_name": friendly_name, "date_updated": utcnow()})  # type: ignore[no-any-return]


def delete_key(sid: str) -> bool:
    """Delete the key (requests with it fail from now on); False when there was none."""
    return bool(ApiKey.delete().where(ApiKey.sid == sid).execute())
