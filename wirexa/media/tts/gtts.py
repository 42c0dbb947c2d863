"""gTTS: Google Translate's speech endpoint (MP3), decoded to 8 kHz with ffmpeg. Off by default.

Why not the `gtts` package: it cannot be pointed at another host. `gTTS.stream()` builds its
URL from `tld` only (`https://translate.google.<tld>/_/TranslateWebserverUi/data/batchexecute`),
opens a fresh `requests.Session()` per call (no session or adapter to inject) and sends with
`verify=False`; its only knob is the proxy environment. It also pins `click<8.2`, which would
downgrade the click that Typer runs on. So this module sends the same documented request
(the `batchexecute` RPC `jQ1olc`, form field `f.req`, text split into parts of at most 100
characters as gTTS does) with aiohttp to a configurable endpoint, and reads the base64 MP3
out of the answer the way gTTS does.

This endpoint is unofficial and sends text to Google without an account, so it is off unless
`tts.gtts_enabled` is set. Its MP3 is 24 kHz; it is the one provider we resample (once, ffmpeg).
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from pathlib import Path

from wirexa.config import Settings
from wirexa.media.tts.base import decode_with_ffmpeg, failed
from wirexa.media.tts.vendorhttp import VendorHttp

RPC_ID = "jQ1olc"
PATH = "/_/TranslateWebserverUi/data/batchexecute"
MAX_CHARS = 100
_AUDIO = re.compile(r'jQ1olc","\[\\"(.*)\\"]')


def split_text(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Parts of at most `limit` characters, cut after punctuation or spaces where possible."""
    parts: list[str] = []
    rest = " ".join(text.split())
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = max(window.rfind(p) for p in (". ", ", ", "; ", ": ", "? ", "! "))
        cut = cut + 1 if cut > 0 else window.rfind(" ")
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        parts.append(rest)
    return parts


def rpc_body(part: str, lang: str) -> str:
    """The form body gTTS sends for one part of text (`f.req=<url-quoted JSON>&`)."""
    parameter = json.dumps([part, lang, None, "null"], separators=(",", ":"))
    rpc = [[[RPC_ID, parameter, None, "generic"]]]
    return "f.req=" + urllib.parse.quote(json.dumps(rpc, separators=(",", ":"))) + "&"


def gtts_language(language: str) -> str:
    """BCP-47 -> Translate's language code: 'en-US' -> 'en', 'zh-TW' -> 'zh-TW', 'pt-BR' -> 'pt'."""
    lang = (language or "en").strip()
    if lang.lower() in ("zh-tw", "zh-hk", "zh-cn"):
        return "zh-TW" if lang.lower() != "zh-cn" else "zh-CN"
    return lang.split("-")[0].lower() or "en"


class GttsTts:
    name = "gtts"

    def __init__(
        self, *, enabled: bool, endpoint_url: str = "https://translate.google.com", ffmpeg: str = "ffmpeg"
    ) -> None:
        self.enabled = enabled
        self.endpoint_url = (endpoint_url or "https://translate.google.com").rstrip("/")
        self.ffmpeg = ffmpeg
        self._http = VendorHttp(())

    @classmethod
    def from_settings(cls, s: Settings) -> GttsTts:
        return cls(enabled=s.tts_gtts_enabled, endpoint_url=s.tts_gtts_endpoint_url)

    def configured(self) -> bool:
        return self.enabled

    def default_voice(self, gender: str, language: str) -> str:
        return ""  # one voice per language

    async def render(self, text: str, voice: str, language: str, out: Path) -> None:
        mp3 = bytearray()
        for part in split_text(text):
            status, data = await self._http.request(
                "POST",
                self.endpoint_url + PATH,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded;charset=utf-8",
                    "Referer": self.endpoint_url + "/",
                    "User-Agent": "Mozilla/5.0 (wirexa)",
                },
                data=rpc_body(part, gtts_language(language)),
            )
            if status != 200:
                raise self._http.status_error(status, data)
            mp3 += _audio_of(data)
        if not mp3:
            raise failed("empty text")
        await decode_with_ffmpeg(self.ffmpeg, bytes(mp3), out)

    async def aclose(self) -> None:
        await self._http.aclose()


def _audio_of(answer: bytes) -> bytes:
    for line in answer.decode("utf-8", errors="replace").splitlines():
        if RPC_ID in line:
            found = _AUDIO.search(line)
            if found:
                try:
                    return base64.b64decode(found.group(1).encode("ascii"), validate=True)
                except ValueError as exc:
                    raise failed("answer audio is not base64") from exc
    raise failed("answer has no audio (language not supported?)")
