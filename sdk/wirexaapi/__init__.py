"""wirexaapi: `from wirexaapi import Client` is a drop-in for signalwire.rest.Client (2.x) and
wirexaapi 1.x, pointed at a Wirexa engine. Built on twilio-python 6.54 or 9.x; no global patching."""

from __future__ import annotations

import ipaddress
import os
import warnings
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator
from twilio.rest import Client as _TwilioClient
from twilio.twiml.voice_response import VoiceResponse

__version__ = "2.0.0"
__all__ = ["Client", "RequestValidator", "VoiceResponse", "base_url_for"]

DEFAULT_SPACE_URL = "localhost:5000"  # what wirexaapi 1.x defaulted to


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "::1"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def base_url_for(space_url: str) -> str:
    """`scheme://host[:port]` for a space URL (see the README for the rules)."""
    text = space_url.strip()
    if not text:
        raise ValueError("signalwire_space_url is empty")
    explicit = "://" in text
    parts = urlsplit(text if explicit else "//" + text)
    if not parts.netloc:
        raise ValueError(f"signalwire_space_url has no host: {space_url!r}")
    if parts.path not in ("", "/") or parts.query:
        warnings.warn(
            f"wirexaapi: ignoring the path in {space_url!r}; the engine is addressed by host and port",
            stacklevel=3,
        )
    if explicit:
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"signalwire_space_url must be http or https: {space_url!r}")
    else:
        host = parts.hostname or ""
        plain = parts.port is not None or "." not in host or _is_loopback(host)
        scheme = "http" if plain else "https"
    return f"{scheme}://{parts.netloc}"


class Client(_TwilioClient):  # type: ignore[misc]
    """Client(project_id, api_token, signalwire_space_url=...) — the signalwire 2.x signature."""

    def __init__(self, *args: object, signalwire_space_url: str | None = None, **kwargs: object) -> None:
        space = signalwire_space_url or os.environ.get("SIGNALWIRE_SPACE_URL") or DEFAULT_SPACE_URL
        # twilio-python rewrites the host with edge/region (127.0.0.1 -> 127.us1.0.1): never.
        kwargs["edge"] = None
        kwargs["region"] = None
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.edge = None
        self.region = None
        self.signalwire_space_url = space
        self.wirexa_base_url = base_url_for(space)
        api = self.api  # created on first use in 9.x; also exists in 6.x
        api.base_url = self.wirexa_base_url
