"""A <Gather input="speech">'s recognition: the caller's audio, the endpointer, the STT chain.

Theory of operation. The interpreter's StartListening makes one SpeechListener for the call's
session. It asks the call's SIP worker to `listen`: the worker taps the caller's audio (the
track AMD taps) and sends it back in 100 ms AudioHeard events, each with webrtcvad's verdict on
its 20 ms frames. The listener (session loop only, like everything here) feeds the frames to the
Endpointer (media/stt/endpoint.py):
- the frame speech starts on: SpeechStarted goes to the interpreter (speech barges into the
  prompts, the <Gather>'s timeout stops) and the recognizer is opened (the STT chain: the
  first configured provider, falling back to the next with the audio so far, pocketsphinx
  last); the pre-roll and every frame after it are fed to it while the caller speaks, so a
  streaming provider has heard nearly everything by the end;
- the frame it ends on (speechTimeout's silence, or maxSpeechTime): the worker stops
  listening and `finish()` gives the Recognition; SpeechRecognized carries its text and
  confidence to the interpreter. The providers it passed over (Fallback) and what a provider
  could not honour (notes) are warnings on the call; a chain that could not recognize at all
  is a 13343 error notification and an empty result (no input).
Partial results (partialResultCallback) go through the webhook outbox as they come, with the
call's parameters and UnstableSpeechResult, StableSpeechResult and SequenceNumber (1, 2, ...).
`stop()` (StopGather, StopListening, the call's end) stops the worker's tap and drops the
recognition; nothing is delivered after it. A listen the worker could not start (its
CommandFailed) is reported as an empty result, so keys and the timeout go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from wirexa.calls.ports import AudioHeard, CallSid, SipPort, SttPort
from wirexa.laml import events as E
from wirexa.laml.verbs import Speech
from wirexa.media.stt.base import CODE_PROVIDER, Partial, ProviderError, Recognition, SpeechOptions
from wirexa.media.stt.endpoint import AUTO_END_MS, Endpointer, frames

log = logging.getLogger(__name__)

Notify = Callable[[int, str, int], Awaitable[None]]  # (code, message, log level 0 error / 1 warning)
PostPartial = Callable[[str, str, list[tuple[str, str]]], Awaitable[None]]  # (url, method, extra params)


def options_of(speech: Speech) -> SpeechOptions:
    """The recognizer's options for a <Gather>'s speech attributes."""
    return SpeechOptions(
        language=speech.language,
        hints=speech.hints,
        model=speech.model,
        profanity_filter=speech.profanity_filter,
        enhanced=speech.enhanced,
    )


class SpeechListener:
    """One StartListening of one call. Session loop only."""

    def __init__(
        self,
        call_sid: str,
        listen_op: int,
        speech: Speech,
        partial_url: str | None,
        *,
        sip: SipPort,
        stt: SttPort,
        deliver: Callable[[E.Event], None],
        notify: Notify,
        post_partial: PostPartial,
    ) -> None:
        self.call_sid = call_sid
        self.listen_op = listen_op
        self.listen_id = str(listen_op)
        self.speech = speech
        self.partial_url = partial_url
        self.sip, self.stt = sip, stt
        self.deliver, self.notify, self.post_partial = deliver, notify, post_partial
        end_ms = AUTO_END_MS if speech.speech_timeout_s is None else speech.speech_timeout_s * 1000
        self.endpointer = Endpointer(end_ms, speech.max_speech_time_s * 1000)
        self._carry = b""
        self._listening = False
        self._stopped = False
        self._audio: list[bytes] = []  # fed before the recognizer is open
        self._recognizing: asyncio.Task[None] | None = None
        self._feed: Callable[[bytes], None] | None = None  # the open recognizer's
        self._ended = asyncio.Event()  # the utterance ended (or the listen stopped)
        self._partials = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._listening = True
        await self.sip.listen(CallSid(self.call_sid), self.listen_id)

    async def stop(self) -> None:
        """Stop listening and drop the recognition (idempotent); nothing is delivered after."""
        if self._stopped:
            return
        self._stopped = True
        await self._unlisten()
        for task in list(self._tasks):
            task.cancel()
        if self._recognizing is not None:
            self._recognizing.cancel()

    def failed(self, message: str) -> None:
        """The worker could not tap the call: no speech will be heard (keys and the timeout go on)."""
        self._listening = False
        if not self._stopped:
            self._stopped = True
            self._spawn(self._fail(message))

    async def heard(self, event: AudioHeard) -> None:
        if self._stopped or self.endpointer.state == "ended":
            return
        chunk, self._carry = frames(event.pcm, self._carry)
        voiced = event.voiced
        for i, frame in enumerate(chunk):
            step = self.endpointer.feed(frame, voiced[i] if i < len(voiced) else False)
            if step.started:
                self.deliver(E.SpeechStarted(self.listen_op))
                self._recognizing = asyncio.get_running_loop().create_task(self._recognize())
            if step.audio:
                self._audio.append(step.audio)
            if step.ended:
                log.info("[%s] speech ended (%s)", self.call_sid, step.reason)
                await self._unlisten()
                break
        if self._audio and self._feed is not None:
            self._flush()

    # --- the recognition ------------------------------------------------------------------------

    def _flush(self) -> None:
        assert self._feed is not None
        for audio in self._audio:
            self._feed(audio)
        self._audio.clear()

    async def _recognize(self) -> None:
        """Open the recognizer at the start of speech, feed it while the caller speaks (heard()
        feeds directly once it is open), finish at the end, deliver the result."""
        try:
            session = await self.stt.open(options_of(self.speech), self._on_partial if self.partial_url else None)
        except ProviderError as exc:
            await self._fail(exc.reason)
            return
        try:
            self._feed = session.feed
            self._flush()
            await self._ended.wait()
            self._flush()
            result = await session.finish()
        except ProviderError as exc:
            await self._fail(exc.reason)
            return
        except asyncio.CancelledError:
            await session.cancel()
            raise
        await self._report(result)
        if not self._stopped:
            self.deliver(E.SpeechRecognized(self.listen_op, result.text, result.confidence))

    async def _report(self, result: Recognition) -> None:
        for fallback in result.fallbacks:
            await self.notify(fallback.code, fallback.message, 1)
        for note in result.notes:
            await self.notify(CODE_PROVIDER, f"Gather: {note}", 1)

    async def _fail(self, reason: str) -> None:
        await self.notify(CODE_PROVIDER, f"Gather: the speech could not be recognized ({reason})", 0)
        self.deliver(E.SpeechRecognized(self.listen_op, "", None))

    def _on_partial(self, partial: Partial) -> None:
        if self._stopped or self.partial_url is None:
            return
        self._partials += 1
        extra = [
            ("UnstableSpeechResult", partial.text),
            ("StableSpeechResult", partial.stable),
            ("SequenceNumber", str(self._partials)),
        ]
        self._spawn(self.post_partial(self.partial_url, self.speech.partial_result_callback_method, extra))

    async def _unlisten(self) -> None:
        self._ended.set()
        if self._listening:
            self._listening = False
            with contextlib.suppress(Exception):  # the call is gone: its worker stopped the tap
                await self.sip.unlisten(CallSid(self.call_sid), self.listen_id)

    def _spawn(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:  # noqa: BLE001 - a partial's post must not break the call
                log.exception("[%s] speech listener task failed", self.call_sid)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
