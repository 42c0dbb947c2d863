"""The sandbox caller program (`_dial-in`) against SIPp as the engine's front: it answers the 407
digest challenge as wirexa-sandbox, hears and records the prompt, presses its digits as RFC 2833
events after the prompt ends, speaks, and hangs up (or is hung up on). SIPp does the SIP; the audio
goes to an RTP peer in the test (the SDP names its port), which plays the prompt and keeps what
the caller sends."""

from __future__ import annotations

import json
import math
import select
import socket
import struct
import subprocess
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.backends import free_udp_block
from tests.sip.test_sip import digest_ok
from wirexa.media.audio import rms_dbfs, tone_pcm, wav_bytes
from wirexa.sip import sandbox_caller

pytestmark = pytest.mark.sip

PASSWORD = "s4ndb0x-secret"


def ulaw_encode(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sign else sample, 32635) + 0x84
    exponent = max(0, min(7, magnitude.bit_length() - 8))
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_decode(byte: int) -> int:
    u = ~byte & 0xFF
    sample = ((((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 7)) - 0x84
    return -sample if u & 0x80 else sample


@dataclass
class RtpPeer:
    """The engine's media side: after the caller's first packet, sends `prompt` (16-bit PCM) as
    PCMU, then silence, every 20 ms; keeps the caller's audio and its RFC 2833 digits."""

    prompt: bytes
    sock: socket.socket = field(default_factory=lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    heard: bytearray = field(default_factory=bytearray)
    heard_at: list[tuple[float, float]] = field(default_factory=list)  # (time, frame dBFS)
    digits: list[tuple[float, str]] = field(default_factory=list)
    peer: tuple[str, int] | None = None
    running: bool = True

    def __post_init__(self) -> None:
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        seq, ts, sent = 1, 0, 0
        next_send = 0.0
        seen: set[int] = set()  # RTP timestamps of the events already counted
        silence = bytes([0xFF]) * 160
        while self.running:
            wait = max(0.0, next_send - time.monotonic()) if self.peer else 0.05
            ready, _, _ = select.select([self.sock], [], [], wait)
            if ready:
                data, addr = self.sock.recvfrom(2048)
                self.peer = self.peer or addr
                if next_send == 0.0:
                    next_send = time.monotonic()
                pt, stamp, payload = data[1] & 0x7F, struct.unpack("!I", data[4:8])[0], data[12:]
                if pt == 0:
                    pcm = struct.pack(f"<{len(payload)}h", *(ulaw_decode(b) for b in payload))
                    self.heard += pcm
                    self.heard_at.append((time.monotonic(), rms_dbfs(pcm)))
                elif pt == 101 and stamp not in seen:
                    seen.add(stamp)
                    self.digits.append((time.monotonic(), "0123456789*#ABCD"[payload[0]]))
            if self.peer and time.monotonic() >= next_send:
                chunk = self.prompt[sent * 320 : (sent + 1) * 320]
                body = bytes(ulaw_encode(s) for (s,) in struct.iter_unpack("<h", chunk)) if chunk else silence
                body = body.ljust(160, b"\xff")
                header = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts & 0xFFFFFFFF, 0x1234)
                self.sock.sendto(header + body, self.peer)
                seq, ts, sent = seq + 1, ts + 160, sent + 1
                next_send += 0.02

    def close(self) -> None:
        self.running = False
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def prompt_peer() -> Iterator[RtpPeer]:
    # 1.5 s of a 440 Hz tone at half scale: the prompt; then silence.
    peer = RtpPeer(tone_pcm(440, 1500, amplitude=0.5))
    yield peer
    peer.close()


def dial(tmp_path: Path, port: int, *extra: str, to: str = "+15005550199") -> tuple[list[dict[str, Any]], Any]:
    """Run the caller program to completion: (its progress events, its result)."""
    secret = tmp_path / "caller.secret"
    secret.write_text(PASSWORD + "\n")
    argv = sandbox_caller.argv(
        to=to,
        host="127.0.0.1",
        port=port,
        secret_file=str(secret),
        wav=str(tmp_path / "heard.wav"),
        log_file=str(tmp_path / "dial-in.log"),
    )
    # stdin stays open while the call runs: EOF on it means "hang up now" (the CLI went away).
    with subprocess.Popen([*argv, *extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        out = proc.stdout.read()
        assert proc.wait(timeout=10) in (0, 1)
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines
    return lines[:-1], lines[-1]


def sipp_front(sipp: Any, peer_port: int, scenario: str = "dial_in_auth.xml") -> tuple[int, Any]:
    """SIPp as the engine's front and IVR (dial_in_auth.xml: waits for the caller's BYE;
    dial_in_hangup.xml: hangs up 6 s after answering), its audio at the RtpPeer's port."""
    port = free_udp_block(21000, 29000, 10)
    proc = sipp(scenario, port, "-trace_msg", "-key", "rtp_port", str(peer_port))
    time.sleep(0.3)
    return port, proc


def check_digest(tmp_path: Path) -> None:
    [log] = list(tmp_path.glob("dial_in_*_messages.log"))
    [header] = [line for line in log.read_text().splitlines() if line.startswith("Proxy-Authorization:")]
    assert 'username="wirexa-sandbox"' in header and 'realm="wirexa"' in header
    # The first INVITE names the user (an empty Authorization): the front challenges only known users.
    empty = next(line for line in log.read_text().splitlines() if line.startswith("Authorization:"))
    assert 'username="wirexa-sandbox"' in empty and 'realm="wirexa"' in empty and 'response=""' in empty
    assert digest_ok(header, "INVITE", PASSWORD) and not digest_ok(header, "INVITE", "wrong")


def wav_levels(path: Path) -> tuple[float, float]:
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        pcm = w.readframes(w.getnframes())
    return len(pcm) / 16000, rms_dbfs(pcm)


def test_digest_prompt_digits_and_hangup_after(tmp_path: Path, sipp: Any, prompt_peer: RtpPeer) -> None:
    port, proc = sipp_front(sipp, prompt_peer.port)
    events, result = dial(tmp_path, port, "--press", "1,2#", "--hangup-after", "5")
    assert proc.wait(timeout=10) == 0
    check_digest(tmp_path)
    names = [e["event"] for e in events]
    assert names[:3] == ["inviting", "ringing", "answered"], names
    assert names.index("prompt ended") < names.index("turn") < names.index("digits sent")
    assert result["answered"] and result["hung_up_by"] == "caller" and result["code"] == 200
    assert result["digits_sent"] == "12#" and result["dtmf_method"] == "rfc2833"
    assert result["call_sid"] == "CAsipp0000000000000000000000000001"  # the 180's X-Wirexa-CallSid
    assert 4.8 <= result["talk_s"] <= 6.0
    # The digits arrived in order, "," a pause of 1 s between 1 and 2.
    assert [d for _, d in prompt_peer.digits] == ["1", "2", "#"]
    (t1, _), (t2, _), (t3, _) = prompt_peer.digits
    assert 1.1 <= t2 - t1 <= 1.8 and t3 - t2 < 0.6  # a digit is ~240 ms
    # The recording: about the call's length, the tone (-9 dBFS RMS at half scale) within it.
    duration, level = wav_levels(Path(result["wav"]))
    assert 4.5 <= duration <= 6.0
    assert -25 < level < -9  # 1.5 s of a -9 dBFS tone in ~5 s of silence: about -14 dBFS
    with wave.open(result["wav"]) as w:
        pcm = w.readframes(w.getnframes())
    loudest = max(rms_dbfs(pcm[i : i + 3200]) for i in range(0, len(pcm) - 3200, 3200))
    assert -11 < loudest < -7


def test_say_after_the_prompt_and_the_engine_hangs_up(tmp_path: Path, sipp: Any, prompt_peer: RtpPeer) -> None:
    port, proc = sipp_front(sipp, prompt_peer.port, "dial_in_hangup.xml")
    events, result = dial(tmp_path, port, "--say", "My account number is one two three.")
    assert proc.wait(timeout=10) == 0
    assert result["answered"] and result["hung_up_by"] == "engine" and result["spoke"] == "say"
    assert result["digits_sent"] == "" and 5.5 <= result["talk_s"] <= 7.0
    speaking = next(e for e in events if e["event"] == "speaking")
    ended = next(e for e in events if e["event"] == "prompt ended")
    assert speaking["t"] >= ended["t"] and speaking["duration_s"] > 1.5
    # The peer heard speech from the caller after the prompt: 20 ms frames well above silence.
    loud = [t for t, level in prompt_peer.heard_at if not math.isinf(level) and level > -40]
    assert len(loud) > 25, len(loud)
    assert not Path(speaking["file"]).exists()  # the rendered speech is removed afterwards


def test_play_a_wav_that_needs_converting(tmp_path: Path, sipp: Any) -> None:
    # A 16 kHz WAV (ffmpeg makes it 8 kHz); no prompt from the engine: the turn comes 2 s after the answer.
    src = tmp_path / "hello16k.wav"
    src.write_bytes(wav_bytes(tone_pcm(600, 1000, rate=16000), rate=16000))
    peer = RtpPeer(b"")
    try:
        port, proc = sipp_front(sipp, peer.port)
        events, result = dial(tmp_path, port, "--play", str(src), "--hangup-after", "4")
        assert proc.wait(timeout=10) == 0
    finally:
        peer.close()
    assert result["spoke"] == "play" and result["hung_up_by"] == "caller"
    names = [e["event"] for e in events]
    assert "prompt ended" not in names
    turn = next(e for e in events if e["event"] == "turn")
    answered = next(e for e in events if e["event"] == "answered")
    assert 1.9 <= turn["t"] - answered["t"] <= 2.6
    loud = [level for _, level in peer.heard_at if not math.isinf(level) and level > -20]
    assert 40 <= len(loud) <= 55  # 1 s of the tone, 20 ms frames
    duration, level = wav_levels(Path(result["wav"]))
    assert 3.5 <= duration <= 4.6 and (math.isinf(level) or level < -60)  # the engine said nothing


def test_a_refused_call_reports_the_code(tmp_path: Path, sipp: Any) -> None:
    scenario = tmp_path / "refuse.xml"
    scenario.write_text(
        (Path(__file__).parent.parent / "data" / "sipp" / "uas_code.xml").read_text().replace("[code]", "404")
    )
    port = free_udp_block(21000, 29000, 10)
    proc = sipp(str(scenario), port)
    time.sleep(0.3)
    events, result = dial(tmp_path, port, "--press", "1")
    assert proc.wait(timeout=10) == 0
    assert not result["answered"] and result["code"] == 404 and result["wav"] is None
    assert result["digits_sent"] == "" and not (tmp_path / "heard.wav").exists()


def test_bad_press_and_unplayable_file_are_error_lines(tmp_path: Path) -> None:
    _, result = dial(tmp_path, 9, "--press", "12x")
    assert result == {"event": "error", "message": result["message"]} and "'x'" in result["message"]
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all")
    _, result = dial(tmp_path, 9, "--play", str(junk))
    assert result["event"] == "error" and str(junk) in result["message"] and "ffmpeg" in result["message"]


def test_parse_press() -> None:
    assert sandbox_caller.parse_press("1,2#") == ["1", 1.0, "2#"]
    assert sandbox_caller.parse_press("ww9 *d") == [0.5, 0.5, "9*D"]
    assert sandbox_caller.parse_press("") == []
    with pytest.raises(ValueError, match="'!'"):
        sandbox_caller.parse_press("1!")


def test_a_stop_request_hangs_up_and_still_reports(tmp_path: Path, sipp: Any, prompt_peer: RtpPeer) -> None:
    # What the CLI sends on Ctrl-C: the caller hangs up at once, finishes its WAV, reports.
    port, proc = sipp_front(sipp, prompt_peer.port)
    secret = tmp_path / "caller.secret"
    secret.write_text(PASSWORD)
    argv = sandbox_caller.argv(
        to="+15005550199",
        host="127.0.0.1",
        port=port,
        secret_file=str(secret),
        wav=str(tmp_path / "heard.wav"),
        log_file=str(tmp_path / "dial-in.log"),
    )
    with subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as caller:
        assert caller.stdin is not None and caller.stdout is not None
        for raw in caller.stdout:
            if json.loads(raw)["event"] == "answered":
                break
        time.sleep(1.0)
        caller.stdin.write(sandbox_caller.stop_request())
        caller.stdin.flush()
        lines = [json.loads(raw) for raw in caller.stdout]
        assert caller.wait(timeout=10) == 0
    assert proc.wait(timeout=10) == 0
    result = lines[-1]
    assert result["event"] == "result" and result["hung_up_by"] == "caller" and 0.9 <= result["talk_s"] <= 1.6
    duration, _ = wav_levels(Path(result["wav"]))
    assert 0.8 <= duration <= 1.7
