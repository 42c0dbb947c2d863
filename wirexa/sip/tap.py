"""Taps: consumers of a call's audio whose work runs off the conference bridge's clock thread.

Theory of operation. A tap is attached to a track of a call (the media graph wires a TapPort,
ports.py, to the call's inbound track, outbound track, or both). Three threads touch it:
- the clock thread (the null sound device's, shared by every call of the worker) calls
  `push(pcm)` once per block of frames: it appends the bytes to a bounded deque (the oldest
  block is dropped, and counted, when the tap's thread has fallen QUEUE_BLOCKS behind) and sets
  the TapThread's event when it is not already set. Nothing else: no VAD, no classifier, no
  lock of ours (deque.append and popleft are atomic);
- the worker's one TapThread waits on that event, drains every tap's deque in order and feeds
  each block to the tap's `feed` (e.g. AmdTap.feed_block: webrtcvad and the classifier). The
  first result it returns is the tap's result: the tap closes (push drops everything from then
  on) and the thread wakes the main thread (the wake packet, CommandLoop.wake);
- the main thread creates and removes taps, and reads `result` in its tick (an attribute
  written once by the TapThread, read after the wake).
A user is a `feed` callable handed to Worker.start_tap (AMD's is AmdTap.feed_block); streams and
speech plug in the same way, without a change to the worker's core.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

R = TypeVar("R")

QUEUE_BLOCKS = 50  # 5 s of 100 ms blocks: a tap thread that far behind is stuck; drop the oldest


class Tap(Generic[R]):
    """One consumer of one call's audio. `feed(pcm)` (TapThread only) returns a result once,
    else None; `result` holds it for the main thread. `dropped` counts blocks lost to a full
    queue (clock thread writes, anyone may read)."""

    def __init__(self, call_sid: str, name: str, feed: Callable[[bytes], R | None], limit: int = QUEUE_BLOCKS) -> None:
        self.call_sid = call_sid
        self.name = name
        self.feed = feed
        self.blocks: deque[bytes] = deque(maxlen=limit)
        self.dropped = 0
        self.result: R | None = None
        self.closed = False
        self._signal: Callable[[], None] = lambda: None

    def push(self, pcm: bytes) -> None:
        """Clock thread: queue one block (copy only) and signal the tap thread."""
        if self.closed:
            return
        blocks = self.blocks
        if len(blocks) == blocks.maxlen:
            self.dropped += 1
        blocks.append(pcm)
        self._signal()

    def drain(self) -> bool:
        """TapThread: feed every queued block in order; True when this drain produced the result."""
        while not self.closed:
            try:
                pcm = self.blocks.popleft()
            except IndexError:
                return False
            result = self.feed(pcm)
            if result is not None:
                self.result = result
                self.closed = True
                self.blocks.clear()
                return True
        return False


class TapThread:
    """The worker's one thread for its taps' work (started on the first tap). `wake` tells the
    main thread a result is ready. add/remove/stop: main thread."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self.wake = wake
        self.taps: list[Tap[object]] = []
        self._event = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def add(self, tap: Tap[R]) -> None:
        event = self._event

        def signal() -> None:
            if not event.is_set():
                event.set()

        tap._signal = signal
        self.taps = [*self.taps, tap]  # type: ignore[list-item]  # a new list: the thread iterates a snapshot
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="taps", daemon=True)
            self._thread.start()

    def remove(self, tap: Tap[R]) -> None:
        tap.closed = True
        self.taps = [t for t in self.taps if t is not tap]

    def stop(self) -> None:
        """Stop the thread (sentinel: the stopping flag and a last set) and join it."""
        self._stopping = True
        self._event.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def _run(self) -> None:
        while True:
            self._event.wait()
            self._event.clear()
            if self._stopping:
                return
            decided = False
            for tap in self.taps:
                try:
                    decided |= tap.drain()
                except Exception:  # noqa: BLE001 - one tap's failure must not stop the others
                    log.exception("[%s] tap %s failed", tap.call_sid, tap.name)
                    tap.closed = True
            if decided:
                self.wake()
