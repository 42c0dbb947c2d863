"""The pure Media Streams pieces: G.711, the Twilio -> server messages, the server's messages, Playout."""

from __future__ import annotations

import base64
import json
import struct
import threading

import pytest

from wirexa.media.audio import tone_pcm
from wirexa.media.streams import (
    FRAME_BYTES,
    MAX_BUFFER_S,
    Encoder,
    Playout,
    ProtocolError,
    ServerClear,
    ServerMark,
    ServerMedia,
    parse_server_message,
    pcm_to_ulaw,
    ulaw_to_pcm,
)

SID = "MZ" + "a" * 32
ACCOUNT = "AC" + "b" * 32
CALL = "CA" + "c" * 32


def samples(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}h", *values)


# G.711 -----------------------------------------------------------------------------------------


def test_g711_known_values() -> None:
    # Silence is 0xFF; full scale is 0x80 (positive) and 0x00 (negative), as ITU-T G.711 tables.
    assert pcm_to_ulaw(samples(0, 1, 32767, -32768)) == bytes([0xFF, 0xFF, 0x80, 0x00])
    assert ulaw_to_pcm(bytes([0xFF, 0x7F, 0x80, 0x00])) == samples(0, 0, 32124, -32124)
    assert len(pcm_to_ulaw(bytes(FRAME_BYTES))) == 160


def test_g711_round_trip_is_stable() -> None:
    every_code = bytes(range(256))
    pcm = ulaw_to_pcm(every_code)
    # Each code decodes to a value that encodes back to itself (0x7F and 0xFF both mean zero).
    assert pcm_to_ulaw(pcm) == every_code.replace(b"\x7f", b"\xff")
    tone = tone_pcm(440, 100)
    decoded = struct.unpack("<800h", ulaw_to_pcm(pcm_to_ulaw(tone)))
    original = struct.unpack("<800h", tone)
    assert max(abs(a - b) for a, b in zip(decoded, original, strict=True)) <= 512  # G.711's coarsest step


# Encoder ---------------------------------------------------------------------------------------


def encoder(tracks: tuple[str, ...] = ("inbound",)) -> Encoder:
    return Encoder(SID, ACCOUNT, CALL, tracks, (("FirstName", "Jane"), ("LastName", "Doe")))


def test_connected_and_start_shapes() -> None:
    enc = encoder(("inbound", "outbound"))
    assert json.loads(enc.connected()) == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    start = json.loads(enc.start())
    assert start == {
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": ACCOUNT,
            "streamSid": SID,
            "callSid": CALL,
            "tracks": ["inbound", "outbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"FirstName": "Jane", "LastName": "Doe"},
        },
        "streamSid": SID,
    }
    assert list(start) == ["event", "sequenceNumber", "start", "streamSid"]
    assert list(start["start"]) == [
        "accountSid",
        "streamSid",
        "callSid",
        "tracks",
        "mediaFormat",
        "customParameters",
    ]


def test_media_shape_chunks_and_timestamps() -> None:
    enc = encoder(("inbound", "outbound"))
    enc.start()
    tone = tone_pcm(1000, 20)
    first = json.loads(enc.media("inbound", tone))
    assert first == {
        "event": "media",
        "sequenceNumber": "2",
        "media": {
            "track": "inbound",
            "chunk": "1",
            "timestamp": "0",
            "payload": base64.b64encode(pcm_to_ulaw(tone)).decode(),
        },
        "streamSid": SID,
    }
    assert list(first) == ["event", "sequenceNumber", "media", "streamSid"]
    assert list(first["media"]) == ["track", "chunk", "timestamp", "payload"]
    assert ulaw_to_pcm(base64.b64decode(first["media"]["payload"])) == ulaw_to_pcm(pcm_to_ulaw(tone))
    second = json.loads(enc.media("inbound", tone))
    out = json.loads(enc.media("outbound", tone))
    late = json.loads(enc.media("inbound", tone, timestamp_ms=1234))
    assert [m["sequenceNumber"] for m in (second, out, late)] == ["3", "4", "5"]
    assert (second["media"]["chunk"], second["media"]["timestamp"]) == ("2", "20")
    assert (out["media"]["track"], out["media"]["chunk"], out["media"]["timestamp"]) == ("outbound", "1", "0")
    assert (late["media"]["chunk"], late["media"]["timestamp"]) == ("3", "1234")


def test_media_of_a_track_the_stream_lacks_is_a_bug() -> None:
    with pytest.raises(KeyError):
        encoder(("inbound",)).media("outbound", bytes(FRAME_BYTES))
    with pytest.raises(ValueError):
        Encoder(SID, ACCOUNT, CALL, ("inbound_track",), ())


