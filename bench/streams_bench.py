"""Issue 24 / Benchmarks: Media Streams (<Connect><Stream>, bidirectional) measured on the wire.

The stack: a running `wirexa serve` (sandbox carrier off) places OUTBOUND calls created through
the REST API with `<Response><Connect><Stream url="ws://127.0.0.1:P/MODE"/></Connect></Response>`
to its trunk, SIPp (bench/sipp_uas_bench.xml, as bench/sip_bench.py runs it), which answers with
an SDP naming bench/rtp_peer.py's port. So each call's RTP flows between the engine's worker and
the peer (one process, kernel receive stamps), and each call's WebSocket goes from the same
worker (its stream hub) to the agent: this file run as `streams_bench.py agent`, an aiohttp
server in its own process (one process per role, so neither's GIL delays the other's stamps).
Outbound rather than INVITEs to the inbound front: the peer's RTP then needs no SIP of its own
(SIPp does the signalling, the engine's RTP source address tells the peer where to send), and the
media path measured (worker, bridge, hub) is the same for both directions of call setup.

Frames carry a tag (bench/rtp_peer.py: TAG, the sender's time_ns, a counter, the agent's
time_ns, all in loud mu-law bytes that survive the engine's decode and re-encode), so every
figure is a difference of two stamps taken on the same clock (CLOCK_REALTIME) in two processes:
(1) latency, one stream at a time, LAT_CALLS calls of LAT_CALL_S each (path /lat): the peer sends
    silence with a tagged click every 200 ms; the agent stamps each click's `media` message as it
    arrives (RTP packet in -> media out, the peer's send to the agent's receive). The agent sends
    a tagged 20 ms click every 200 ms and nothing else; the peer's kernel stamps its RTP packet
    (media in -> RTP packet out). The first LAT_WARM_S of each stream are left out (the jitter
    buffer's start). p50/p99 of each; targets 30 / 60 ms.
(2) barge-in (path /barge), BARGE_CALLS calls of BARGE_TRIALS trials: the agent sends 5 s of a 1 kHz
    tone at once (20 ms messages) and a mark, waits 1 s, sends `clear`; the peer records the
    audible packets; clear -> the last audible packet's arrival (target <= 40 ms), and clear ->
    the mark's echo at the agent.
(3) scale (path /echo): SCALE_STEPS concurrent streams (50,100,150,200), the peer sending a tagged
    frame every 20 ms on every call, the agent echoing each media message at once (re-stamped).
    Per step, after SETTLE_S, a MEASURE_S window: RTP inter-arrival gaps at the peer (p99 < 40
    ms), RTP sequence gaps at the peer, echoed frames missing by counter at the peer (lost
    anywhere: peer -> engine -> agent -> engine -> peer), `chunk` gaps and tag-counter gaps at the
    agent (frames lost on the way in), latencies under load (peer -> agent, agent -> peer, round
    trip), CPU (engine workers, serve's process, SIPp, the peer, the agent, this process, the
    machine and what else ran), per-thread CPU of the workers, and one worker profiled by py-spy
    for PROFILE_S at PROFILE_STEP. The ramp stops at the first step that fails (with
    STREAMS_BENCH_STOP_ON_LOSS=0 it goes on past a step whose only failure is lost frames).
    Reading agent -> peer under load: the engine plays a bidirectional stream's media in order
    and drops none (Twilio's rule), so a burst of echoes (after a stall of the worker's hub
    thread, the agent's or the machine's) stays as a standing backlog in the stream's Playout for
    the rest of the call; `agent_to_peer_per_call_p50_ms` shows it per call, and
    `echo_underrun_packets` counts the ticks that found the Playout empty.

Run: `.venv/bin/python bench/streams_bench.py` (one JSON object on stdout, progress on stderr;
~5 minutes). Env: STREAMS_BENCH_LAT_CALLS (12), STREAMS_BENCH_LAT_CALL_S (5),
STREAMS_BENCH_BARGE_CALLS (2), STREAMS_BENCH_BARGE_TRIALS (5), STREAMS_BENCH_STEPS (50,100,150,200),
STREAMS_BENCH_SETTLE_S (3), STREAMS_BENCH_MEASURE_S (10), STREAMS_BENCH_PROFILE_STEP (100; 0 = none),
STREAMS_BENCH_PROFILE_S (10), STREAMS_BENCH_PHASES (latency,barge,scale), STREAMS_BENCH_STOP_ON_LOSS (1), STREAMS_BENCH_BUSY_LIMIT_PCT (95; above it a step fails),
STREAMS_BENCH_KEEP=1
(keep the data dir). Quick look: STREAMS_BENCH_LAT_CALLS=2 STREAMS_BENCH_STEPS=8,16.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

sys.path.insert(0, str(Path(__file__).parent.parent))
from bench.common import stop_process  # noqa: E402
from bench.rtp_peer import SAMPLES, TAG, read_tag, restamp, tagged  # noqa: E402

HERE = Path(__file__).parent
LAT_CALLS = int(os.environ.get("STREAMS_BENCH_LAT_CALLS", "12"))
LAT_CALL_S = float(os.environ.get("STREAMS_BENCH_LAT_CALL_S", "5"))
LAT_WARM_S = 1.0
BARGE_CALLS = int(os.environ.get("STREAMS_BENCH_BARGE_CALLS", "2"))
BARGE_TRIALS = int(os.environ.get("STREAMS_BENCH_BARGE_TRIALS", "5"))
STEPS = tuple(int(x) for x in os.environ.get("STREAMS_BENCH_STEPS", "50,100,150,200").split(",") if x.strip())
SETTLE_S = float(os.environ.get("STREAMS_BENCH_SETTLE_S", "3"))
MEASURE_S = float(os.environ.get("STREAMS_BENCH_MEASURE_S", "10"))
PROFILE_STEP = int(os.environ.get("STREAMS_BENCH_PROFILE_STEP", "100"))
PROFILE_S = float(os.environ.get("STREAMS_BENCH_PROFILE_S", "10"))
PHASES = {x.strip() for x in os.environ.get("STREAMS_BENCH_PHASES", "latency,barge,scale").split(",") if x.strip()}
KEEP = os.environ.get("STREAMS_BENCH_KEEP", "") not in ("", "0")
# A step that lost frames but held otherwise fails; the ramp goes on past it only with STOP_ON_LOSS=0.
STOP_ON_LOSS = os.environ.get("STREAMS_BENCH_STOP_ON_LOSS", "1") not in ("", "0")
CALLS_PER_WORKER = 4
WORKERS = math.ceil(max(STEPS or (1,)) / CALLS_PER_WORKER) + 4
GAP_LIMIT_MS = 40.0
BUSY_LIMIT_PCT = float(os.environ.get("STREAMS_BENCH_BUSY_LIMIT_PCT", "95"))  # of all cores: the machine is the limit
FROM = "+15005550100"
HZ = os.sysconf("SC_CLK_TCK")
MARK_PERIOD_S = 0.2
TONE_S = 5.0
CLEAR_AFTER_S = 1.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[int] | list[float], p: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def ms_summary(ns: list[int]) -> dict[str, Any]:
    if not ns:
        return {"n": 0}
    return {
        "n": len(ns),
        "p50": round(pct(ns, 50) / 1e6, 2),
        "p90": round(pct(ns, 90) / 1e6, 2),
        "p99": round(pct(ns, 99) / 1e6, 2),
        "min": round(min(ns) / 1e6, 2),
        "max": round(max(ns) / 1e6, 2),
    }


# --- the agent (a process of its own: `streams_bench.py agent`) ------------------------------------


def media_msg(stream_sid: str, payload: str) -> str:
    return '{"event":"media","streamSid":"' + stream_sid + '","media":{"payload":"' + payload + '"}}'


class AgentStats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.t0 = time.time_ns()
        self.media_in = self.media_out = self.untagged_in = self.tag_corrupt = 0
        self.chunk_gaps = self.chunk_reordered = self.counter_gaps = self.counter_reordered = 0
        self.timestamp_gap_frames = 0  # frames the hub dropped (its timestamps count them, chunks do not)
        self.p2a: list[int] = []  # peer send -> this agent's receive (ns)
        self.trials: list[dict[str, int]] = []
        self.loop_late: list[int] = []  # this agent's loop lag (a 10 ms timer's lateness, ns)
        self.started = self.stopped = self.closed = 0
        self.tag_offsets: Counter[int] = Counter()  # where in the 20 ms frame the first tag was (0: aligned)


class Agent:
    """The customer's agent: paths /echo, /lat, /barge (module docstring)."""

    def __init__(self) -> None:
        self.stats = AgentStats()
        self.conns: set[web.WebSocketResponse] = set()
        self.last_media: dict[int, int] = {}  # id(ws) -> time_ns of its last media message
        self.mark_echoed: dict[str, int] = {}  # mark name -> when its echo arrived

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.conns.add(ws)
        mode = request.match_info["mode"]
        st = self.stats
        sid = ""
        started_ns = 0
        last_chunk = 0
        last_stamp = -1
        last_counter = -1
        task: asyncio.Task[None] | None = None
        key = id(ws)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    if msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                        break
                    continue
                now = time.time_ns()
                text = msg.data
                if text.startswith('{"event":"media"'):
                    st.media_in += 1
                    self.last_media[key] = now
                    i = text.index('"chunk":"') + 9
                    chunk = int(text[i : text.index('"', i)])
                    if chunk > last_chunk + 1 and last_chunk:
                        st.chunk_gaps += chunk - last_chunk - 1
                    elif chunk <= last_chunk:
                        st.chunk_reordered += 1
                    last_chunk = chunk
                    i = text.index('"timestamp":"') + 13
                    stamp = int(text[i : text.index('"', i)])
                    if last_stamp >= 0 and stamp - last_stamp > 20:
                        st.timestamp_gap_frames += (stamp - last_stamp) // 20 - 1
                    last_stamp = stamp
                    i = text.index('"payload":"') + 11
                    payload = text[i : text.index('"', i)]
                    raw = binascii.a2b_base64(payload)
                    try:
                        tag = read_tag(raw)
                    except ValueError:
                        st.tag_corrupt += 1
                        tag = None
                    if tag is None:
                        st.untagged_in += 1
                    else:
                        st.tag_offsets[raw.find(TAG)] += 1
                        peer_ns, counter, _ = tag
                        if mode != "lat" or now - started_ns > LAT_WARM_S * 1e9:
                            st.p2a.append(now - peer_ns)
                        if last_counter >= 0:
                            if counter > last_counter + 1:
                                st.counter_gaps += counter - last_counter - 1
                            elif counter <= last_counter:
                                st.counter_reordered += 1
                        last_counter = counter
                    if mode == "echo":
                        if tag is not None:  # re-stamped: the peer measures agent -> peer and the round trip
                            raw = restamp(raw, time.time_ns())
                            payload = binascii.b2a_base64(raw, newline=False).decode()
                        try:
                            await ws.send_str(media_msg(sid, payload))
                        except ConnectionError:  # closing (the step's end): the rest is not echoed
                            break
                        st.media_out += 1
                    continue
                m = json.loads(text)
                event = m.get("event")
                if event == "start":
                    sid = m["streamSid"]
                    started_ns = now
                    st.started += 1
                    if mode == "lat":
                        task = asyncio.ensure_future(self.markers(ws, sid))
                    elif mode == "barge":
                        task = asyncio.ensure_future(self.barge(ws, sid))
                elif event == "mark":
                    name = m["mark"]["name"]
                    if name.startswith("t"):
                        self.mark_echoed[name] = now
                elif event == "stop":
                    st.stopped += 1
        finally:
            if task is not None:
                task.cancel()
            self.conns.discard(ws)
            self.last_media.pop(key, None)
            st.closed += 1
        return ws

    async def markers(self, ws: web.WebSocketResponse, sid: str) -> None:
        """/lat: a tagged 20 ms click every MARK_PERIOD_S (from LAT_WARM_S on), then close."""
        loop = asyncio.get_running_loop()
        start = loop.time() + LAT_WARM_S + MARK_PERIOD_S / 4  # out of phase with the peer's clicks
        n = 0
        while loop.time() - start < LAT_CALL_S - LAT_WARM_S:
            await asyncio.sleep(max(0.0, start + n * MARK_PERIOD_S - loop.time()))
            raw = tagged(0, n, time.time_ns())
            await ws.send_str(media_msg(sid, binascii.b2a_base64(raw, newline=False).decode()))
            self.stats.media_out += 1
            n += 1
        await asyncio.sleep(0.3)
        await ws.close()

    async def barge(self, ws: web.WebSocketResponse, sid: str) -> None:
        """/barge: BARGE_TRIALS times: 5 s of tone at once and a mark, `clear` after 1 s."""
        from wirexa.media.audio import tone_pcm
        from wirexa.media.streams import pcm_to_ulaw

        tone = pcm_to_ulaw(tone_pcm(1000, int(TONE_S * 1000), amplitude=0.5))
        frames = [
            media_msg(sid, base64.b64encode(tone[i : i + SAMPLES]).decode()) for i in range(0, len(tone), SAMPLES)
        ]
        await asyncio.sleep(1.0)
        for k in range(BARGE_TRIALS):
            t_tone = time.time_ns()
            for f in frames:
                await ws.send_str(f)
            name = f"t{k}"
            await ws.send_str(json.dumps({"event": "mark", "streamSid": sid, "mark": {"name": name}}))
            await asyncio.sleep(CLEAR_AFTER_S - (time.time_ns() - t_tone) / 1e9)
            t_clear = time.time_ns()
            await ws.send_str(json.dumps({"event": "clear", "streamSid": sid}))
            for _ in range(100):
                if name in self.mark_echoed:
                    break
                await asyncio.sleep(0.01)
            self.stats.trials.append(
                {"tone_sent_ns": t_tone, "clear_ns": t_clear, "mark_echo_ns": self.mark_echoed.pop(name, 0)}
            )
            await asyncio.sleep(0.8)
        await ws.close()

    def window(self) -> dict[str, Any]:
        st = self.stats
        now = time.time_ns()
        out = {
            "window_s": round((now - st.t0) / 1e9, 2),
            "open_streams": len(self.conns),
            "started": st.started,
            "stop_messages": st.stopped,
            "closed": st.closed,
            "media_in": st.media_in,
            "media_out": st.media_out,
            "untagged_media_in": st.untagged_in,
            "tag_corrupt": st.tag_corrupt,
            "chunk_gaps": st.chunk_gaps,
            "chunk_reordered": st.chunk_reordered,
            "timestamp_gap_frames": st.timestamp_gap_frames,
            "tag_offset_bytes": dict(st.tag_offsets),
            "tag_counter_gaps": st.counter_gaps,
            "tag_counter_reordered": st.counter_reordered,
            "peer_to_agent_ms": ms_summary(st.p2a),
            "peer_to_agent_raw_ms": [round(x / 1e6, 3) for x in st.p2a] if len(st.p2a) <= 5000 else None,
            "loop_late_ms": ms_summary(st.loop_late),
            "barge_trials": st.trials,
        }
        st.reset()
        return out

    async def lag_probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.01)
            self.stats.loop_late.append(int((loop.time() - t - 0.01) * 1e9))

    async def main(self) -> None:
        app = web.Application()
        app.router.add_get("/{mode}", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        lag = asyncio.ensure_future(self.lag_probe())
        print(f"ready {port}", flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = (await reader.readline()).decode().strip()
            if not line or line == "q":
                break
            if line == "w":
                out: Any = self.window()
            elif line == "r":
                self.stats.reset()
                out = "ok"
            elif line == "n":
                cut = time.time_ns() - 300_000_000
                out = sum(1 for t in self.last_media.values() if t > cut)
            elif line == "close":
                await asyncio.gather(*(ws.close() for ws in list(self.conns)), return_exceptions=True)
                out = "ok"
            else:
                out = f"unknown command {line!r}"
            print(json.dumps(out), flush=True)
        lag.cancel()
        await runner.cleanup()


# --- the bench's side: child processes ---------------------------------------------------------------


class Child:
    """A line-protocol child (the peer or the agent): ask() sends a command, returns its JSON line."""

    def __init__(self, name: str, argv: list[str]) -> None:
        self.name, self.argv = name, argv
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 20)
        if not line.startswith(b"ready"):
            raise RuntimeError(f"{self.name} did not start: {line!r}")
        self.port = int(line.split()[1])

    async def ask(self, cmd: str) -> Any:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(cmd.encode() + b"\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        text = line.decode().strip()
        return "ok" if text == "ok" else json.loads(text)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


# --- /proc --------------------------------------------------------------------------------------------


def stat_fields(path: str) -> list[str]:
    with open(path) as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_s(pid: int) -> float:
    try:
        f = stat_fields(f"/proc/{pid}/stat")
    except OSError:
        return math.nan
    return (int(f[11]) + int(f[12])) / HZ


def thread_cpu(pid: int) -> dict[int, float]:
    out: dict[int, float] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            f = stat_fields(f"/proc/{pid}/task/{tid}/stat")
        except OSError:
            continue
        out[int(tid)] = (int(f[11]) + int(f[12])) / HZ
    return out


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            out += [int(c) for c in open(f"/proc/{pid}/task/{tid}/children").read().split()]
        except OSError:
            pass
    return out


def workers_of(serve_pid: int) -> list[int]:
    out = []
    for p in children(serve_pid):
        try:
            if "_sip-worker" in open(f"/proc/{p}/cmdline").read():
                out.append(p)
        except OSError:
            pass
    return out


def machine_busy() -> tuple[float, float]:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    total = sum(v[:8])
    return (total - v[3] - v[4]) / HZ, total / HZ


def busy_processes() -> list[str]:
    """Processes above 5% CPU (ps's lifetime average), as bench/run records them."""
    try:
        out = subprocess.run(
            ["ps", "-eo", "pid,pcpu,etime,args", "--sort=-pcpu"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    rows = [ln for ln in out.stdout.splitlines()[1:] if float(ln.split()[1]) > 5.0]
    return [ln[:160] for ln in rows[:10]]


def pyspy() -> str | None:
    """py-spy beside the interpreter (the dev extra installs it in the venv), else on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if os.access(beside, os.X_OK) else shutil.which("py-spy")


def thread_names(pid: int) -> dict[int, str]:
    """OS thread id -> Python thread name, from `py-spy dump` (threads Python never ran: none)."""
    exe = pyspy()
    if exe is None:
        return {}
    try:
        out = subprocess.run(
            [exe, "dump", "--pid", str(pid), "--nonblocking"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    names = {}
    for m in re.finditer(r"^Thread (\d+) \([^)]*\): \"([^\"]*)\"", out.stdout, re.MULTILINE):
        names[int(m.group(1))] = m.group(2)
    return names


CATEGORIES = (
    ("ws send (aiohttp writer)", ("send_str", "send_frame", "_send_frame", "send_json")),
    ("ws receive (aiohttp reader)", ("feed_data", "_feed_data", "WebSocketReader", "readexactly", "__anext__")),
    ("encode media (mu-law, base64, template)", ("Encoder.media", "media (wirexa/media/streams.py")),
    ("parse server message", ("parse_server_message",)),
    ("playout", ("Playout.", "take_frame", "add_audio")),
    ("push from the clock thread", ("StreamHandle.push", "push (wirexa/sip/stream_hub.py")),
    ("tap port callback", ("onFrameReceived",)),
    ("feed port callback", ("onFrameRequested",)),
    (
        "asyncio loop (select, wakeups, scheduling)",
        (
            "_run_once",
            "select (selectors.py",
            "_process_events",
            "call_soon_threadsafe",
            "_write_to_self",
            "_read_from_self",
        ),
    ),
    ("pjsua main loop", ("libHandleEvents", "handle_events", "CommandLoop")),
)


def profile_summary(raw: str) -> dict[str, Any]:
    """py-spy's raw (collapsed) stacks: samples per thread, per category, and the top leaf frames."""
    per_thread: Counter[str] = Counter()
    per_cat: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        thread = frames[0] if frames[0].startswith(("thread", "process")) else "?"
        if thread.startswith("process") and len(frames) > 1 and frames[1].startswith("thread"):
            thread = frames[1]
        per_thread[thread] += n
        leaves[frames[-1][:100]] += n
        if len(frames) == 1 and thread != "?":
            cat = "native code only (pjmedia: RTP, jitter buffer, codec, bridge)"
        else:  # the innermost frame that names a category
            cat = next(
                (name for f in reversed(frames) for name, keys in CATEGORIES if any(k in f for k in keys)), "other"
            )
        per_cat[f"{thread.split(': ', 1)[1] if ': ' in thread else 'unnamed: the clock thread'} / {cat}"] += n
    share = {k: round(100 * v / max(1, total), 1) for k, v in per_cat.most_common()}
    return {
        "samples": total,
        "pct_by_thread": {k: round(100 * v / max(1, total), 1) for k, v in per_thread.most_common(8)},
        "pct_by_category": share,
        "top_leaf_frames_pct": {k: round(100 * v / max(1, total), 1) for k, v in leaves.most_common(15)},
    }


async def profile_worker(pid: int, seconds: float, out: Path) -> dict[str, Any]:
    exe = pyspy()
    if exe is None:
        return {"error": "py-spy not found"}
    names = thread_names(pid)
    before = thread_cpu(pid)
    t0 = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        exe, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "100", "--format", "raw",
        "--threads", "--nonblocking", "-o", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    wall = time.monotonic() - t0
    after = thread_cpu(pid)
    threads = {
        f"{tid}{' ' + names[tid] if tid in names else (' main' if tid == pid else ' native (no Python frames)')}": round(
            100 * (after[tid] - before.get(tid, 0.0)) / wall, 1
        )
        for tid in after
    }
    res: dict[str, Any] = {
        "pid": pid,
        "seconds": round(wall, 1),
        "thread_cpu_pct_of_a_core": dict(sorted(threads.items(), key=lambda kv: -kv[1])),
    }
    try:
        res["py_spy"] = profile_summary(out.read_text())
    except OSError:
        res["py_spy_error"] = err.decode(errors="replace")[-300:]
    return res


# --- the engine ------------------------------------------------------------------------------------


class Engine:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.base = f"{server.base_url}/2010-04-01/Accounts/{server.project_id}"
        token = base64.b64encode(f"{server.project_id}:{server.auth_token}".encode()).decode()
        self.session = aiohttp.ClientSession(
            headers={"Authorization": "Basic " + token}, timeout=aiohttp.ClientTimeout(total=30)
        )
        self.n = 0

    async def create(self, url: str) -> str:
        self.n += 1
        twiml = f'<Response><Connect><Stream url="{url}"/></Connect></Response>'
        data = {"To": f"+1415{5550000 + self.n:07d}", "From": FROM, "Twiml": twiml}
        async with self.session.post(f"{self.base}/Calls.json", data=data) as resp:
            body = await resp.json(content_type=None)
            if resp.status != 201:
                raise RuntimeError(f"create: {resp.status} {body}")
            return str(body["sid"])

    async def status(self, sid: str) -> str:
        async with self.session.get(f"{self.base}/Calls/{sid}.json") as resp:
            return str((await resp.json(content_type=None))["status"])

    async def wait_final(self, sid: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = await self.status(sid)
            if s not in ("queued", "initiated", "ringing", "in-progress"):
                return s
            await asyncio.sleep(0.2)
        return "timeout"

    async def close(self) -> None:
        await self.session.close()


# --- (1) latency -------------------------------------------------------------------------------------


async def latency(eng: Engine, peer: Child, agent: Child) -> dict[str, Any]:
    await peer.ask("mode markers")
    await peer.ask("r")
    await agent.ask("r")
    p2a: list[float] = []
    a2p: list[float] = []
    per_call = []
    statuses: Counter[str] = Counter()
    corrupt = 0
    for i in range(LAT_CALLS):
        sid = await eng.create(f"ws://127.0.0.1:{agent.port}/lat")
        statuses[await eng.wait_final(sid)] += 1
        await asyncio.sleep(0.3)
        a = await agent.ask("w")
        p = await peer.ask("w")
        corrupt += a["tag_corrupt"] + p["tagged_frames_corrupt"]
        pa, ap = a["peer_to_agent_ms"], p["agent_to_peer_ms"]
        per_call.append(
            {
                "rtp_in_to_media_out_ms": pa,
                "media_in_to_rtp_out_ms": ap,
                "clicks_sent_by_agent": a["media_out"],
                "chunk_gaps": a["chunk_gaps"],
                "rtp_lost": p["lost_packets"],
                "rtp_gap_p99_ms": p["gap_p99_ms"],
            }
        )
        log(f"latency call {i + 1}/{LAT_CALLS}: in p50 {pa.get('p50')} p99 {pa.get('p99')} ms; out p50 {ap['p50']} "
            f"p99 {ap['p99']} ms ({pa['n']}/{ap['n']} clicks)")  # fmt: skip
        p2a += a["peer_to_agent_raw_ms"] or []
        a2p += p["agent_to_peer_raw_ms"] or []
    return {
        "calls": LAT_CALLS,
        "call_s": LAT_CALL_S,
        "warmup_left_out_s": LAT_WARM_S,
        "statuses": dict(statuses),
        "tag_corrupt": corrupt,
        "rtp_in_to_media_out_ms": ms_summary([int(x * 1e6) for x in p2a]),
        "media_in_to_rtp_out_ms": ms_summary([int(x * 1e6) for x in a2p]),
        "per_call": per_call,
    }


# --- (2) barge-in ------------------------------------------------------------------------------------


async def barge(eng: Engine, peer: Child, agent: Child) -> dict[str, Any]:
    await peer.ask("mode silence")
    trials = []
    statuses: Counter[str] = Counter()
    for _ in range(BARGE_CALLS):
        await peer.ask("r")
        await agent.ask("r")
        sid = await eng.create(f"ws://127.0.0.1:{agent.port}/barge")
        statuses[await eng.wait_final(sid, timeout=120)] += 1
        bursts = [b for bs in (await peer.ask("bursts")).values() for b in bs]
        a = await agent.ask("w")
        for t in a["barge_trials"]:
            clear = t["clear_ns"]
            hit = [b for b in bursts if b[0] < clear <= b[1] + 500_000_000]
            row: dict[str, Any] = {
                "mark_echo_after_clear_ms": round((t["mark_echo_ns"] - clear) / 1e6, 2) if t["mark_echo_ns"] else None
            }
            if hit:
                start, end, n, quiet = hit[-1]
                row.update(
                    {
                        "clear_to_silence_ms": round((quiet - clear) / 1e6, 2) if quiet else None,
                        "clear_to_last_audible_ms": round((end - clear) / 1e6, 2),
                        "tone_heard_ms": round((end - start) / 1e6, 1),
                        "tone_start_after_send_ms": round((start - t["tone_sent_ns"]) / 1e6, 2),
                        "audible_packets": n,
                    }
                )
            else:
                row["clear_to_last_audible_ms"] = row["clear_to_silence_ms"] = None
            trials.append(row)
    got = [t["clear_to_last_audible_ms"] for t in trials if t["clear_to_last_audible_ms"] is not None]
    quiet = [t["clear_to_silence_ms"] for t in trials if t["clear_to_silence_ms"] is not None]
    marks = [t["mark_echo_after_clear_ms"] for t in trials if t["mark_echo_after_clear_ms"] is not None]
    log(f"barge-in: clear -> last audible {got} ms, -> first silent packet {quiet} ms")
    return {
        "calls": BARGE_CALLS,
        "statuses": dict(statuses),
        "trials": trials,
        "clear_to_first_silent_packet_ms": {
            "n": len(quiet),
            "p50": pct(quiet, 50),
            "max": max(quiet) if quiet else math.nan,
            "missing": len(trials) - len(quiet),
        },
        "clear_to_last_audible_ms": {
            "n": len(got),
            "p50": pct(got, 50),
            "max": max(got) if got else math.nan,
            "missing": len(trials) - len(got),
        },
        "clear_to_mark_echo_ms": {"n": len(marks), "p50": pct(marks, 50), "max": max(marks) if marks else math.nan},
    }


# --- (3) scale ---------------------------------------------------------------------------------------


async def scale(
    eng: Engine, peer: Child, agent: Child, serve_pid: int, sipp_pid: int, tmp: Path
) -> list[dict[str, Any]]:
    await peer.ask("mode tagged")
    me = os.getpid()
    steps: list[dict[str, Any]] = []
    up = 0
    for target in STEPS:
        step: dict[str, Any] = {"target": target}
        steps.append(step)
        t0 = time.monotonic()
        create_errors: Counter[str] = Counter()
        sids = []
        for _ in range(target - up):
            try:
                sids.append(await eng.create(f"ws://127.0.0.1:{agent.port}/echo"))
            except Exception as exc:  # noqa: BLE001 - counted
                create_errors[str(exc)[:120]] += 1
        up = target
        deadline = time.monotonic() + 60
        flowing = peer_calls = 0
        while time.monotonic() < deadline:
            flowing, peer_calls = await agent.ask("n"), await peer.ask("n")
            if flowing >= target and peer_calls >= target:
                break
            await asyncio.sleep(0.5)
        step["ramp_s"] = round(time.monotonic() - t0, 1)
        await asyncio.sleep(SETTLE_S)
        workers = workers_of(serve_pid)
        watched = {"engine_workers": workers, "serve_process": [serve_pid], "sipp": [sipp_pid], "rtp_peer": [peer.pid],
                   "agent": [agent.pid], "bench_process": [me]}  # fmt: skip
        threads0 = {w: thread_cpu(w) for w in workers}
        await peer.ask("r")
        await agent.ask("r")
        before = {k: [cpu_s(p) for p in ps] for k, ps in watched.items()}
        m0 = machine_busy()
        t1 = time.monotonic()
        await asyncio.sleep(MEASURE_S)
        wall = time.monotonic() - t1
        m1 = machine_busy()
        after = {k: [cpu_s(p) for p in ps] for k, ps in watched.items()}
        threads1 = {w: thread_cpu(w) for w in workers}
        p = await peer.ask("w")
        a = await agent.ask("w")
        cpu: dict[str, Any] = {}
        for k in watched:
            used = [y - x for x, y in zip(before[k], after[k], strict=True) if not (math.isnan(x) or math.isnan(y))]
            cpu[f"{k}_pct"] = round(100 * sum(used) / wall, 1)
        cores = os.cpu_count() or 1
        cpu["machine_busy_pct_of_all_cores"] = round(100 * (m1[0] - m0[0]) / max(1e-9, m1[1] - m0[1]), 1)
        ours = sum(v for k, v in cpu.items() if k.endswith("_pct"))
        cpu["other_processes_pct"] = round(max(0.0, cpu["machine_busy_pct_of_all_cores"] * cores - ours), 1)
        # Per thread over every worker: the main thread (pjsua's), the others by their share.
        main_t = other_t = 0.0
        per_worker_threads = []
        for w in workers:
            t_0, t_1 = threads0.get(w, {}), threads1.get(w, {})
            d = {tid: t_1[tid] - t_0.get(tid, 0.0) for tid in t_1}
            main_t += d.get(w, 0.0)
            other_t += sum(v for tid, v in d.items() if tid != w)
            per_worker_threads.append(sorted((round(100 * v / wall, 1) for v in d.values()), reverse=True)[:4])
        n = max(1, min(target, a["open_streams"]))
        step.update(
            {
                "create_errors": dict(create_errors),
                "streams_flowing_at_agent": flowing,
                "calls_sending_to_peer": peer_calls,
                "engine_workers": len(workers),
                "cpu": cpu,
                "engine_cpu_pct_per_stream": round((cpu["engine_workers_pct"] + cpu["serve_process_pct"]) / n, 3),
                "worker_cpu_pct_per_stream": round(cpu["engine_workers_pct"] / n, 3),
                "worker_threads_pct_of_a_core": {
                    "main_threads_all_workers": round(100 * main_t / wall, 1),
                    "other_threads_all_workers": round(100 * other_t / wall, 1),
                    "top4_threads_of_first_3_workers": per_worker_threads[:3],
                },
                "peer": p,
                "agent": a,
            }
        )
        problems = []
        if create_errors:
            problems.append(f"{sum(create_errors.values())} calls not created")
        if a["open_streams"] < target or p["calls_now"] < target:
            problems.append(f"{a['open_streams']} streams open at the agent, {p['calls_now']} calls at the peer")
        if not p["gap_p99_ms"] < GAP_LIMIT_MS:
            problems.append(f"RTP p99 gap {p['gap_p99_ms']} ms")
        lost = (
            p["lost_packets"]
            + p["echoed_frames_missing"]
            + a["chunk_gaps"]
            + a["timestamp_gap_frames"]
            + a["tag_counter_gaps"]
        )
        if lost:
            problems.append(
                f"lost: RTP seq {p['lost_packets']}, echoed frames {p['echoed_frames_missing']}, chunks "
                f"{a['chunk_gaps']}, timestamps {a['timestamp_gap_frames']}, peer frames at the agent "
                f"{a['tag_counter_gaps']}"
            )
        if cpu["machine_busy_pct_of_all_cores"] >= BUSY_LIMIT_PCT:
            problems.append(f"machine {cpu['machine_busy_pct_of_all_cores']}% busy")
        step["held"] = not problems
        step["problems"] = problems
        step["busy_processes_after"] = busy_processes()
        log(
            f"step {target}: agent {a['open_streams']} open, peer {p['calls_now']}, workers {len(workers)} "
            f"{cpu['engine_workers_pct']}% + serve {cpu['serve_process_pct']}%, agent {cpu['agent_pct']}%, peer "
            f"{cpu['rtp_peer_pct']}%, machine {cpu['machine_busy_pct_of_all_cores']}%, RTP p99 {p['gap_p99_ms']} ms, "
            f"rtt p50 {p['round_trip_ms']['p50']} p99 {p['round_trip_ms']['p99']}, {problems or 'held'}"
        )
        if target == PROFILE_STEP and workers:
            busiest = max(workers, key=lambda w: sum(threads1.get(w, {}).values()) - sum(threads0.get(w, {}).values()))
            log(f"profiling worker {busiest} for {PROFILE_S:g} s")
            step["profile"] = await profile_worker(busiest, PROFILE_S, tmp / f"pyspy_{target}.txt")
        only_loss = all(x.startswith("lost:") for x in problems)
        if problems and not (only_loss and not STOP_ON_LOSS):
            break
    await agent.ask("close")
    return steps


# --- main ------------------------------------------------------------------------------------------


async def run(tmp: Path) -> dict[str, Any]:
    from bench.sip_bench import start_sipp
    from tests.backends import free_udp_block
    from tests.conftest import make_live_server

    sip = free_udp_block(40000, 49000, WORKERS + 60, (*range(WORKERS), WORKERS + 10, WORKERS + 20, WORKERS + 30))
    rtp = free_udp_block(20000, 32000, WORKERS * 100 + 100, tuple(range(0, WORKERS * 100, 100)))
    sipp_port, peer_port = sip + WORKERS + 10, sip + WORKERS + 30
    peer = Child("rtp_peer", [sys.executable, str(HERE / "rtp_peer.py"), str(peer_port)])
    agent = Child("agent", [sys.executable, str(Path(__file__).resolve()), "agent"])
    await peer.start()
    await agent.start()
    sipp = start_sipp(tmp, sipp_port, sip + WORKERS + 20, peer_port)
    server = None
    eng: Engine | None = None
    out: dict[str, Any] = {}
    try:
        await asyncio.sleep(0.5)
        if sipp.poll() is not None:
            raise RuntimeError(f"SIPp exited with {sipp.returncode}: {(tmp / 'sipp.stderr').read_text()[-500:]}")
        server = await asyncio.to_thread(
            make_live_server,
            tmp,
            {
                "WIREXA_CALLS_CPS": "50",
                "WIREXA_CALLS_MAX_CONCURRENT": str(WORKERS * CALLS_PER_WORKER),
                "WIREXA_SIP_WORKERS_MAX": str(WORKERS),
                "WIREXA_SIP_PORT_BASE": str(sip),
                "WIREXA_SIP_RTP_PORT_BASE": str(rtp),
                "WIREXA_SIP_TRUNK_HOST": f"127.0.0.1:{sipp_port}",
                "WIREXA_SIP_TRUNK_TRANSPORT": "udp",
                "WIREXA_SANDBOX_ENABLED": "false",
                "WIREXA_SANDBOX_PORT_BASE": str(sip + WORKERS + 40),
                "WIREXA_API_RATE_LIMIT_PER_S": "0",
                "WIREXA_LOG_LEVEL": "WARNING",
            },
        )
        assert server.proc is not None
        eng = Engine(server)
        if "latency" in PHASES:
            out["latency"] = await latency(eng, peer, agent)
        if "barge" in PHASES:
            out["barge_in"] = await barge(eng, peer, agent)
        if "scale" in PHASES:
            out["scale"] = await scale(eng, peer, agent, server.proc.pid, sipp.pid, tmp)
            await asyncio.sleep(3)
        out["serve_log"] = log_summary(tmp)
    finally:
        if eng is not None:
            await eng.close()
        if server is not None:
            await asyncio.to_thread(server.stop)
        stop_process(sipp)
        await peer.stop()
        await agent.stop()
    return out


def log_summary(tmp: Path) -> dict[str, Any]:
    lines: list[str] = []
    for p in sorted(tmp.glob("serve-*.log")):
        lines += [ln for ln in p.read_text(errors="replace").splitlines() if "WARNING" in ln or "ERROR" in ln]
    worker_lines: Counter[str] = Counter()
    logs = tmp / "logs"
    for p in sorted(logs.glob("sip-worker-*")) if logs.is_dir() else []:
        for ln in p.read_text(errors="replace").splitlines():
            if "stream" in ln and ("WARNING" in ln or "ERROR" in ln or "discard" in ln):
                worker_lines[re.sub(r"\b(CA|MZ)[0-9a-f]{32}\b", "<sid>", ln.split("] ", 1)[-1])[:160]] += 1
    return {
        "serve_warning_or_error_lines": len(lines),
        "serve_samples": lines[:5],
        "worker_stream_lines": dict(worker_lines.most_common(8)),
    }


def main() -> None:
    if sys.argv[1:] == ["agent"]:
        asyncio.run(Agent().main())
        return
    assert shutil.which("sipp"), "SIPp is required (Debian package sip-tester)"
    tmp = Path(tempfile.mkdtemp(prefix="streamsb_", dir="/tmp"))
    load_before = os.getloadavg()
    busy_before = busy_processes()
    t0 = time.monotonic()
    r = asyncio.run(run(tmp))
    r["load_avg_before"] = [round(x, 2) for x in load_before]
    r["busy_processes_before"] = busy_before
    r["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    r["run_s"] = round(time.monotonic() - t0, 1)
    if not KEEP:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        r["data_dir"] = str(tmp)
    doc: dict[str, Any] = {"benchmark": "streams", "phases": sorted(PHASES), "results": r}
    if PHASES == {"latency", "barge", "scale"}:
        doc["far_end"] = (
            "SIPp UAS trunk + bench/rtp_peer.py (RTP both ways, kernel stamps); agent: aiohttp, own process"
        )
        doc["steps"] = ",".join(map(str, STEPS))
        doc["measure_s"] = MEASURE_S
        doc["targets"] = targets(r)
    print(json.dumps(doc))


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    lat, bi, steps = r["latency"], r["barge_in"], [s for s in r["scale"] if "target" in s]
    held = [s for s in steps if s.get("held")]
    best = held[-1] if held else None
    first_bad = next((s for s in steps if not s.get("held")), None)
    rows = []
    for key, name in (("rtp_in_to_media_out_ms", "RTP packet in -> `media` message out"),
                      ("media_in_to_rtp_out_ms", "agent `media` in -> RTP packet out")):  # fmt: skip
        m = lat[key]
        rows.append(
            {
                "metric": f"{name}, p50 / p99 (ms), one stream at a time, jitter buffer included",
                "target": "<= 30 / <= 60",
                "measured": f"{m.get('p50')} / {m.get('p99')}",
                "met": bool(m.get("n")) and m["p50"] <= 30 and m["p99"] <= 60,
                "note": f"{m.get('n')} clicks over {lat['calls']} calls of {lat['call_s']:g} s (first "
                f"{lat['warmup_left_out_s']:g} s of each left out), min {m.get('min')} max {m.get('max')} ms; "
                "pjsua's adaptive jitter buffer (its one-frame minimum prefetch on a clean link), discard algorithm static ([sip] jitter_discard)",
            }
        )
    q, la = bi["clear_to_first_silent_packet_ms"], bi["clear_to_last_audible_ms"]
    rows.append(
        {
            "metric": "barge-in: `clear` sent -> silence at the callee (first silent RTP packet), max (ms)",
            "target": "<= 40",
            "measured": q["max"],
            "met": q["n"] > 0 and q["missing"] == 0 and q["max"] <= 40,
            "note": f"{q['n']} trials, p50 {q['p50']} ms; the last audible packet arrived {la['p50']} ms (p50), "
            f"{la['max']} ms (max) after the clear was sent (negative: already on the wire); the pending mark "
            f"echoed {bi['clear_to_mark_echo_ms']['p50']} ms after the clear (p50)",
        }
    )
    per_step = "; ".join(
        f"{s['target']}: workers {s['cpu']['engine_workers_pct']}% + serve {s['cpu']['serve_process_pct']}%, "
        f"RTP p99 {s['peer']['gap_p99_ms']} ms, machine {s['cpu']['machine_busy_pct_of_all_cores']}% (others "
        f"{s['cpu']['other_processes_pct']}% of a core)" + ("" if s["held"] else f" FAILED: {', '.join(s['problems'])}")
        for s in steps
    )
    rows.append(
        {
            "metric": "concurrent bidirectional streams, the agent echoing everything (all up, no frame lost, RTP p99 < 40 ms)",
            "target": ">= 200",
            "measured": best["target"] if best else 0,
            "met": bool(best and best["target"] >= 200),
            "note": per_step,
        }
    )
    if best:
        p, a = best["peer"], best["agent"]
        rows += [
            {
                "metric": "RTP inter-arrival gap p99 at the peer (ms), at that step",
                "target": "< 40",
                "measured": p["gap_p99_ms"],
                "met": p["gap_p99_ms"] < GAP_LIMIT_MS,
                "note": f"{p['packets']} packets on {p['calls_now']} calls in {p['window_s']} s, max {p['gap_max_ms']} ms",
            },
            {
                "metric": "lost frames, both directions, at that step",
                "target": "0",
                "measured": p["lost_packets"]
                + p["echoed_frames_missing"]
                + a["chunk_gaps"]
                + a["timestamp_gap_frames"]
                + a["tag_counter_gaps"],
                "met": True,
                "note": f"RTP sequence gaps {p['lost_packets']}, echoed frames missing {p['echoed_frames_missing']}, "
                f"chunk gaps {a['chunk_gaps']}, timestamp gaps {a['timestamp_gap_frames']}, the peer's frames missing "
                f"at the agent {a['tag_counter_gaps']}; latency under load: peer -> agent p50 "
                f"{a['peer_to_agent_ms'].get('p50')} p99 {a['peer_to_agent_ms'].get('p99')} ms, agent -> peer p50 "
                f"{p['agent_to_peer_ms']['p50']} p99 {p['agent_to_peer_ms']['p99']} ms, round trip p50 "
                f"{p['round_trip_ms']['p50']} p99 {p['round_trip_ms']['p99']} ms",
            },
        ]
    ref = best or first_bad
    if ref:
        c = ref["cpu"]
        rows.append(
            {
                "metric": f"engine CPU per stream at {ref['target']} streams (% of one core: workers + serve)",
                "target": "report",
                "measured": ref["engine_cpu_pct_per_stream"],
                "met": "-",
                "note": f"workers {c['engine_workers_pct']}% ({ref['engine_workers']} processes), serve {c['serve_process_pct']}%, "
                f"SIPp {c['sipp_pct']}%, the bench's peer {c['rtp_peer_pct']}% and agent {c['agent_pct']}%, this process "
                f"{c['bench_process_pct']}%, other processes {c['other_processes_pct']}%"
                + ("" if ref.get("held") else f" (a failed step: {', '.join(ref['problems'])})"),
            }
        )
    return rows


if __name__ == "__main__":
    main()
