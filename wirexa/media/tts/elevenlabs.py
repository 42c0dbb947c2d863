"""ElevenLabs through its REST API: `POST /v1/text-to-speech/{voice_id}?output_format=ulaw_8000`.

Why REST and not the `elevenlabs` SDK: the SDK is a generated client on httpx and pydantic
(a second HTTP stack beside aiohttp, slower start-up, more for PyInstaller to collect) for two
endpoints. We ask for `ulaw_8000`, G.711 at the telephone rate, and expand it to 16-bit PCM
ourselves: no resampling at all. `stream` uses the `/stream` variant of the same endpoint, whose
chunks are played as they arrive.

Voices are ids; users write names (`eleven.Rachel`). Names are mapped through `GET /v1/voices`,
fetched once and kept; an unknown name refetches at most once a minute before the voice is
reported as rejected (13511). A 20-character id is used as is.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncGenerator
from pathlib import Path

from wirexa.config import Settings
from wirexa.media.tts.base import TELEPHONE_RATE, failed, ulaw_to_pcm16, voice_rejected, write_wav
from wirexa.media.tts.vendorhttp import VendorHttp
from wirexa.media.tts.voices import MALE

_VOICE_ID = re.compile(r"^[A-Za-z0-9]{20}$")
_REFRESH_S = 60.0
# Models that take a language_code (the others detect the language from the text).
_LANGUAGE_MODELS = frozenset({"eleven_turbo_v2_5", "eleven_flash_v2_5"})


class ElevenLabsTts:
    name = "elevenlabs"

    def __init__(
        self,
        *,
        api_key: str,
        endpoint_url: str = "https://api.elevenlabs.io",
        model_id: str = "eleven_multilingual_v2",
        voice_woman: str = "Rachel",
        voice_man: str = "Adam",
    ) -> None:
        self.endpoint_url = (endpoint_url or "https://api.elevenlabs.io").rstrip("/")
        self.model_id = model_id
        self.voice_woman = voice_woman
        self.voice_man = voice_man
        self._api_key = api_key
        self._http = VendorHttp((api_key,))
        self._voices: dict[str, str] = {}  # lower-case name -> voice_id
        self._voices_at = float("-inf")  # time.monotonic() of the last fetch

    @classmethod
    def from_settings(cls, s: Settings) -> ElevenLabsTts:
        return cls(
            api_key=s.tts_elevenlabs_api_key,
            endpoint_url=s.tts_elevenlabs_endpoint_url,
            model_id=s.tts_elevenlabs_model_id,
            voice_woman=s.tts_elevenlabs_voice_woman,
            voice_man=s.tts_elevenlabs_voice_man,
        )

    def configured(self) -> bool:
        return bool(self._api_key)

    def default_voice(self, gender: str, language: str) -> str:
        return self.voice_man if gender == MALE else self.voice_woman

    async def render(self, text: str, voice: str, language: str, out: Path) -> None:
        voice_id = await self.voice_id(voice)
        status, data = await self._http.request(
            "POST",
            f"{self.endpoint_url}/v1/text-to-speech/{voice_id}",
            params={"output_format": f"ulaw_{TELEPHONE_RATE}"},
            headers=self._headers(),
            json_body=self._body(text, language),
        )
        if status != 200:
            raise self._http.status_error(status, data, voice=voice)
        if not data:
            raise failed("vendor sent no audio")
        write_wav(out, ulaw_to_pcm16(data), TELEPHONE_RATE)

    async def stream(self, text: str, voice: str, language: str) -> AsyncGenerator[bytes, None]:
        """`POST /v1/text-to-speech/{voice_id}/stream`: the same request, answered with chunked
        mu-law while the model speaks; each chunk is expanded to PCM as it comes."""
        voice_id = await self.voice_id(voice)
        async for chunk in self._http.stream(
            "POST",
            f"{self.endpoint_url}/v1/text-to-speech/{voice_id}/stream",
            params={"output_format": f"ulaw_{TELEPHONE_RATE}"},
            headers=self._headers(),
            json_body=self._body(text, language),
            voice=voice,
        ):
            yield ulaw_to_pcm16(chunk)

    def _headers(self) -> dict[str, str]:
        return {"xi-api-key": self._api_key, "Content-Type": "application/json", "Accept": "audio/basic"}

    def _body(self, text: str, language: str) -> dict[str, str]:
        body = {"text": text, "model_id": self.model_id}
        if self.model_id in _LANGUAGE_MODELS and language:
            body["language_code"] = language.split("-")[0].lower()
        return body

    async def voice_id(self, voice: str) -> str:
        """A voice name (case-insensitive) or id -> the voice id; ProviderError 13511 if unknown."""
        if _VOICE_ID.match(voice):
            return voice
        key = voice.strip().lower()
        if key not in self._voices and time.monotonic() - self._voices_at >= _REFRESH_S:
            await self._fetch_voices()
        found = self._voices.get(key)
        if found is None:
            raise voice_rejected(f"voice {voice!r} is not among the account's voices")
        return found

    async def _fetch_voices(self) -> None:
        status, data = await self._http.request(
            "GET", f"{self.endpoint_url}/v1/voices", headers={"xi-api-key": self._api_key, "Accept": "application/json"}
        )
        if status != 200:
            raise self._http.status_error(status, data)
        try:
            voices = json.loads(data)["voices"]
            names = {str(v["name"]): str(v["voice_id"]) for v in voices}
        except (ValueError, KeyError, TypeError) as exc:
            raise failed("voices answer is not a voice list") from exc
        mapping = {name.lower(): vid for name, vid in names.items()}
        for name, vid in names.items():
            # Library voices are often named "Rachel - calm narrator"; the short name works too.
            mapping.setdefault(name.split(" - ")[0].strip().lower(), vid)
        self._voices = mapping
        self._voices_at = time.monotonic()

    async def aclose(self) -> None:
        await self._http.aclose()