def test_dtmf_mark_stop_shapes_and_sequence() -> None:
    enc = encoder()
    assert enc.connected() and json.loads(enc.start())["sequenceNumber"] == "1"
    dtmf = json.loads(enc.dtmf("5"))
    assert dtmf == {
        "event": "dtmf",
        "streamSid": SID,
        "sequenceNumber": "2",
        "dtmf": {"track": "inbound_track", "digit": "5"},
    }
    assert list(dtmf) == ["event", "streamSid", "sequenceNumber", "dtmf"]
    mark = json.loads(enc.mark('my "label" \\ é'))
    assert mark == {"event": "mark", "sequenceNumber": "3", "streamSid": SID, "mark": {"name": 'my "label" \\ é'}}
    assert list(mark) == ["event", "sequenceNumber", "streamSid", "mark"]
    stop = json.loads(enc.stop())
    assert stop == {
        "event": "stop",
        "sequenceNumber": "4",
        "stop": {"accountSid": ACCOUNT, "callSid": CALL},
        "streamSid": SID,
    }
    assert list(stop) == ["event", "sequenceNumber", "stop", "streamSid"]


def test_a_stream_sid_needing_escapes_stays_valid_json() -> None:
    enc = Encoder('MZ"%s\\', ACCOUNT, CALL, ("inbound",), ())
    assert json.loads(enc.media("inbound", bytes(FRAME_BYTES)))["streamSid"] == 'MZ"%s\\'
    assert json.loads(enc.dtmf("#"))["streamSid"] == 'MZ"%s\\'


# parse_server_message --------------------------------------------------------------------------


def media_text(payload: object, **extra: object) -> str:
    return json.dumps({"event": "media", "media": {"payload": payload}, **extra})


def test_valid_server_messages() -> None:
    ulaw = pcm_to_ulaw(tone_pcm(440, 35))  # any size, not a whole frame
    b64 = base64.b64encode(ulaw).decode()
    assert parse_server_message(media_text(b64, streamSid=SID), SID) == ServerMedia(ulaw_to_pcm(ulaw))
    assert parse_server_message(media_text(b64).encode(), SID) == ServerMedia(ulaw_to_pcm(ulaw))
    assert parse_server_message(media_text(""), SID) == ServerMedia(b"")
    mark = {"event": "mark", "streamSid": SID, "mark": {"name": "end of turn"}}
    assert parse_server_message(json.dumps(mark), SID) == ServerMark("end of turn")
    assert parse_server_message(json.dumps({"event": "clear", "streamSid": SID}), SID) == ServerClear()
    assert parse_server_message('{"event":"clear"}', SID) == ServerClear()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('"media"', "not a JSON object"),
        ('{"event":"clear","streamSid":"MZother"}', "MZother"),
        ('{"event":"clear","streamSid":null}', "None"),
        ('{"event":"start"}', "'start'"),
        ('{"media":{"payload":""}}', "None"),
        ('{"event":"media"}', "media.payload"),
        ('{"event":"media","media":"AAAA"}', "media.payload"),
        ('{"event":"media","media":{"payload":5}}', "media.payload"),
        ('{"event":"media","media":{"payload":"!!not base64!!"}}', "not base64"),
        ('{"event":"media","media":{"payload":"AAA"}}', "not base64"),
        ('{"event":"media","media":{"payload":"AA AA"}}', "not base64"),
        ('{"event":"media","media":{"payload":"ÿÿÿÿ"}}', "not base64"),
        (media_text(base64.b64encode(b"RIFF\x24\x00\x00\x00WAVEfmt ").decode()), "header"),
        (media_text(base64.b64encode(b".snd\x00\x00\x00\x18").decode()), "header"),
        ('{"event":"mark"}', "mark.name"),
        ('{"event":"mark","mark":{}}', "mark.name"),
        ('{"event":"mark","mark":{"name":7}}', "mark.name"),
        ('{"event":"mark","mark":"x"}', "mark.name"),
    ],
)
def test_protocol_errors(text: str | bytes, says: str) -> None:
    parsed = parse_server_message(text, SID)
    assert isinstance(parsed, ProtocolError)
    assert says in parsed.message


# Playout ---------------------------------------------------------------------------------------


