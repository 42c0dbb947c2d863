"""Hostile SIP and RTP at the workers' and the sandbox's ports (issue 15 item 4), for real: the
pool and the sandbox carrier on loopback, a scanner (SIPp) and a flooder bound to 127.0.0.2 (a
stranger: only 127.0.0.1, the bind address and --allow peers are trusted)."""

from __future__ import annotations

import asyncio
import os
import random
import re
import socket
import struct
import subprocess
import time
import wave
from pathlib import Path

import pytest

from tests.backends import free_udp_block
from tests.sip.conftest import SipHarness, make_settings, running
from wirexa.calls.ports import CallAnswered, PlaybackFinished, RecordingFinished
from wirexa.media.audio import rms_dbfs, tone_pcm, wav_bytes
from wirexa.sip.pool import worker_argv

pytestmark = pytest.mark.sip

TORTURE = Path(__file__).parent.parent / "data" / "sip_torture"
STRANGER = "127.0.0.2"
VERSION = re.compile(rb"pjsip|pjsua|wirexa|2\.15", re.IGNORECASE)  # the library, its version, the product


def worker_log(h: SipHarness, index: int = 0) -> str:
    return (h.data_dir / "logs" / f"sip-worker-{index}.log.py.log").read_text()


def sandbox_py_log(h: SipHarness, index: int = 0) -> str:
    return (h.data_dir / "logs" / f"sandbox-{index}.log.py.log").read_text()


def incoming_calls_at_sandbox(h: SipHarness) -> list[Path]:
    """The sandbox writes <sid>.json for every INVITE it takes; a stranger's would be sandbox-*."""
    return sorted((h.data_dir / "sandbox").glob("sandbox-*.json"))


