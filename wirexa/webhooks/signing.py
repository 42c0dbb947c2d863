"""PURE: Twilio's request signature (X-Twilio-Signature), also sent as X-SignalWire-Signature.

base64(HMAC-SHA1(key=auth token, msg=url + concat(name + value for each POST param sorted by
name; for a repeated name, its values sorted))). GET requests sign the full URL (query
included) with no params appended. Matches twilio-python's RequestValidator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence


def signature(auth_token: str, url: str, params: Sequence[tuple[str, str]] = ()) -> str:
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        grouped.setdefault(name, []).append(value)
    message = url + "".join(name + value for name in sorted(grouped) for value in sorted(set(grouped[name])))
    digest = hmac.new(auth_token.encode("utf-8"), message.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")
