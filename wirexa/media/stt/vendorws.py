"""What the cloud recognizers share: one streamed session's plumbing, redaction, error helpers.

Theory of operation. A cloud Recognizing is a `StreamSession`: `feed` puts the caller's audio on
a queue and returns; one task (`run`, written by each vendor) connects, sends the audio as it
comes (`audio()`, sample-aligned chunks, each sent as soon as some audio is queued) and reads
the vendor's answers (partials to `on_partial`, finals kept) until the vendor ends the stream,
then returns the Recognition. `finish` ends the audio (a sentinel on the queue) and waits for
that task at most `timeout_s`; a task that failed raises its ProviderError there. `cancel`
cancels the task, whose `finally` closes the connection. Nothing here blocks the loop.

Every text that leaves a provider goes through `redact(secrets)`: vendors echo keys in their
error messages and presigned URLs carry signatures.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable

from wirexa.media.stt.base import (
    CODE_LANGUAGE,
    CODE_MODEL,
    CODE_PROVIDER,
    SAMPLE_BYTES,
    Partial,
    PartialCallback,
    ProviderError,
    Recognition,
)

log = logging.getLogger(__name__)

CHUNK_BYTES = 3200  # 200 ms at 8 kHz: the most one message carries (Transcribe wants 50-200 ms)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every non-trivial secret replaced by ****."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "****")
    return text


def failed(reason: str) -> ProviderError:
    return ProviderError(CODE_PROVIDER, reason)


def language_refused(reason: str) -> ProviderError:
    return ProviderError(CODE_LANGUAGE, reason)


def model_refused(model: str, provider: str) -> ProviderError:
    return ProviderError(CODE_MODEL, f"speechModel {model!r} is not served by {provider}")


class StreamSession:
    """One recognition streamed to a vendor. Loop-only. Subclasses write `run()`; `start()` is
    called by the provider's `open` once the connection is up (or, for a vendor whose errors only
    show later, at once)."""

    provider = ""

    def __init__(self, *, timeout_s: float, on_partial: PartialCallback | None, secrets: tuple[str, ...]) -> None:
        self.timeout_s = timeout_s
        self.on_partial = on_partial
        self.secrets = secrets
        self.notes: list[str] = []
        self.bytes_sent = 0
        self._audio: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._ended = False  # finish or cancel was called: feed drops audio
        self.cancelled = False  # cancel was called: the session is being dropped
        self._task: asyncio.Task[Recognition] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._guarded(), name=f"stt-{self.provider}")
        # A session dropped without finish/cancel must not log "exception never retrieved".
        self._task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def run(self) -> Recognition:
        raise NotImplementedError

    async def _guarded(self) -> Recognition:
        try:
            return await self.run()
        except ProviderError as exc:
            exc.reason = self.redact(exc.reason)
            exc.args = (exc.reason,)
            raise
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:  # a vendor answer we did not expect: a failure of this provider, logged
            log.warning("stt %s: unexpected failure", self.provider, exc_info=True)
            raise failed(self.redact(f"unexpected answer: {type(exc).__name__}: {exc}"[:300])) from exc

    def feed(self, pcm: bytes) -> None:
        if pcm and not self._ended:
            self._audio.put_nowait(bytes(pcm))

    async def audio(self, max_bytes: int = CHUNK_BYTES) -> AsyncIterator[bytes]:
        """What was fed, in whole samples of at most `max_bytes`, each as soon as some audio is
        queued (what queued meanwhile is sent together); ends when `finish` was called. A last odd
        byte (half a sample) is dropped."""
        carry = b""
        end = False
        while not end:
            item = await self._audio.get()
            pieces = [] if item is None else [item]
            end = item is None
            size = len(carry) + len(item or b"")
            while not end and size < max_bytes and not self._audio.empty():
                nxt = self._audio.get_nowait()
                if nxt is None:
                    end = True
                else:
                    pieces.append(nxt)
                    size += len(nxt)
            data = carry + b"".join(pieces)
            whole = len(data) - len(data) % SAMPLE_BYTES
            data, carry = data[:whole], data[whole:]
            for i in range(0, len(data), max_bytes):
                chunk = data[i : i + max_bytes]
                self.bytes_sent += len(chunk)
                yield chunk

    def partial(self, text: str, stable: str = "") -> None:
        if self.on_partial is not None and text:
            self.on_partial(Partial(text=text, stable=stable))

    async def finish(self) -> Recognition:
        if self._task is None:
            raise failed("the session was not started")
        if not self._ended:
            self._ended = True
            self._audio.put_nowait(None)
        try:
            # wait_for cancels the task on timeout and when finish itself is cancelled (the
            # chain's own timeout): its finally closes the connection either way.
            return await asyncio.wait_for(self._task, self.timeout_s)
        except TimeoutError:
            raise failed(f"no result within {self.timeout_s:g} s of the end of speech") from None
        except asyncio.CancelledError:
            if self._task.cancelled() and not _current_cancelling():
                raise failed("the session was cancelled") from None
            raise

    async def cancel(self) -> None:
        self._ended = True
        self.cancelled = True
        if self._task is None:
            return
        self._task.cancel()
        try:
            await self._task
        except BaseException as exc:  # noqa: BLE001 - cancel never raises (but passes on our own cancellation)
            if isinstance(exc, asyncio.CancelledError) and _current_cancelling():
                raise

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)


def _current_cancelling() -> int:
    task = asyncio.current_task()
    return task.cancelling() if task is not None else 0


def join(parts: Iterable[str]) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


def mean(values: Iterable[float]) -> float | None:
    got = [v for v in values if v > 0]
    return round(sum(got) / len(got), 4) if got else None
