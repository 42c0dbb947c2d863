"""Google Cloud Text-to-Speech through its REST API (`POST /v1/text:synthesize`), LINEAR16 at 8000 Hz.

Why REST and not google-cloud-texttospeech: the SDK drags in grpcio, protobuf and google-auth
(tens of MB of native wheels, half a second of imports, and PyInstaller hooks for each), all for
one JSON POST. aiohttp is already in the engine, so the call stays on the event loop.

Auth: an API key (sent in the `X-Goog-Api-Key` header, never in the URL, so no log line can
carry it) or a service-account JSON file: we sign its JWT (RS256, `cryptography`, imported
only then) and trade it at the file's `token_uri` for an access token, cached until shortly
before it expires. LINEAR16 answers are WAV files (with a header) at the asked rate.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

from wirexa.config import Settings
from wirexa.media.tts.base import TELEPHONE_RATE, failed, pcm_from_wav, write_wav
from wirexa.media.tts.vendorhttp import VendorHttp
from wirexa.media.tts.voices import MALE, normalize_language

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
# default_voice() answers these when no voice is configured: Google then picks a voice of the
# gender for the language (voice.ssmlGender without voice.name).
GENDER_VOICES = ("FEMALE", "MALE")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class GoogleTts:
    name = "google"

    def __init__(
        self,
        *,
        api_key: str = "",
        service_account_file: str = "",
        endpoint_url: str = "https://texttospeech.googleapis.com",
        voice_woman: str = "",
        voice_man: str = "",
    ) -> None:
        self.endpoint_url = (endpoint_url or "https://texttospeech.googleapis.com").rstrip("/")
        self.service_account_file = service_account_file
        self.voice_woman = voice_woman
        self.voice_man = voice_man
        self._api_key = api_key
        self._token: tuple[str, float] | None = None  # (access token, refresh after: time.monotonic())
        self._http = VendorHttp((api_key,))

    @classmethod
    def from_settings(cls, s: Settings) -> GoogleTts:
        return cls(
            api_key=s.tts_google_api_key,
            service_account_file=s.tts_google_service_account_file,
            endpoint_url=s.tts_google_endpoint_url,
            voice_woman=s.tts_google_voice_woman,
            voice_man=s.tts_google_voice_man,
        )

    def configured(self) -> bool:
        return bool(self._api_key or self.service_account_file)

    def default_voice(self, gender: str, language: str) -> str:
        override = self.voice_man if gender == MALE else self.voice_woman
        return override or ("MALE" if gender == MALE else "FEMALE")

    async def render(self, text: str, voice: str, language: str, out: Path) -> None:
        body = {
            "input": {"text": text},
            "voice": self._voice(voice, language),
            "audioConfig": {"audioEncoding": "LINEAR16", "sampleRateHertz": TELEPHONE_RATE},
        }
        headers = {"Content-Type": "application/json; charset=utf-8", **await self._auth()}
        status, data = await self._http.request(
            "POST", f"{self.endpoint_url}/v1/text:synthesize", headers=headers, json_body=body
        )
        if status != 200:
            raise self._http.status_error(status, data, voice=voice)
        try:
            audio = base64.b64decode(json.loads(data)["audioContent"])
        except (ValueError, KeyError, TypeError) as exc:
            raise failed("answer has no audioContent") from exc
        write_wav(out, pcm_from_wav(audio), TELEPHONE_RATE)

    @staticmethod
    def _voice(voice: str, language: str) -> dict[str, str]:
        if voice.upper() in GENDER_VOICES:
            return {"languageCode": normalize_language(language), "ssmlGender": voice.upper()}
        parts = voice.split("-")
        # The name carries its language (en-US-Wavenet-F); Google wants the two to agree.
        lang = "-".join(parts[:2]) if len(parts) >= 3 else normalize_language(language)
        return {"languageCode": lang, "name": voice}

    async def _auth(self) -> dict[str, str]:
        if self._api_key:
            return {"X-Goog-Api-Key": self._api_key}
        return {"Authorization": f"Bearer {await self._access_token()}"}

    async def _access_token(self) -> str:
        if self._token is not None and time.monotonic() < self._token[1]:
            return self._token[0]
        try:
            info = json.loads(Path(self.service_account_file).read_text(encoding="utf-8"))
            email, key_pem = info["client_email"], info["private_key"]
            token_uri = info.get("token_uri") or "https://oauth2.googleapis.com/token"
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise failed(f"service account file unusable: {type(exc).__name__}") from exc
        self._http.secrets = (self._api_key, key_pem)
        now = int(time.time())
        claims = {"iss": email, "scope": SCOPE, "aud": token_uri, "iat": now, "exp": now + 3600}
        assertion = _sign_jwt(claims, key_pem)
        self._http.secrets = (self._api_key, key_pem, assertion)
        status, data = await self._http.request(
            "POST",
            token_uri,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            data=f"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}",
        )
        if status != 200:
            raise failed(f"service account token refused (HTTP {status})")
        try:
            doc = json.loads(data)
            token, expires_in = str(doc["access_token"]), float(doc.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as exc:
            raise failed("token answer has no access_token") from exc
        self._http.secrets = (self._api_key, key_pem, assertion, token)
        self._token = (token, time.monotonic() + max(expires_in - 60, 0))
        return token

    async def aclose(self) -> None:
        await self._http.aclose()


def _sign_jwt(claims: dict[str, Any], key_pem: str) -> str:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    try:
        key = serialization.load_pem_private_key(key_pem.encode("utf-8"), password=None)
    except (ValueError, TypeError) as exc:
        raise failed("service account private_key is not a PEM RSA key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise failed("service account private_key is not an RSA key")
    header = _b64url(json.dumps({"alg": "RS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{_b64url(signature)}"
