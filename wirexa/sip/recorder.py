"""A media worker's recordings: the recorders of one recording and the files being closed.

How a recording is wired (its tracks, pause, the time-keeping silence) is the media graph's
business (mediagraph.py); this module owns the pjmedia recorders, a <Record>'s limits and the
moment a finished file is complete enough to report. Main thread only."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pjsua2 as pj

from wirexa.media.audio import wav_header_complete
from wirexa.sip import protocol as proto

CLOSE_WAIT_S = 2.0  # report a finished recording after this long even if its header never completed


def file_complete(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            header = f.read(12)
        return wav_header_complete(header, os.path.getsize(path))
    except OSError:
        return False


@dataclass
class Recording:
    """One running recording of a call. A <Record> (not `whole`) has limits: `max_s`,
    `silence_s` since `last_sound`, the finish `keys`; a call recording (`whole`) has none."""

    rec_id: str
    path: str
    recorder: Any  # its AudioMediaRecorder (the graph's recorder node)
    started: float
    max_s: float
    silence_s: float
    keys: str
    last_sound: float
    whole: bool = False
    out: Any = None  # the outbound track's recorder (dual channel; the graph's recorder_out node)
    out_path: str = ""
    paused: str = ""  # "" | "skip" | "silence"
    paused_at: float = 0.0
    skipped_s: float = 0.0  # paused time left out of the file (skip)

    def duration_ms(self, now: float) -> int:
        skipped = self.skipped_s + (now - self.paused_at if self.paused == "skip" else 0.0)
        return int((now - self.started - skipped) * 1000)


def open_recorders(cmd: proto.Record, bury: Callable[[Any], None]) -> tuple[Any, Any]:
    """The recorder (and for dual channel, the outbound one) of a record command, their files
    created. Raises OSError or pj.Error, after burying whatever it had made."""
    recorder = out = None
    try:
        os.makedirs(os.path.dirname(cmd.path) or ".", exist_ok=True)
        recorder = pj.AudioMediaRecorder()
        recorder.createRecorder(cmd.path)
        if cmd.out_path:
            out = pj.AudioMediaRecorder()
            out.createRecorder(cmd.out_path)
    except (OSError, pj.Error):
        bury(recorder)
        bury(out)
        raise
    return recorder, out


class Closing:
    """Recordings whose recorders were dropped. Dropping a recorder removes its port from the
    bridge; pjmedia does that on the clock thread a moment later and only then writes the final
    WAV header. The event goes out once every file is complete (or CLOSE_WAIT_S has passed), so
    the engine never reads half a file."""

    def __init__(self) -> None:
        self.pending: list[tuple[float, tuple[str, ...], proto.RecordDone]] = []

    def add(self, now: float, paths: tuple[str, ...], event: proto.RecordDone) -> None:
        self.pending.append((now + CLOSE_WAIT_S, paths, event))

    def due(self) -> list[float]:
        return [d for d, _, _ in self.pending]

    def ready(self, now: float) -> list[proto.RecordDone]:
        """The events of the recordings now complete (or out of time), in the order they finished."""
        done, pending = [], []
        for deadline, paths, event in self.pending:
            if all(file_complete(p) for p in paths) or now >= deadline:
                done.append(event)
            else:
                pending.append((deadline, paths, event))
        self.pending = pending
        return done
