"""The endpointer (media/stt/endpoint.py): when speech starts (enough voiced frames within the
window; the pre-roll comes with it), when it ends (the pause, or the length cap), and that the
answer does not depend on how the audio was cut into blocks."""

from __future__ import annotations

import pytest

from wirexa.media.stt.endpoint import FRAME_BYTES, Endpointer, frames


def run(pattern: str, end_ms: int = 700, max_ms: int = 60_000) -> list[tuple[int, str]]:
    ep = Endpointer(end_ms, max_ms)
    marks = []
    for i, flag in enumerate(pattern):
        step = ep.feed(bytes([i % 250]) * FRAME_BYTES, flag == "1")
        if step.started:
            marks.append((i, f"start+{len(step.audio) // FRAME_BYTES}"))
        if step.ended:
            marks.append((i, str(step.reason)))
    return marks


def test_start_needs_120_ms_of_voice_within_200_ms_and_brings_the_preroll() -> None:
    assert run("0" * 30 + "101010" + "0" * 40) == []  # scattered clicks: 60 ms of voice
    assert run("0" * 30 + "111111" + "0" * 40) == [(35, "start+20"), (70, "silence")]
    assert run("11111100") == [(5, "start+6")]  # the pre-roll is what there was


def test_the_pause_and_the_cap_end_it() -> None:
    assert run("1" * 10 + "0" * 49, end_ms=1000) == [(5, "start+6")]
    assert run("1" * 10 + "0" * 50, end_ms=1000)[-1] == (59, "silence")
    assert run("1" * 80, max_ms=1000)[-1] == (49, "max-speech")
    assert run("1" * 10 + "0" * 40 + "1" * 5 + "0" * 40, end_ms=1000) == [(5, "start+6")]  # a breath is not the end


def test_blocks_of_any_size_are_cut_into_the_same_frames() -> None:
    pcm = bytes(range(256)) * 10
    whole, rest = frames(pcm)
    pieces: list[bytes] = []
    carry = b""
    for i in range(0, len(pcm), 333):
        got, carry = frames(pcm[i : i + 333], carry)
        pieces += got
    assert pieces == whole and carry == rest and len(rest) == len(pcm) % FRAME_BYTES


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        Endpointer(0)
