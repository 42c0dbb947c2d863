"""PURE: the headers a SIP URI carries (`sip:alice@pbx.example.com;transport=tcp?X-Tenant=acme`):
Twilio lets a call to a SIP endpoint set custom `X-` headers in the URI's query; any other header
there is refused (a caller must not forge From, Route or P-Asserted-Identity through it)."""

from __future__ import annotations

import re
from urllib.parse import unquote

_HEADER_NAME = re.compile(r"^X-[A-Za-z0-9-]{1,64}$")


def split_headers(uri: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(the URI without its `?...` part, its headers); ValueError naming a header that is not an
    X- header, or a malformed one."""
    base, sep, query = uri.partition("?")
    if not sep:
        return uri, ()
    headers: list[tuple[str, str]] = []
    for part in filter(None, query.split("&")):
        name, eq, value = part.partition("=")
        name = unquote(name)
        if not eq or not _HEADER_NAME.match(name):
            raise ValueError(f"only X- headers may be set in a SIP URI, got {name!r}")
        headers.append((name, unquote(value)))
    return base, tuple(headers)
