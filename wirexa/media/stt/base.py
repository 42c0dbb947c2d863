"""PURE: the speech-to-text contract: what a recognizer is asked, what it answers, and its error.

Theory of operation. Audio is 8 kHz, 16-bit little-endian, mono PCM (no header): what the SIP
worker's tap on the caller gives, and what a G.711 call carries. A recognition is a session:
`SttProvider.open(options, on_partial)` returns a Recognizing; the engine `feed`s it the
caller's audio as it arrives (from the start of speech, with a short pre-roll) and calls
`finish()` when the endpointer says the utterance ended, and gets one Recognition. A provider
that streams (Google, Amazon, Deepgram, pocketsphinx) sends audio to its vendor or decoder while
the caller speaks, so `finish` only waits for the last words; one that cannot (Azure's REST for
short audio) sends the whole utterance at `finish`. Partial transcripts, when the vendor gives
them, go to `on_partial` (a loop callback) while audio is fed.

`recognize(pcm, options)` is the whole-file form (transcriptions, `wirexa stt test`): open, feed
everything, finish.

Failures. A provider that cannot recognize (not configured, refused credentials, vendor error,
timeout, a language or model it does not know) raises ProviderError with a Twilio code and a
reason that never holds a credential. Codes: 13331 (language), 13334 (speech model), and 13343
"Gather: Invalid config for speech provider" for everything else (Twilio has no code for a
vendor that is down; 13343 is the one its customers see when the provider could not be used).
The chain (chain.py) turns each into a Fallback and tries the next provider with the audio it
buffered, as the TTS chain does.

Loop-only: every method is called on the engine's asyncio loop; a provider that decodes on the
CPU (pocketsphinx) does it on a worker thread and never blocks the loop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol

from wirexa.errors import WirexaError
from wirexa.notices import Notice

SAMPLE_RATE = 8000
SAMPLE_BYTES = 2

CODE_LANGUAGE = Notice.GATHER_INVALID_LANGUAGE
CODE_MODEL = Notice.GATHER_INVALID_MODEL
CODE_PROVIDER = Notice.GATHER_SPEECH_PROVIDER

# Twilio's speechModel values (reference/twilio-voice-next.md §5); each provider maps the ones it
# can serve to its own model names and raises ProviderError(CODE_MODEL) for the others.
SPEECH_MODELS = (
    "default",
    "numbers_and_commands",
    "phone_call",
    "experimental_conversations",
    "experimental_utterances",
    "googlev2_long",
    "googlev2_short",
    "googlev2_telephony",
    "googlev2_telephony_short",
    "deepgram_nova-2",
    "deepgram_nova-3",
)


@dataclasses.dataclass(frozen=True, slots=True)
class SpeechOptions:
    """What the <Gather> (or the transcription) asks for.

    `hints` are the caller's likely words and phrases (Twilio's comma-separated list, split and
    stripped); Google class tokens (`$OOV_CLASS_DIGIT_SEQUENCE`, ...) are kept as given.
    `model` is one of SPEECH_MODELS. `profanity_filter` masks all but a profane word's first
    letter (`f***`). `enhanced` is Twilio's deprecated flag (Google's phone_call model only).
    `provider` names the provider to try first ("" = the configured order)."""

    language: str = "en-US"
    hints: tuple[str, ...] = ()
    model: str = "default"
    profanity_filter: bool = True
    enhanced: bool = False
    provider: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Partial:
    """An interim transcript: `text` the whole hypothesis so far (may still change), `stable` its
    prefix the vendor will not change any more ("" when the vendor does not say)."""

    text: str
    stable: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Fallback:
    """One provider passed the audio on: Twilio `code` and a credential-free `reason`."""

    provider: str
    code: int
    reason: str

    @property
    def message(self) -> str:
        return f"Gather: speech provider {self.provider} could not recognize the speech ({self.reason}); used the next provider"


@dataclasses.dataclass(frozen=True, slots=True)
class Recognition:
    """The result: `text` "" when nothing was understood; `confidence` 0.0-1.0 or None when the
    provider gives none; `provider` that produced it; `fallbacks` the providers passed over; `notes`
    what the provider could not honour of the options (e.g. hints a vendor has no per-request form
    for), each a sentence the engine posts as a warning notification (13343) on the call."""

    text: str
    confidence: float | None
    provider: str
    fallbacks: tuple[Fallback, ...] = ()
    notes: tuple[str, ...] = ()


PartialCallback = Callable[[Partial], None]


class ProviderError(WirexaError):
    """One provider could not recognize; `code` is CODE_LANGUAGE, CODE_MODEL or CODE_PROVIDER."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Recognizing(Protocol):
    """One recognition in progress. Loop-only.

    `feed(pcm)` queues audio (any length, even an odd byte count) and never blocks; it may be
    called until `finish`. `finish()` returns the Recognition of everything fed, or raises
    ProviderError. `cancel()` drops the session (the caller hung up, a key won); idempotent,
    never raises."""

    def feed(self, pcm: bytes) -> None: ...

    async def finish(self) -> Recognition: ...

    async def cancel(self) -> None: ...


class SttProvider(Protocol):
    """One recognizer. `configured()` says whether the settings hold what it needs; the chain
    never opens an unconfigured provider. `open` may raise ProviderError (a model or language
    it cannot serve, a vendor that refused the connection). `aclose` releases sessions."""

    name: str

    def configured(self) -> bool: ...

    async def open(self, options: SpeechOptions, on_partial: PartialCallback | None) -> Recognizing: ...

    async def aclose(self) -> None: ...