def scan(port: int, tmp_path: Path, calls: int, source: str = STRANGER) -> tuple[int, str]:
    """SIPp as sipvicious: OPTIONS, REGISTER, INVITE (+ACK) per call, each must be answered 403
    (no 100 Trying: nothing reached pjsua); returns SIPp's exit status and every message it saw."""
    trace = tmp_path / f"scan-{port}-{source}.log"
    done = subprocess.run(
        [
            "sipp",
            "-sf",
            str(TORTURE / "sipp_scan.xml"),
            "-i",
            source,
            "-p",
            "0",
            "-m",
            str(calls),
            "-r",
            "50",
            "-nostdin",
            "-timeout",
            "20s",
            "-trace_msg",
            "-message_file",
            str(trace),
            f"127.0.0.1:{port}",
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    return done.returncode, trace.read_text(errors="replace") if trace.exists() else ""


def received(trace: str) -> list[str]:
    """The messages SIPp received, from its -trace_msg file."""
    parts = re.split(r"-{5,} [^\n]*\n", trace)
    return [m.split("\n", 1)[1].lstrip("\n") for m in parts if m.startswith("UDP message received")]


def tone_file(path: Path, ms: int, freq: int = 440) -> str:
    path.write_bytes(wav_bytes(tone_pcm(freq, ms, amplitude=0.3)))
    return str(path)


async def test_a_scan_from_a_stranger_is_refused_without_a_version(tmp_path: Path) -> None:
    async with running(make_settings(tmp_path), tmp_path) as h:
        pool = h.bridge.pool
        assert pool is not None and 0 in pool.workers
        for port, name in ((h.settings.sip_port_base, "worker"), (h.settings.sandbox_port_base, "sandbox")):
            code, trace = await asyncio.to_thread(scan, port, tmp_path, 20)
            answers = received(trace.replace("\r\n", "\n"))
            assert code == 0, f"the {name} did not answer every scan request 403:\n{trace[-3000:]}"
            heads = [a.split("\n", 1)[0] for a in answers]
            assert heads and set(heads) == {"SIP/2.0 403 Forbidden"}, (name, set(heads))
            assert len(heads) == 60  # OPTIONS, REGISTER, INVITE x 20 calls: nothing dropped, nothing more
            for answer in answers:
                headers = answer.split("\n\n", 1)[0]
                assert not re.search(r"^(Server|User-Agent|Allow|Supported|Warning)\s*:", headers, re.M | re.I), headers
                assert not VERSION.search(headers.encode()), headers
        assert incoming_calls_at_sandbox(h) == []  # the sandbox answered no stranger
        assert not h.events  # and no worker reported a call
        # The worker still places a normal call.
        sid = await h.dial("+15005550006")
        await h.wait(sid, CallAnswered)
        await h.bridge.hangup(sid)
        assert (await h.ended(sid)).reason == "completed"
    for text in (worker_log(h), sandbox_py_log(h)):
        lines = [ln for ln in text.splitlines() if "refused SIP request from 127.0.0.2" in ln]
        assert len(lines) == 1, lines  # 60 requests, one line
        assert re.search(r"\((OPTIONS|REGISTER|INVITE)\): not an allowed peer", lines[0])


def invite(port: int, source: str) -> list[str]:
    """A plain INVITE with SDP from `source`; the status lines of what comes back within 2 s."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        me = s.getsockname()[1]
        sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
        s.sendto(
            (
                f"INVITE sip:+15005550006@127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {source}:{me};branch=z9hG4bKtrunk{me};rport\r\nMax-Forwards: 70\r\n"
                f"From: <sip:+15551230000@{source}>;tag=t{me}\r\nTo: <sip:+15005550006@127.0.0.1>\r\n"
                f"Call-ID: inbound-{me}\r\nCSeq: 1 INVITE\r\nContact: <sip:trunk@{source}:{me}>\r\n"
                f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
            ).encode(),
            ("127.0.0.1", port),
        )
        s.settimeout(2.0)
        heads: list[str] = []
        try:
            while not heads or heads[-1].startswith("SIP/2.0 1"):
                heads.append(s.recv(65535).decode(errors="replace").split("\r\n", 1)[0])
        except TimeoutError:
            pass
        return heads


async def test_an_invite_from_an_allowed_peer_is_refused_by_the_worker(tmp_path: Path) -> None:
    """The trunk (--allow; 127.0.0.1 here) gets past the guard: the worker still takes no call and
    answers 403 itself (pjsua2's default is 500, after pjsua has set up media for it)."""
    async with running(make_settings(tmp_path), tmp_path) as h:
        port = h.settings.sip_port_base
        assert await asyncio.to_thread(invite, port, "127.0.0.1") == ["SIP/2.0 100 Trying", "SIP/2.0 403 Forbidden"]
        assert await asyncio.to_thread(invite, port, STRANGER) == ["SIP/2.0 403 Forbidden"]  # the guard: no 100
        assert not h.events
    log = worker_log(h)
    assert "refused SIP request from 127.0.0.1" in log and "(INVITE): a worker takes no calls" in log


def torture_messages() -> list[bytes]:
    files = sorted(p for p in TORTURE.iterdir() if p.suffix in (".sip", ".bin"))
    assert len(files) >= 40
    return [p.read_bytes() for p in files]


def blast(port: int, messages: list[bytes], rounds: int, sources: tuple[str, ...]) -> int:
    """Every torture message `rounds` times from each source over UDP, and once each over TCP;
    returns the datagrams sent. From an allowed address is the worse case: it reaches pjsua."""
    sent = 0
    for source in sources:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((source, 0))
            for _ in range(rounds):
                for msg in messages:
                    s.sendto(msg[:65000], ("127.0.0.1", port))
                    sent += 1
        with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as t:
            for msg in messages:
                t.sendall(msg)
    return sent


async def test_workers_and_sandbox_survive_rfc4475_torture(tmp_path: Path) -> None:
    messages = torture_messages()
    async with running(make_settings(tmp_path), tmp_path) as h:
        pool = h.bridge.pool
        assert pool is not None
        worker_pid = pool.workers[0].proc.pid
        sent = 0
        # The sandbox answers INVITEs from allowed addresses (the pool's): only the stranger there.
        sent += await asyncio.to_thread(blast, h.settings.sip_port_base, messages, 10, (STRANGER, "127.0.0.1"))
        sent += await asyncio.to_thread(blast, h.settings.sandbox_port_base, messages, 10, (STRANGER,))
        assert sent >= 1500
        await asyncio.sleep(1.0)
        assert pool.workers[0].proc.pid == worker_pid and pool.workers[0].proc.returncode is None
        sid = await h.dial("+15005550006")
        await h.wait(sid, CallAnswered)
        await h.bridge.play(sid, "1", tone_file(tmp_path / "t.wav", 1500), 1)
        await h.wait(sid, PlaybackFinished)
        await h.bridge.hangup(sid)
        assert (await h.ended(sid)).reason == "completed"
        assert pool.workers[0].proc.pid == worker_pid  # the call went to the same, surviving worker
        assert incoming_calls_at_sandbox(h) == []
    log = worker_log(h)
    for source in (STRANGER, "127.0.0.1"):
        unparsable = [ln for ln in log.splitlines() if f"unparsable SIP packet from {source}:" in ln]
        assert len(unparsable) == 1, unparsable  # hundreds of packets, one line per source
    pj_log = (h.data_dir / "logs" / "sip-worker-0.log").read_text(errors="replace")
    # pjsip's own line for a dropped packet (with the packet in it): once per source, not per packet
    dropped = re.findall(r"(?:Dropping \d+ bytes|Error processing) packet from (?:UDP |TCP )?([0-9.]+):", pj_log)
    assert 1 <= dropped.count(STRANGER) <= 2 and 1 <= dropped.count("127.0.0.1") <= 2, dropped
    assert len(pj_log) < 64_000, len(pj_log)


def rtp_packets(count: int) -> list[bytes]:
    """PCMU at full scale (white noise) with a random SSRC, as a hijacker would send."""
    rnd = random.Random(15)
    ssrc = rnd.getrandbits(32)
    return [
        struct.pack("!BBHII", 0x80, 0, i & 0xFFFF, (i * 160) & 0xFFFFFFFF, ssrc) + rnd.randbytes(160)
        for i in range(count)
    ]


def flood(ports: list[int], seconds: float, stop: list[bool]) -> tuple[int, int]:
    """Send RTP from a stranger at ~4,000 packets/s to each port; count what comes back
    (a worker that switched its remote address to us would start sending us the call's audio)."""
    packets = rtp_packets(512)
    sent = got = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((STRANGER, 0))
        s.setblocking(False)
        loop_end = time.monotonic() + seconds
        while time.monotonic() < loop_end and not stop[0]:
            for _ in range(20):
                for port in ports:
                    s.sendto(packets[sent % len(packets)], ("127.0.0.1", port))
                    sent += 1
            try:
                while True:
                    s.recv(2048)
                    got += 1
            except BlockingIOError:
                pass
            time.sleep(0.005)
    return sent, got


def levels(path: str | Path, window_s: float = 0.5) -> list[float]:
    with wave.open(str(path)) as w:
        pcm = w.readframes(w.getnframes())
        step = int(w.getframerate() * window_s) * 2
    return [rms_dbfs(pcm[i : i + step]) for i in range(0, len(pcm) - step + 1, step)]


async def test_an_rtp_flood_does_not_disturb_a_live_call(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox.toml"
    sandbox.write_text('[numbers."+15005550010"]\nanswer = "silence"\n')
    async with running(make_settings(tmp_path, sandbox_config=str(sandbox)), tmp_path) as h:
        sid = await h.dial("+15005550010")
        await h.wait(sid, CallAnswered)
        rtp_base = h.settings.sip_rtp_port_base  # worker 0's RTP block: the call's port is in the first few
        await h.bridge.play(sid, "tone", tone_file(tmp_path / "tone.wav", 7000), 1)
        rec = str(tmp_path / "heard-by-worker.wav")
        await h.bridge.start_recording(sid, "in", rec, 6.5, 0, "")
        await asyncio.sleep(1.5)
        stop = [False]
        sent, got = await asyncio.to_thread(flood, [rtp_base + 2 * i for i in range(4)], 4.0, stop)
        await h.wait(sid, RecordingFinished, timeout=10)
        await h.wait(sid, PlaybackFinished, timeout=10)
        await h.bridge.hangup(sid)
        await h.ended(sid)
        heard_wav = await h.sandbox_wav(sid)
    assert sent >= 10_000, sent
    assert got == 0, f"the worker sent {got} packets of the call's audio to the flooder"
    heard = levels(heard_wav)
    # what the callee heard: the 7 s tone throughout, the 4 s flood (from 1.5 s on) included
    tone_windows = heard[1:12]
    assert min(tone_windows) > -20.0, heard
    assert max(tone_windows) - min(tone_windows) < 3.0, heard
    # what the worker heard from the (silent) callee: none of the flood's noise
    assert max(levels(rec)) < -50.0, levels(rec)
    assert os.path.getsize(rec) > 6 * 16000


def options(port: int, source: str, tcp: bool = False) -> str:
    """An OPTIONS from `source` over UDP or TCP; the status line of the answer ("" if none in 2 s)."""
    kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.settimeout(2.0)
        s.bind((source, 0))
        me = s.getsockname()[1]
        proto = "TCP" if tcp else "UDP"
        msg = (
            f"OPTIONS sip:100@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/{proto} {source}:{me};branch=z9hG4bKo{me};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:scan@{source}>;tag=o{me}\r\nTo: <sip:100@127.0.0.1>\r\n"
            f"Call-ID: options-{me}-{proto}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        try:
            if tcp:
                s.connect(("127.0.0.1", port))
                s.sendall(msg)
            else:
                s.sendto(msg, ("127.0.0.1", port))
            return s.recv(65535).decode(errors="replace").split("\r\n", 1)[0]
        except TimeoutError:
            return ""


def test_allow_lets_the_trunk_in_and_no_one_else(tmp_path: Path) -> None:
    """A worker started as the pool starts it, with --allow for a trunk at 127.0.0.2 (by name and
    port, as sip.trunk_host is written) and a /30 network: those get pjsua's answer, 127.0.0.5
    gets 403, over UDP and TCP."""
    port = free_udp_block(21000, 29000, 10, (0,))
    rtp = free_udp_block(30000, 59000, 100, (0, 2))
    proc = subprocess.Popen(
        worker_argv(
            "_sip-worker",
            *("--port", str(port), "--rtp-port", str(rtp), "--log-file", str(tmp_path / "w.log")),
            *("--allow", "127.0.0.2:5080", "--allow", "127.0.0.8/30"),
        ),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None and b'"ready"' in proc.stdout.readline()
        assert options(port, "127.0.0.2") == "SIP/2.0 200 OK"
        assert options(port, "127.0.0.9") == "SIP/2.0 200 OK"
        assert options(port, "127.0.0.2", tcp=True) == "SIP/2.0 200 OK"
        assert options(port, "127.0.0.5") == "SIP/2.0 403 Forbidden"
        assert options(port, "127.0.0.12") == "SIP/2.0 403 Forbidden"
        assert options(port, "127.0.0.5", tcp=True) == "SIP/2.0 403 Forbidden"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # EOF: the worker shuts down
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()
    refused = [ln for ln in (tmp_path / "w.log.py.log").read_text().splitlines() if "refused SIP request" in ln]
    assert [m.group(1) for ln in refused if (m := re.search(r"from ([0-9.]+):", ln))] == ["127.0.0.5", "127.0.0.12"]