def frames(n: int, start: int = 1) -> list[bytes]:
    """n distinct 20 ms frames (each filled with its own sample value)."""
    return [samples(*([start + i] * (FRAME_BYTES // 2))) for i in range(n)]


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def test_empty_playout() -> None:
    p = Playout()
    assert p.take_frame() is None and p.buffered_ms == 0 and p.done_marks() == [] and p.clear() == []


def test_audio_comes_out_in_order_whatever_the_chunking() -> None:
    p = Playout()
    audio = b"".join(frames(5))
    # chunks of 1000, 2, 320 and the rest (598) bytes: not frame-aligned
    for piece in (audio[:1000], audio[1000:1002], audio[1002:1322], audio[1322:]):
        assert p.add_audio(piece)
    assert p.buffered_ms == 100
    out = [p.take_frame() for _ in range(5)]
    assert b"".join(f for f in out if f is not None) == audio
    assert p.take_frame() is None and p.buffered_ms == 0


def test_a_short_tail_is_padded_with_silence() -> None:
    p = Playout()
    p.add_audio(b"\x01\x02" * 50)  # 100 bytes
    assert p.take_frame() == b"\x01\x02" * 50 + bytes(FRAME_BYTES - 100)
    assert p.take_frame() is None


def test_a_mark_with_nothing_buffered_is_done_at_once() -> None:
    notify = Counter()
    p = Playout(notify)
    p.add_mark("a")
    assert notify.calls == 1
    assert p.done_marks() == ["a"] and p.done_marks() == []


def test_a_mark_after_audio_is_done_when_that_audio_is_handed_out() -> None:
    notify = Counter()
    p = Playout(notify)
    f = frames(3)
    p.add_audio(f[0] + f[1][:100])
    p.add_mark("one")
    p.add_audio(f[1][100:] + f[2])
    p.add_mark("two")
    p.add_mark("three")
    assert notify.calls == 0 and p.done_marks() == []
    assert p.take_frame() == f[0]
    assert p.done_marks() == [] and notify.calls == 0
    assert p.take_frame() == f[1]  # hands out the 100 bytes before "one"
    assert notify.calls == 1 and p.done_marks() == ["one"]
    assert p.take_frame() == f[2]
    assert notify.calls == 2 and p.done_marks() == ["two", "three"]
    p.add_mark("four")  # nothing buffered again
    assert notify.calls == 3 and p.done_marks() == ["four"]


def test_clear_drops_the_audio_and_returns_every_mark_in_order() -> None:
    notify = Counter()
    p = Playout(notify)
    f = frames(4)
    p.add_audio(f[0])
    p.add_mark("a")
    p.add_audio(f[1] + f[2])
    p.add_mark("b")
    p.add_audio(f[3])
    p.add_mark("c")
    assert p.take_frame() == f[0]  # "a" is done but not yet drained
    assert p.clear() == ["a", "b", "c"]
    assert p.take_frame() is None and p.buffered_ms == 0 and p.done_marks() == []
    # After a clear the buffer works as new.
    p.add_audio(f[3])
    p.add_mark("d")
    assert p.take_frame() == f[3] and p.done_marks() == ["d"]


def test_the_ten_minute_limit() -> None:
    p = Playout()
    minute = bytes(60 * 16000)
    for _ in range(MAX_BUFFER_S // 60):
        assert p.add_audio(minute)
    assert p.buffered_ms == MAX_BUFFER_S * 1000
    assert not p.add_audio(b"\x00\x00")  # one sample more is dropped
    assert p.buffered_ms == MAX_BUFFER_S * 1000
    assert p.take_frame() == bytes(FRAME_BYTES)
    assert p.add_audio(bytes(FRAME_BYTES)) and not p.add_audio(b"\x00\x00")
    assert Playout(max_buffer_s=0.02).add_audio(bytes(FRAME_BYTES + 2)) is False


def test_take_frame_does_not_copy_the_whole_buffer() -> None:
    # A 10-minute chunk is handed out 320 bytes at a time; 30,000 frames must stay cheap.
    p = Playout()
    p.add_audio(bytes(MAX_BUFFER_S * 16000))
    import timeit

    per_frame_s = timeit.timeit(p.take_frame, number=3000) / 3000
    assert per_frame_s < 50e-6, per_frame_s
    assert p.buffered_ms == MAX_BUFFER_S * 1000 - 3000 * 20


def test_one_writer_and_one_reader_thread_see_every_byte_and_mark_in_order() -> None:
    woken = threading.Event()
    p = Playout(woken.set)
    n = 2000
    f = frames(n)
    out: list[bytes] = []
    marks: list[str] = []

    def reader() -> None:
        while len(out) < n:
            if p.buffered_ms >= 20:  # a whole frame is queued (take_frame pads a partial one)
                frame = p.take_frame()
                assert frame is not None
                out.append(frame)

    t = threading.Thread(target=reader)
    t.start()
    for i, frame in enumerate(f):
        # odd sizes so the reader often finds a frame split across chunks
        p.add_audio(frame[:7])
        p.add_audio(frame[7:])
        if i % 100 == 99:
            p.add_mark(f"m{i}")
        marks += p.done_marks()
    t.join(10)
    assert not t.is_alive()
    assert out == f
    marks += p.done_marks()
    assert marks == [f"m{i}" for i in range(99, n, 100)]
    assert woken.is_set()
