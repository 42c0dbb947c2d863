"""Azure AI Speech through its REST API (`POST /cognitiveservices/v1`, SSML in, `riff-8khz-16bit-mono-pcm` out).

Why REST and not azure-cognitiveservices-speech: the SDK is a 30 MB native library (libssl and
ALSA dependencies, its own threads, a fresh WebSocket per synthesizer) that PyInstaller must
collect by hand; the REST API is one POST and answers the exact WAV we play. For streaming the
same POST asks for `raw-8khz-16bit-mono-pcm`, which Azure sends chunked as it synthesizes.

Auth is the resource key in `Ocp-Apim-Subscription-Key`. The endpoint is
`https://<region>.tts.speech.microsoft.com` unless one is configured (sovereign clouds,
containers, tests). The text is XML-escaped into the SSML, so `&` and `<` are spoken, not parsed.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from wirexa.config import Settings
from wirexa.media.tts.base import TELEPHONE_RATE, failed, pcm_from_wav, write_wav
from wirexa.media.tts.vendorhttp import VendorHttp
from wirexa.media.tts.voices import AZURE_DEFAULTS, MALE, gender_of, normalize_language, table_default

OUTPUT_FORMAT = "riff-8khz-16bit-mono-pcm"
STREAM_FORMAT = "raw-8khz-16bit-mono-pcm"


def ssml(text: str, voice: str, language: str) -> str:
    """The SSML document Azure documents for one voice; `text` is escaped, never markup."""
    gender = "Male" if gender_of("azure", voice) == MALE else "Female"
    return (
        f"<speak version='1.0' xml:lang={quoteattr(language)}>"
        f"<voice xml:lang={quoteattr(language)} xml:gender={quoteattr(gender)} name={quoteattr(voice)}>"
        f"{escape(text)}</voice></speak>"
    )


class AzureTts:
    name = "azure"

    def __init__(
        self, *, key: str, region: str = "", endpoint_url: str = "", voice_woman: str = "", voice_man: str = ""
    ) -> None:
        self.region = region
        self.endpoint_url = endpoint_url.rstrip("/")
        self.voice_woman = voice_woman
        self.voice_man = voice_man
        self._key = key
        self._http = VendorHttp((key,))

    @classmethod
    def from_settings(cls, s: Settings) -> AzureTts:
        return cls(
            key=s.tts_azure_key,
            region=s.tts_azure_region,
            endpoint_url=s.tts_azure_endpoint_url,
            voice_woman=s.tts_azure_voice_woman,
            voice_man=s.tts_azure_voice_man,
        )

    def configured(self) -> bool:
        return bool(self._key and (self.region or self.endpoint_url))

    @property
    def url(self) -> str:
        if self.endpoint_url:
            return f"{self.endpoint_url}/cognitiveservices/v1"
        if not self.region:
            raise failed("not configured: tts.azure_region or tts.azure_endpoint_url is required")
        return f"https://{self.region}.tts.speech.microsoft.com/cognitiveservices/v1"

    def default_voice(self, gender: str, language: str) -> str:
        override = self.voice_man if gender == MALE else self.voice_woman
        return override or table_default(AZURE_DEFAULTS, gender, language)

    async def render(self, text: str, voice: str, language: str, out: Path) -> None:
        status, data = await self._http.request(
            "POST", self.url, headers=self._headers(OUTPUT_FORMAT), data=self._ssml(text, voice, language)
        )
        if status != 200:
            raise self._http.status_error(status, data, voice=voice)
        write_wav(out, pcm_from_wav(data), TELEPHONE_RATE)

    async def stream(self, text: str, voice: str, language: str) -> AsyncGenerator[bytes, None]:
        """The same POST asking for headerless PCM (`raw-8khz-16bit-mono-pcm`): Azure sends the
        answer chunked while it synthesizes, and the chunks are already what we play."""
        async for chunk in self._http.stream(
            "POST", self.url, headers=self._headers(STREAM_FORMAT), data=self._ssml(text, voice, language), voice=voice
        ):
            yield chunk

    def _headers(self, output_format: str) -> dict[str, str]:
        return {
            "Ocp-Apim-Subscription-Key": self._key,
            "Content-Type": "application/ssml+xml",
            "X-Microsoft-OutputFormat": output_format,
            "User-Agent": "wirexa",
        }

    @staticmethod
    def _ssml(text: str, voice: str, language: str) -> bytes:
        parts = voice.split("-")
        lang = "-".join(parts[:2]) if len(parts) >= 3 else normalize_language(language)
        return ssml(text, voice, lang).encode("utf-8")

    async def aclose(self) -> None:
        await self._http.aclose()
