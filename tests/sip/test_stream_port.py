"""The worker's StreamPort on its own (no Endpoint, no bridge): the frames it hands the clock
thread carry every byte of the growing file once, in order, whole samples only, then silence."""

from __future__ import annotations

from pathlib import Path

import pjsua2 as pj

from wirexa.sip.endpoint import frame_bytes
from wirexa.sip.ports import StreamPort

DATA = bytes(range(1, 256)) * 160  # no zero byte: the padding (silence) is told apart from the data


def frames(port: StreamPort, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        frame = pj.MediaFrame()
        port.onFrameRequested(frame)
        assert frame.size == StreamPort.FRAME and frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO
        out.append(frame_bytes(frame.buf))
    return out


def test_every_byte_once_in_order_across_refills_and_underruns(tmp_path: Path) -> None:
    path = tmp_path / "s.pcm"
    path.write_bytes(DATA[:1001])  # an odd size: the last byte waits for its sample's other half
    woke: list[int] = []
    port = StreamPort(str(path), lambda: woke.append(1))
    try:
        got = frames(port, 5)  # 3 frames of data, then 40 bytes, then an underrun (silence)
        assert got[3] == DATA[960:1000] + bytes(280) and got[4] == bytes(320)
        for size in (9000, 20_001, len(DATA)):  # pieces larger and smaller than the 8 kB reads
            with path.open("ab") as f:
                f.write(DATA[path.stat().st_size : size])
            got += frames(port, 40)
        port.total = len(DATA)
        got += frames(port, len(DATA) // 320 + 5)
    finally:
        port.close()
    assert port.finished and woke == [1]  # the end woke the main thread once
    played = b"".join(got)
    assert played.replace(b"\0", b"") == DATA  # nothing skipped, nothing repeated
    assert played.endswith(bytes(320 * 4))  # silence after the end
