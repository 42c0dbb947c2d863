"""Issue 25 / Benchmarks: conference rooms measured on the wire, through `wirexa serve`.

The stack: a running `wirexa serve` (sandbox carrier off) places OUTBOUND calls through the REST
API to its trunk, SIPp (bench/sipp_uas_bench.xml, as bench/streams_bench.py runs it), which answers
with an SDP naming this file's RTP peer (`conference_bench.py peer`, its own process: one UDP port,
every call's RTP both ways, kernel receive stamps). So each participant's far end is the peer:
what it receives on a call is the room's mix as that participant hears it.

The calls are made first, all with `<Pause>` (CALLS of them, in a pool of at most WORKERS
workers, 4 calls each, grown on demand: the layouts below take the placement as it comes; a
warm start of all WORKERS at once was not used, because on a busy machine it outlasted the pool's
ping deadline: pool.py's supervisor, started after the warm start, killed the first workers as
hung), and SIPp's message trace says which RTP port, so
which worker (pool.py: worker N's block starts at rtp_base + 100 N), each CallSid got. Then each
scenario puts chosen calls into rooms with a live update (`Twiml=<Dial><Conference>`, beep off,
statusCallback with start end join leave, and speaker when the scenario has speaker events), so
the bench decides which participants share a worker with their room's home and which are relayed
(pool.py: the room lives in the worker of the first call whose media enters it; a member in
another worker reaches it over a loopback relay port pair, and a home has RELAY_PORTS, 60, of
them: a room of 50 has them all in its media; a member beyond is refused with a notification). The
talkers join first, then one more member per room (that starts the room, the talker's media
first), then the rest: joins at once race for room_join. Afterwards every call goes back to
`<Pause>` (it leaves the room), and the next scenario starts from the same calls.

In each room the first member (its home's call: it enters first) is the talker: the peer has it
say SENTENCE (espeak-ng, ~2 s) and pause PAUSE_FRAMES (2 s), over and over, with a tagged click
(bench/rtp_peer.py's tag: the send time and the room's number with a click counter, in loud
mu-law bytes that survive decode, mix and encode when only one member makes sound) in place of
every CLICK_EVERY-th frame of the sentence and every PAUSE_CLICK_EVERY-th of the pause;
every other member sends silence. So a room with speaker events sends one
participant-speech-start and one -stop per talker per cycle. The peer stamps
each RTP packet on arrival and reads the tags, so per listener: the inter-arrival gaps of the
mix's packets (target p99 < 40 ms), the talker -> listener latency (click sent -> heard), the
clicks that never came, and for each listener whether it hears its room at all.

Scenarios (CONF_BENCH_SCENARIOS, in order):
  idle           every call paused, in no room: the calls' own cost, the baseline.
  room           one room of ROOM_SIZE (50): the home's 4 calls local, the rest relayed.
  room_speaker   the same with statusCallbackEvent speaker (webrtcvad on every member's audio).
  rooms_packed   ROOMS rooms of ROOM_OF (20 x 5) laid out with as many members local as a worker
                 holds (4 in the home, 1 relayed).
  rooms_spread   the same rooms, each member in a different worker (1 local, 4 relayed).
  rooms_spread_speaker  that with speaker events.
Per scenario, after SETTLE_S, a MEASURE_S window: the peer's figures per listener class (local:
in the home's worker; relayed), CPU of the engine (serve and each worker), the SIPp trunk, the
peer, this process and the machine, and /health's relayed_room_members. The cost of a relayed
member over a local one: (engine CPU per participant, spread - packed) / (share of relayed
members, spread - packed), and the latency and gaps of each class in the same room. Each worker's
media clock ticks on its own, so a relayed listener's latency also carries the phase between its
worker's clock and the home's (0-20 ms, fixed for the call): compare classes over many members.

Run: `.venv/bin/python bench/conference_bench.py` (one JSON object on stdout, progress on stderr;
~2 minutes at full size). Env: CONF_BENCH_ROOM_SIZE (50), CONF_BENCH_ROOMS (20x5),
CONF_BENCH_SCENARIOS (idle,room,room_speaker,rooms_packed,rooms_spread,rooms_spread_speaker),
CONF_BENCH_SETTLE_S (3), CONF_BENCH_MEASURE_S (10), CONF_BENCH_LOG_LEVEL (INFO),
CONF_BENCH_KEEP=1 (keep the data dir). Needs sipp, espeak-ng and ffmpeg.
Quick look: CONF_BENCH_ROOM_SIZE=5 CONF_BENCH_ROOMS=2x5.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import re
import select
import shutil
import socket
import struct
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).parent.parent))
from bench.common import ThreadedApp, stop_process  # noqa: E402
from bench.rtp_peer import ANC_SPACE, SAMPLES, SILENCE, SO_TIMESTAMPNS, read_tag, tagged  # noqa: E402

HERE = Path(__file__).parent
ROOM_SIZE = int(os.environ.get("CONF_BENCH_ROOM_SIZE", "50"))
_rooms = os.environ.get("CONF_BENCH_ROOMS", "20x5").lower().split("x")
ROOMS, ROOM_OF = int(_rooms[0]), int(_rooms[1])
SCENARIOS = [
    s.strip()
    for s in os.environ.get(
        "CONF_BENCH_SCENARIOS", "idle,room,room_speaker,rooms_packed,rooms_spread,rooms_spread_speaker"
    ).split(",")
    if s.strip()
]
SETTLE_S = float(os.environ.get("CONF_BENCH_SETTLE_S", "3"))
MEASURE_S = float(os.environ.get("CONF_BENCH_MEASURE_S", "10"))
KEEP = os.environ.get("CONF_BENCH_KEEP", "") not in ("", "0")
CALLS_PER_WORKER = 4
CALLS = max(ROOM_SIZE if any(s.startswith("room_") or s == "room" for s in SCENARIOS) else 0, ROOMS * ROOM_OF)
WORKERS = math.ceil((CALLS + 1) / CALLS_PER_WORKER)  # LEG_RESERVE: one slot of the pool stays free
GAP_LIMIT_MS = 40.0
FROM = "+15005550100"
PAUSE = '<Response><Pause length="3600"/></Response>'
CLICK_EVERY = 10  # frames: a click every 200 ms
PAUSE_FRAMES = 100  # the talker's pause between two sayings of its sentence
# In the pause a click only every 800 ms: webrtcvad (mode 3) takes a click after silence for voice,
# and clicks closer than the speaker detector's 700 ms hangover would hold the speech on.
PAUSE_CLICK_EVERY = 40
SENTENCE = "I would like to talk to sales please"
HZ = os.sysconf("SC_CLK_TCK")
FRAME_S = 0.020
SLOTS = 10
STALE_S = 3.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float] | list[int], p: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def summary_ms(us: list[int]) -> dict[str, Any]:
    """p50/p99/max (ms) of values in microseconds."""
    if not us:
        return {"n": 0}
    s = sorted(us)
    return {
        "n": len(s),
        "p50": round(pct(s, 50) / 1000, 2),
        "p99": round(pct(s, 99) / 1000, 2),
        "max": round(s[-1] / 1000, 2),
    }


# --- the peer (a process of its own: `conference_bench.py peer PORT`) ---------------------------------


class PeerCall:
    __slots__ = ("addr", "last_ns", "last_seq", "seq", "ts", "ssrc", "slot", "talker", "sent", "clicks",
                 "gaps", "lat", "packets", "lost", "heard", "missing", "corrupt")  # fmt: skip

    def __init__(self, addr: tuple[str, int], now_ns: int) -> None:
        self.addr = addr
        self.last_ns = now_ns
        self.last_seq = -1
        self.seq = int.from_bytes(os.urandom(2), "big")
        self.ts = int.from_bytes(os.urandom(4), "big")
        self.ssrc = int.from_bytes(os.urandom(4), "big")
        self.slot = os.urandom(1)[0] % SLOTS
        self.talker = -1  # the room number it clicks for (-1: silent)
        self.sent = 0
        self.clicks = 0
        self.reset()

    def reset(self) -> None:
        self.gaps: list[int] = []  # µs
        self.lat: list[int] = []  # µs, click sent -> heard here
        self.packets = self.lost = self.missing = self.corrupt = 0
        self.heard: dict[int, int] = {}  # talker's room -> its last click counter heard


class ConfPeer:
    """Every call's far end: silence to all, a tagged click every CLICK_EVERY frames to talkers;
    per call, what arrives (stdin commands: talk IP:PORT ROOM, quiet, n, r, w, q)."""

    def __init__(self, port: int, speech: bytes) -> None:
        self.speech = speech[: len(speech) // SAMPLES * SAMPLES]  # the talker's sentence, mu-law
        self.cycle = len(self.speech) // SAMPLES + PAUSE_FRAMES
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for opt in (33, socket.SO_RCVBUF):  # SO_RCVBUFFORCE needs CAP_NET_ADMIN
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
                break
            except OSError:
                continue
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.setblocking(False)
        self.calls: dict[tuple[str, int], PeerCall] = {}
        self.t0 = time.time_ns()
        self.late: list[int] = []

    def drain(self) -> None:
        recvmsg, calls = self.sock.recvmsg, self.calls
        while True:
            try:
                data, anc, _flags, addr = recvmsg(2048, ANC_SPACE)
            except BlockingIOError:
                return
            ts = 0
            for level, kind, raw in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= 16:
                    sec, nsec = struct.unpack("qq", raw[:16])
                    ts = sec * 1_000_000_000 + nsec
            ts = ts or time.time_ns()
            if len(data) < 12 or data[0] >> 6 != 2 or 200 <= data[1] <= 204:
                continue
            c = calls.get(addr)
            if c is None:
                c = calls[addr] = PeerCall(addr, ts)
            seq = (data[2] << 8) | data[3]
            c.packets += 1
            if c.last_seq >= 0:
                c.gaps.append((ts - c.last_ns) // 1000)
                d = (seq - c.last_seq) & 0xFFFF
                if 1 < d < 0x8000:
                    c.lost += d - 1
            c.last_ns, c.last_seq = ts, seq
            payload = data[12:]
            if (data[1] & 0x7F) != 0 or len(payload) < 44:
                continue
            try:
                tag = read_tag(payload)
            except ValueError:
                c.corrupt += 1
                continue
            if tag is None:
                continue
            sent_ns, counter, _ = tag
            room, k = counter >> 20, counter & 0xFFFFF
            last = c.heard.get(room)
            if last is not None and k == last:
                continue  # the second 10 ms half of the same click in the next frame
            if last is not None and k > last + 1:
                c.missing += k - last - 1
            c.heard[room] = k
            c.lat.append((ts - sent_ns) // 1000)

    def send_slot(self, planned: float, slot: int) -> None:
        now_ns = time.time_ns()
        stale = now_ns - int(STALE_S * 1e9)
        sendto, pack = self.sock.sendto, struct.pack
        for addr, c in list(self.calls.items()):
            if c.slot != slot:
                continue
            if c.last_ns < stale and c.talker < 0:
                del self.calls[addr]
                continue
            payload = SILENCE
            if c.talker >= 0:
                i = c.sent % self.cycle
                said = len(self.speech) // SAMPLES
                if i < said and i % CLICK_EVERY != CLICK_EVERY // 2:
                    payload = self.speech[i * SAMPLES : (i + 1) * SAMPLES]
                elif i < said or (i - said) % PAUSE_CLICK_EVERY == PAUSE_CLICK_EVERY - 1:
                    c.clicks += 1
                    now = time.time_ns()
                    payload = tagged(now, (c.talker << 20) | (c.clicks & 0xFFFFF), now)
            c.sent += 1
            c.seq = (c.seq + 1) & 0xFFFF
            c.ts = (c.ts + SAMPLES) & 0xFFFFFFFF
            try:
                sendto(pack("!BBHII", 0x80, 0, c.seq, c.ts, c.ssrc) + payload, addr)
            except OSError:
                pass
        self.late.append(int((time.monotonic() - planned) * 1e6))

    def window(self) -> dict[str, Any]:
        self.drain()
        now = time.time_ns()
        calls = {
            f"{a[0]}:{a[1]}": {
                "talker": c.talker,
                "packets": c.packets,
                "lost": c.lost,
                "gaps_us": c.gaps,
                "lat_us": c.lat,
                "clicks_heard": len(c.lat),
                "clicks_missing": c.missing,
                "tag_corrupt": c.corrupt,
                "rooms_heard": sorted(c.heard),
                "clicks_sent": c.clicks,
            }
            for a, c in self.calls.items()
        }
        late = sorted(self.late)
        out = {
            "window_s": round((now - self.t0) / 1e9, 2),
            "calls": calls,
            "own_send_late_ms": {"p50": round(pct(late, 50) / 1000, 2), "p99": round(pct(late, 99) / 1000, 2)},
        }
        self.reset()
        return out

    def reset(self) -> None:
        self.t0 = time.time_ns()
        self.late = []
        for c in self.calls.values():
            c.reset()
            c.clicks = 0

    def command(self, cmd: str) -> Any:
        if cmd.startswith("talk "):
            _, where, room = cmd.split()
            host, port = where.rsplit(":", 1)
            addr = (host, int(port))
            c = self.calls.get(addr)
            if c is None:
                c = self.calls[addr] = PeerCall(addr, time.time_ns())
            c.talker = int(room)
            return "ok"
        if cmd == "quiet":
            for c in self.calls.values():
                c.talker = -1
            return "ok"
        if cmd == "n":
            self.drain()
            cut = time.time_ns() - 300_000_000
            return sum(1 for c in self.calls.values() if c.last_ns > cut)
        if cmd == "r":
            self.drain()
            self.reset()
            return "ok"
        if cmd == "w":
            return self.window()
        return f"unknown command {cmd!r}"

    def run(self) -> None:
        print(f"ready {self.sock.getsockname()[1]}", flush=True)
        slot_s = FRAME_S / SLOTS
        next_tick = time.monotonic() + slot_s
        slot = 0
        while True:
            readable, _, _ = select.select([self.sock, sys.stdin], [], [], max(0.0, next_tick - time.monotonic()))
            if self.sock in readable:
                self.drain()
            now = time.monotonic()
            if now >= next_tick:
                self.send_slot(next_tick, slot)
                slot = (slot + 1) % SLOTS
                next_tick += slot_s
                if now - next_tick > 0.1:
                    next_tick = now + slot_s
            if sys.stdin in readable:
                line = sys.stdin.readline()
                if not line or line.strip() == "q":
                    return
                print(json.dumps(self.command(line.strip())), flush=True)


# --- the bench's side -------------------------------------------------------------------------------


class Callbacks(ThreadedApp):
    """The rooms' statusCallback: counts by (room name, StatusCallbackEvent)."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.events: Counter[tuple[str, str]] = Counter()

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.events[(str(form.get("FriendlyName", "")), str(form.get("StatusCallbackEvent", "")))] += 1
        return web.Response(text="")

    def summary(self, prefix: str) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (room, ev), n in list(self.events.items()):
            if room.startswith(prefix):
                out[ev] += n
        return dict(out)

    def count(self, prefix: str, event: str) -> int:
        return sum(n for (room, ev), n in list(self.events.items()) if room.startswith(prefix) and ev == event)


class Engine:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.base = f"{server.base_url}/2010-04-01/Accounts/{server.project_id}"
        token = base64.b64encode(f"{server.project_id}:{server.auth_token}".encode()).decode()
        self.session = aiohttp.ClientSession(
            headers={"Authorization": "Basic " + token}, timeout=aiohttp.ClientTimeout(total=60)
        )
        self.n = 0

    async def create(self, twiml: str) -> str:
        self.n += 1
        data = {"To": f"+1415{5550000 + self.n:07d}", "From": FROM, "Twiml": twiml}
        async with self.session.post(f"{self.base}/Calls.json", data=data) as resp:
            body = await resp.json(content_type=None)
            if resp.status != 201:
                raise RuntimeError(f"create: {resp.status} {body}")
            return str(body["sid"])

    async def update(self, sid: str, **data: str) -> None:
        async with self.session.post(f"{self.base}/Calls/{sid}.json", data=data) as resp:
            if resp.status != 200:
                raise RuntimeError(f"update {sid}: {resp.status} {await resp.text()}")

    async def statuses(self) -> Counter[str]:
        out: Counter[str] = Counter()
        url: str | None = f"{self.base}/Calls.json?PageSize=1000"
        while url:
            async with self.session.get(url) as resp:
                body = await resp.json(content_type=None)
            out.update(c["status"] for c in body["calls"])
            nxt = body.get("next_page_uri")
            url = f"{self.server.base_url}{nxt}" if nxt else None
        return out

    async def live(self) -> set[str]:
        """The CallSids in progress now."""
        out: set[str] = set()
        url: str | None = f"{self.base}/Calls.json?Status=in-progress&PageSize=1000"
        while url:
            async with self.session.get(url) as resp:
                body = await resp.json(content_type=None)
            out.update(c["sid"] for c in body["calls"])
            nxt = body.get("next_page_uri")
            url = f"{self.server.base_url}{nxt}" if nxt else None
        return out

    async def health(self) -> dict[str, Any]:
        async with self.session.get(f"{self.server.base_url}/health") as resp:
            return dict((await resp.json(content_type=None))["sip"])

    async def close(self) -> None:
        await self.session.close()


async def gather_limited(coros: list[Any], limit: int = 16) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def one(c: Any) -> Any:
        async with sem:
            try:
                return await c
            except Exception as exc:  # noqa: BLE001 - returned, counted by the caller
                return exc

    return await asyncio.gather(*(one(c) for c in coros))


def sentence(tmp: Path) -> Path:
    """SENTENCE said by espeak-ng, as 8 kHz mu-law (ffmpeg): what each room's talker says."""
    import subprocess

    wav, raw = tmp / "sentence.wav", tmp / "sentence.ulaw"
    subprocess.run(["espeak-ng", "-w", str(wav), SENTENCE], check=True, capture_output=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-ar", "8000", "-ac", "1", "-f", "mulaw",
                    str(raw)], check=True, capture_output=True)  # fmt: skip
    return raw


def stop_engine(server: Any) -> None:
    """SIGTERM serve twice (the second skips the grace for live calls: they are hung up now),
    SIGKILL after 20 s; then SIGKILL, by pid, any of its children (workers) still alive 10 s
    later (they leave on their own when serve's pipe closes)."""
    import signal

    from bench.streams_bench import children

    kids = children(server.proc.pid) if server.proc is not None else []
    if server.proc is not None and server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
    server.stop()
    deadline = time.monotonic() + 10
    while kids and time.monotonic() < deadline:
        kids = [k for k in kids if os.path.exists(f"/proc/{k}") and "zombie" not in _state(k)]
        time.sleep(0.2)
    for k in kids:
        try:
            os.kill(k, 9)
        except OSError:
            pass


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((ln for ln in f if ln.startswith("State:")), "").lower()
    except OSError:
        return "zombie"


def sipp_ports(tmp: Path) -> dict[str, int]:
    """CallSid -> the engine's RTP port, from SIPp's message trace (each INVITE's X-Wirexa-CallSid
    header and its SDP's m=audio port)."""
    out: dict[str, int] = {}
    for p in tmp.glob("*_messages.log"):
        text = p.read_text(errors="replace")
        for msg in re.split(r"\n-{20,}", text):
            sid = re.search(r"X-Wirexa-CallSid:\s*(CA[0-9a-f]{32})", msg)
            port = re.search(r"m=audio (\d+)", msg)
            if sid and port and "INVITE sip:" in msg:
                out[sid.group(1)] = int(port.group(1))
    return out


def start_sipp(tmp: Path, port: int, media_port: int, peer_port: int) -> Any:
    import subprocess

    from bench.sip_bench import SCENARIO

    argv = ["sipp", "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(port), "-mp", str(media_port),
            "-key", "sink_port", str(peer_port), "-nostdin", "-max_recv_loops", "10000", "-trace_msg",
            "-trace_err", "-error_file", str(tmp / "sipp_errors.log")]  # fmt: skip
    with open(tmp / "sipp.stderr", "wb") as stderr:
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, cwd=tmp)


def room_twiml(name: str, cb: str, speaker: bool) -> str:
    events = "start end join leave" + (" speaker" if speaker else "")
    return (
        f'<Response><Dial><Conference beep="false" statusCallback="{cb}" statusCallbackEvent="{events}"'
        f'>{name}</Conference></Dial><Pause length="3600"/></Response>'
    )


class Bench:
    def __init__(self, eng: Engine, peer: Any, cbs: Callbacks, rtp_base: int, pids: dict[str, int]) -> None:
        self.eng, self.peer, self.cbs, self.rtp_base, self.pids = eng, peer, cbs, rtp_base, pids
        self.sids: list[str] = []
        self.port: dict[str, int] = {}
        self.idle_per_call: float | None = None  # engine CPU % of a paused call (the idle scenario)
        self.cycle_s = 0.0  # the talker's sentence and pause

    def worker(self, sid: str) -> int:
        return (self.port[sid] - self.rtp_base) // 100

    def by_worker(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for sid in self.sids:
            out.setdefault(self.worker(sid), []).append(sid)
        return out

    # --- layouts: lists of rooms, each a list of CallSids, the talker (home) first ---

    def one_room(self, size: int) -> list[list[str]]:
        groups = sorted(self.by_worker().values(), key=len, reverse=True)
        members = [s for g in groups for s in g][:size]
        return [members]

    def packed(self, rooms: int, size: int) -> list[list[str]]:
        """As many members in the home's worker as it holds; the rest from the workers left over."""
        groups = sorted((list(g) for g in self.by_worker().values()), key=len, reverse=True)
        homes, rest = groups[:rooms], [s for g in groups[rooms:] for s in g]
        out = []
        for g in homes:
            members = g[:size]
            g[:] = g[size:]
            rest += g
            out.append(members)
        for members in out:
            while len(members) < size and rest:
                members.append(rest.pop())
        return out

    def spread(self, rooms: int, size: int) -> list[list[str]]:
        """Each member of a room in a different worker (as far as the workers go)."""
        groups = [list(g) for g in self.by_worker().values()]
        out: list[list[str]] = []
        for _ in range(rooms):
            groups.sort(key=len, reverse=True)
            members = [g.pop() for g in groups[:size] if g]
            for g in groups:  # fewer workers with calls left than members: the rest from any
                while len(members) < size and g:
                    members.append(g.pop())
            out.append(members)
        return out

    # --- one scenario ---

    async def scenario(self, name: str, rooms: list[list[str]], speaker: bool) -> dict[str, Any]:
        t0 = time.monotonic()
        cb = self.cbs.url
        joined0 = self.cbs.count(name + "-", "participant-join")
        members = sum(len(r) for r in rooms)
        home = {}
        for i, r in enumerate(rooms):
            if not r:
                continue
            await self.peer.ask(f"talk 127.0.0.1:{self.port[r[0]]} {i}")
            home[i] = self.worker(r[0])
        # Each room's home is the worker of the first member whose media enters it (pool.room_join):
        # the talkers join first (they wait, alone), then one more member each, which starts the
        # room and puts the talker in its media first (conference.py _start, in joining order);
        # only then the rest, which could otherwise reach room_join before the talker does.
        started0 = self.cbs.count(name + "-", "conference-start")
        live = [(i, r) for i, r in enumerate(rooms) if r]
        errs: list[Any] = []
        for nth, part in ((0, slice(0, 1)), (1, slice(1, 2))):
            errs += await gather_limited(
                [self.eng.update(s, Twiml=room_twiml(f"{name}-{i}", cb, speaker)) for i, r in live for s in r[part]]
            )
            await self.wait_joins(name, joined0 + sum(min(len(r), nth + 1) for _, r in live), 20)
        await self.wait_event(name, "conference-start", started0 + sum(1 for _, r in live if len(r) > 1), 20)
        await asyncio.sleep(0.5)  # the start's room_join of each talker (a command to its worker)
        errs += await gather_limited(
            [self.eng.update(s, Twiml=room_twiml(f"{name}-{i}", cb, speaker)) for i, r in live for s in r[2:]]
        )
        errors = Counter(str(e)[:160] for e in errs if isinstance(e, Exception))
        joined = await self.wait_joins(name, joined0 + members, 30)
        ramp_s = time.monotonic() - t0
        await asyncio.sleep(SETTLE_S)
        health = await self.eng.health()
        speech0 = self.speech_events(name)
        m = await self.measure()
        speech_in_window = self.speech_events(name) - speech0
        peer = m.pop("peer")
        # classify each listener
        cls_of: dict[str, str] = {}
        room_of: dict[str, int] = {}
        for i, r in enumerate(rooms):
            for j, s in enumerate(r):
                room_of[s] = i
                cls_of[s] = "talker" if j == 0 else ("local" if self.worker(s) == home[i] else "relayed")
        by_addr = {f"127.0.0.1:{self.port[s]}": s for s in room_of}
        agg: dict[str, dict[str, Any]] = {}
        for addr, c in peer["calls"].items():
            sid = by_addr.get(addr)
            if sid is None:
                continue
            k = cls_of[sid]
            a = agg.setdefault(k, {"members": 0, "gaps": [], "lat": [], "lost": 0, "missing": 0, "corrupt": 0,
                                   "deaf": 0, "packets": 0, "wrong_room": 0})  # fmt: skip
            a["members"] += 1
            a["gaps"] += c["gaps_us"]
            a["lat"] += c["lat_us"]
            a["lost"] += c["lost"]
            a["missing"] += c["clicks_missing"]
            a["corrupt"] += c["tag_corrupt"]
            a["packets"] += c["packets"]
            if k != "talker" and c["clicks_heard"] == 0:
                a["deaf"] += 1
            if any(x != room_of[sid] for x in c["rooms_heard"]):
                a["wrong_room"] += 1
        classes: dict[str, Any] = {}
        all_gaps: list[int] = []
        for k, a in agg.items():
            all_gaps += a["gaps"]
            classes[k] = {
                "members": a["members"],
                "gap_ms": summary_ms(a["gaps"]),
                "talker_to_listener_ms": summary_ms(a["lat"]),
                "rtp_lost": a["lost"],
                "clicks_missing": a["missing"],
                "tag_corrupt": a["corrupt"],
                "hear_nothing_of_their_room": a["deaf"],
                "heard_another_room": a["wrong_room"],
                "packets": a["packets"],
            }
        seen = set(by_addr) & set(peer["calls"])
        out = {
            "rooms": len(rooms),
            "participants": members,
            "speaker_events": speaker,
            "update_errors": dict(errors),
            "joins_called_back": joined - joined0,
            "ramp_s": round(ramp_s, 1),
            "relayed_room_members_health": health.get("relayed_room_members"),
            "relayed_by_layout": sum(1 for v in cls_of.values() if v == "relayed"),
            "workers": health.get("workers"),
            "members_sending_rtp_to_peer": len(seen),
            "gap_ms_all_members": summary_ms(all_gaps),
            "by_class": classes,
            "speech_events_in_window": speech_in_window,
            "speech_events_expected_in_window": round(
                2 * sum(1 for r in rooms if len(r) > 1) * m["measure_s"] / (self.cycle_s or 1)
            )
            if speaker
            else 0,
            "talker_cycle_s": self.cycle_s,
            "peer_send_late_ms": peer["own_send_late_ms"],
            **m,
        }
        c = out["cpu"]
        engine = c["engine_workers_pct"] + c["serve_process_pct"]
        out["engine_cpu_pct_per_participant"] = round(engine / max(1, members), 3)
        if self.idle_per_call is not None:  # less what the paused calls cost (the idle scenario's figure)
            out["engine_cpu_pct_per_participant_over_a_paused_call"] = round(
                (engine - self.idle_per_call * len(self.sids)) / max(1, members), 3
            )
        log(
            f"{name}: {members} in {len(rooms)} rooms ({out['relayed_by_layout']} relayed, health "
            f"{out['relayed_room_members_health']}), joins {joined - joined0}, gap p99 "
            f"{out['gap_ms_all_members'].get('p99')} ms, workers {c['engine_workers_pct']}% + serve "
            f"{c['serve_process_pct']}%, machine {c['machine_busy_pct_of_all_cores']}%; "
            + "; ".join(f"{k}: lat p50 {v['talker_to_listener_ms'].get('p50')} p99 {v['talker_to_listener_ms'].get('p99')} "
                        f"gap p99 {v['gap_ms'].get('p99')} deaf {v['hear_nothing_of_their_room']}" for k, v in classes.items())
        )  # fmt: skip
        # back to <Pause>: everyone leaves the room
        await self.peer.ask("quiet")
        left0 = self.cbs.count(name + "-", "participant-leave")
        await gather_limited([self.eng.update(s, Twiml=PAUSE) for r in rooms for s in r])
        deadline = time.monotonic() + 15
        while (
            self.cbs.count(name + "-", "participant-leave") - left0 < joined - joined0 and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.2)
        out["leaves_called_back"] = self.cbs.count(name + "-", "participant-leave") - left0
        await asyncio.sleep(1.0)
        out["callbacks"] = self.cbs.summary(name + "-")  # every event of the scenario's rooms
        return out

    def speech_events(self, name: str) -> int:
        return self.cbs.count(name + "-", "participant-speech-start") + self.cbs.count(
            name + "-", "participant-speech-stop"
        )

    async def wait_joins(self, name: str, want: int, timeout: float) -> int:
        return await self.wait_event(name, "participant-join", want, timeout)

    async def wait_event(self, name: str, event: str, want: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            n = self.cbs.count(name + "-", event)
            if n >= want:
                return n
            await asyncio.sleep(0.1)
        return self.cbs.count(name + "-", event)

    async def measure(self) -> dict[str, Any]:
        from bench.streams_bench import cpu_s, machine_busy, workers_of

        serve = self.pids["serve"]
        workers = workers_of(serve)
        watched = {"engine_workers": workers, "serve_process": [serve], "sipp": [self.pids["sipp"]],
                   "rtp_peer": [self.pids["peer"]], "bench_process": [os.getpid()]}  # fmt: skip
        await self.peer.ask("r")
        before = {k: [cpu_s(p) for p in ps] for k, ps in watched.items()}
        per0 = {w: cpu_s(w) for w in workers}
        m0 = machine_busy()
        t1 = time.monotonic()
        await asyncio.sleep(MEASURE_S)
        wall = time.monotonic() - t1
        m1 = machine_busy()
        after = {k: [cpu_s(p) for p in ps] for k, ps in watched.items()}
        per1 = {w: cpu_s(w) for w in workers}
        peer = await self.peer.ask("w")
        cpu: dict[str, Any] = {}
        for k in watched:
            used = [y - x for x, y in zip(before[k], after[k], strict=True) if not (math.isnan(x) or math.isnan(y))]
            cpu[f"{k}_pct"] = round(100 * sum(used) / wall, 1)
        cores = os.cpu_count() or 1
        cpu["machine_busy_pct_of_all_cores"] = round(100 * (m1[0] - m0[0]) / max(1e-9, m1[1] - m0[1]), 1)
        ours = sum(v for k, v in cpu.items() if k.endswith("_pct"))
        cpu["other_processes_pct"] = round(max(0.0, cpu["machine_busy_pct_of_all_cores"] * cores - ours), 1)
        per = sorted(
            (round(100 * (per1[w] - per0[w]) / wall, 1) for w in workers if not math.isnan(per1[w])), reverse=True
        )
        cpu["busiest_workers_pct"] = per[:5]
        return {"cpu": cpu, "measure_s": round(wall, 1), "peer": peer}

    async def idle(self) -> dict[str, Any]:
        m = await self.measure()
        peer = m.pop("peer")
        gaps = [g for c in peer["calls"].values() for g in c["gaps_us"]]
        c = m["cpu"]
        self.idle_per_call = (c["engine_workers_pct"] + c["serve_process_pct"]) / max(1, len(self.sids))
        return {
            "calls": len(self.sids),
            "calls_sending_rtp_to_peer": sum(1 for c in peer["calls"].values() if c["packets"]),
            "gap_ms": summary_ms(gaps),
            "engine_cpu_pct_per_call": round(
                (c["engine_workers_pct"] + c["serve_process_pct"]) / max(1, len(self.sids)), 3
            ),
            **m,
        }


class Child:
    """The peer: ask() sends a command line, returns its JSON answer."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 26
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 20)
        if not line.startswith(b"ready"):
            raise RuntimeError(f"peer did not start: {line!r}")
        self.port = int(line.split()[1])

    async def ask(self, cmd: str) -> Any:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(cmd.encode() + b"\n")
        await self.proc.stdin.drain()
        return json.loads(await asyncio.wait_for(self.proc.stdout.readline(), 60))

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


async def run(tmp: Path) -> dict[str, Any]:
    from tests.backends import free_port, free_udp_block
    from tests.conftest import make_live_server

    sip = free_udp_block(40000, 49000, WORKERS + 60, (*range(WORKERS), WORKERS + 10, WORKERS + 20, WORKERS + 30))
    rtp = free_udp_block(20000, 32000, WORKERS * 100 + 100, tuple(range(0, WORKERS * 100, 100)))
    sipp_port, peer_port = sip + WORKERS + 10, sip + WORKERS + 30
    speech = sentence(tmp)
    peer = Child([sys.executable, str(Path(__file__).resolve()), "peer", str(peer_port), str(speech)])
    await peer.start()
    cbs = Callbacks(free_port())
    cbs.start()
    cbs.ready.wait(10)
    sipp = start_sipp(tmp, sipp_port, sip + WORKERS + 20, peer_port)
    server = None
    eng: Engine | None = None
    out: dict[str, Any] = {"calls": CALLS, "workers": WORKERS}
    try:
        await asyncio.sleep(0.5)
        if sipp.poll() is not None:
            raise RuntimeError(f"SIPp exited with {sipp.returncode}: {(tmp / 'sipp.stderr').read_text()[-500:]}")
        t0 = time.monotonic()
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
                "WIREXA_LOG_LEVEL": os.environ.get("CONF_BENCH_LOG_LEVEL", "INFO"),
            },
        )
        assert server.proc is not None
        out["engine_start_s"] = round(time.monotonic() - t0, 1)
        eng = Engine(server)
        b = Bench(eng, peer, cbs, rtp, {"serve": server.proc.pid, "sipp": sipp.pid, "peer": peer.pid})
        b.cycle_s = round((speech.stat().st_size // SAMPLES + PAUSE_FRAMES) * FRAME_S, 2)
        # the calls, all paused
        t0 = time.monotonic()
        made = await gather_limited([eng.create(PAUSE) for _ in range(CALLS)], 8)
        b.sids = [s for s in made if isinstance(s, str)]
        create_errors = Counter(str(e)[:160] for e in made if isinstance(e, Exception))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            b.port = sipp_ports(tmp)
            st = await eng.statuses()
            if st.get("in-progress", 0) >= len(b.sids) and all(s in b.port for s in b.sids):
                break
            await asyncio.sleep(0.5)
        b.sids = [s for s in b.sids if s in b.port]
        out["setup"] = {
            "calls_up": len(b.sids),
            "create_errors": dict(create_errors),
            "statuses": dict(await eng.statuses()),
            "setup_s": round(time.monotonic() - t0, 1),
            "calls_per_worker": dict(Counter(len(g) for g in b.by_worker().values())),
        }
        log(f"{len(b.sids)} calls up in {out['setup']['setup_s']} s over {len(b.by_worker())} workers")
        await asyncio.sleep(2)
        results: dict[str, Any] = {}
        calls_lost: dict[str, int] = {}
        for name in SCENARIOS:
            live = await eng.live()  # a call that ended (its worker died, say) is in no layout
            if len(live & set(b.sids)) < len(b.sids):
                calls_lost[name] = len(b.sids) - len(live & set(b.sids))
                b.sids = [s for s in b.sids if s in live]
                log(f"before {name}: {calls_lost[name]} calls ended; {len(b.sids)} left")
            if name == "idle":
                results[name] = await b.idle()
                log(f"idle: {results[name]['cpu']}")
            elif name in ("room", "room_speaker"):
                results[name] = await b.scenario(name, b.one_room(ROOM_SIZE), name.endswith("speaker"))
            elif name == "rooms_packed":
                results[name] = await b.scenario(name, b.packed(ROOMS, ROOM_OF), False)
            elif name in ("rooms_spread", "rooms_spread_speaker"):
                results[name] = await b.scenario(name, b.spread(ROOMS, ROOM_OF), name.endswith("speaker"))
            else:
                raise SystemExit(f"unknown scenario {name!r}")
        out["scenarios"] = results
        out["calls_ended_before_scenario"] = calls_lost
        out["serve_log"] = log_summary(tmp)
    finally:
        if eng is not None:
            await eng.close()
        if server is not None:
            await asyncio.to_thread(stop_engine, server)
        stop_process(sipp)
        await peer.stop()
        cbs.close()
    return out


def log_summary(tmp: Path) -> dict[str, Any]:
    lines: Counter[str] = Counter()
    for p in [*tmp.glob("serve-*.log"), *tmp.glob("logs/sip-worker-*")]:  # serve's stdout has the engine's lines
        for ln in p.read_text(errors="replace").splitlines():
            if "WARNING" in ln or "ERROR" in ln:
                lines[re.sub(r"\b(CA|CF|MZ|QU)[0-9a-f]{32}\b", "<sid>", ln.split("] ", 1)[-1])[:200]] += 1
    return {"warning_or_error_lines": sum(lines.values()), "most_common": dict(lines.most_common(8))}


def targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    sc = r.get("scenarios", {})
    no_port = sum(
        n for line, n in r.get("serve_log", {}).get("most_common", {}).items() if "no relay port left" in line
    )
    for name, label in (("room", f"one room of {ROOM_SIZE}"), ("rooms_packed", f"{ROOMS} rooms of {ROOM_OF}, packed"),
                        ("rooms_spread", f"{ROOMS} rooms of {ROOM_OF}, spread")):  # fmt: skip
        s = sc.get(name)
        if not s:
            continue
        g = s["gap_ms_all_members"]
        listeners = sum(v["members"] for k, v in s["by_class"].items() if k != "talker")
        deaf = sum(v["hear_nothing_of_their_room"] for k, v in s["by_class"].items() if k != "talker")
        rows.append(
            {
                "metric": f"{label}: the mix's RTP inter-arrival gap p99 at the participants (ms)",
                "target": "< 40",
                "measured": g.get("p99"),
                "met": bool(g.get("n")) and g["p99"] < GAP_LIMIT_MS,
                "note": f"{s['participants']} participants, {s['members_sending_rtp_to_peer']} sending RTP; "
                f"max {g.get('max')} ms; {deaf} of {listeners} listeners heard nothing of their room's talker; "
                f"machine {s['cpu']['machine_busy_pct_of_all_cores']}% busy",
            }
        )
        rows.append(
            {
                "metric": f"{label}: every participant hears the room",
                "target": f"{listeners} of {listeners}",
                "measured": f"{listeners - deaf} of {listeners}",
                "met": deaf == 0 and s["participants"] == (ROOM_SIZE if name == "room" else ROOMS * ROOM_OF),
                "note": f"{s['relayed_by_layout']} members relayed by the layout, {s['relayed_room_members_health']} "
                "per /health; "
                + "; ".join(f"{k}: {v['members']}" for k, v in s["by_class"].items())
                + (
                    f"; the engine logged 'no relay port left' {no_port} times in the run (pool.py RELAY_PORTS: 60 "
                    "per worker, so a room's home takes at most 60 relayed members)"
                    if no_port and deaf
                    else ""
                ),
            }
        )
        c = s["cpu"]
        rows.append(
            {
                "metric": f"{label}: engine CPU per participant (% of one core: workers + serve)",
                "target": "report",
                "measured": s["engine_cpu_pct_per_participant"],
                "met": "-",
                "note": f"over a paused call: {s.get('engine_cpu_pct_per_participant_over_a_paused_call', 'n/a')}; "
                f"workers {c['engine_workers_pct']}% (busiest {c['busiest_workers_pct']}), serve "
                f"{c['serve_process_pct']}%, SIPp {c['sipp_pct']}%, peer {c['rtp_peer_pct']}%, others "
                f"{c['other_processes_pct']}%",
            }
        )
    idle = sc.get("idle")
    if idle:
        rows.append(
            {
                "metric": "baseline: engine CPU per paused call in no room (% of one core)",
                "target": "report",
                "measured": idle["engine_cpu_pct_per_call"],
                "met": "-",
                "note": f"{idle['calls']} calls; workers {idle['cpu']['engine_workers_pct']}%, serve {idle['cpu']['serve_process_pct']}%",
            }
        )
    p, s = sc.get("rooms_packed"), sc.get("rooms_spread")
    if p and s:
        eng_p = p["cpu"]["engine_workers_pct"] + p["cpu"]["serve_process_pct"]
        eng_s = s["cpu"]["engine_workers_pct"] + s["cpu"]["serve_process_pct"]
        # per participant: cpu = local cost + share relayed x extra cost of a relayed member
        share_p = p["relayed_by_layout"] / max(1, p["participants"])
        share_s = s["relayed_by_layout"] / max(1, s["participants"])
        d = share_s - share_p
        per_p, per_s = eng_p / max(1, p["participants"]), eng_s / max(1, s["participants"])
        rows.append(
            {
                "metric": "a relayed participant's extra engine CPU over a local one (% of one core)",
                "target": "report",
                "measured": round((per_s - per_p) / d, 3) if d > 0 else None,
                "met": "-",
                "note": f"engine {eng_s:.1f}% for {s['participants']} spread ({s['relayed_by_layout']} relayed) vs "
                f"{eng_p:.1f}% for {p['participants']} packed ({p['relayed_by_layout']} relayed): (per participant "
                f"{per_s:.3f} - {per_p:.3f}) / (relayed share {share_s:.2f} - {share_p:.2f})",
            }
        )
    for name in ("room", "rooms_packed", "rooms_spread"):
        s = sc.get(name)
        if not s:
            continue
        loc, rel = s["by_class"].get("local", {}), s["by_class"].get("relayed", {})
        if loc and rel:
            ll, rl = loc["talker_to_listener_ms"], rel["talker_to_listener_ms"]
            rows.append(
                {
                    "metric": f"{name}: talker -> listener latency p50 / p99 (ms), local vs relayed listener",
                    "target": "report",
                    "measured": f"{ll.get('p50')} / {ll.get('p99')} vs {rl.get('p50')} / {rl.get('p99')}",
                    "met": "-",
                    "note": f"gap p99 local {loc['gap_ms'].get('p99')} ms, relayed {rel['gap_ms'].get('p99')} ms; "
                    f"clicks missing local {loc['clicks_missing']}, relayed {rel['clicks_missing']} "
                    f"({ll.get('n')}/{rl.get('n')} clicks heard)",
                }
            )
    ends = {n: (x.get("callbacks", {}).get("conference-end", 0), x["rooms"]) for n, x in sc.items() if "rooms" in x}
    if ends:
        rows.append(
            {
                "metric": "conference-end callbacks per room (its members all moved out by live updates at once)",
                "target": "1",
                "measured": ", ".join(f"{n}: {e} for {k}" for n, (e, k) in ends.items()),
                "met": all(e == k for e, k in ends.values()),
                "note": "each room ends once (last-participant-left); more is the same end reported again",
            }
        )
    for off, on in (("room", "room_speaker"), ("rooms_spread", "rooms_spread_speaker")):
        a, b = sc.get(off), sc.get(on)
        if a and b:
            ca = a["cpu"]["engine_workers_pct"] + a["cpu"]["serve_process_pct"]
            cb = b["cpu"]["engine_workers_pct"] + b["cpu"]["serve_process_pct"]
            rows.append(
                {
                    "metric": f"{off}: speaker events (webrtcvad per participant) extra CPU per participant (% of one core)",
                    "target": "report",
                    "measured": round((cb - ca) / max(1, b["participants"]), 3),
                    "met": "-",
                    "note": f"engine {ca:.1f}% without, {cb:.1f}% with; gap p99 {a['gap_ms_all_members'].get('p99')} -> "
                    f"{b['gap_ms_all_members'].get('p99')} ms",
                }
            )
            rows.append(
                {
                    "metric": f"{on}: participant-speech-start/-stop callbacks in the window (each talker says its "
                    "sentence once a cycle: a start and a stop)",
                    "target": "~ expected",
                    "measured": f"{b['speech_events_in_window']} of ~{b['speech_events_expected_in_window']}",
                    "met": abs(b["speech_events_in_window"] - b["speech_events_expected_in_window"])
                    <= max(2, 0.25 * b["speech_events_expected_in_window"]),
                    "note": f"{b['rooms']} talkers, a {b['talker_cycle_s']} s cycle, {b['measure_s']} s window; "
                    f"{a['speech_events_in_window']} without speaker in statusCallbackEvent",
                }
            )
    return rows


def main() -> None:
    if sys.argv[1:2] == ["peer"]:
        ConfPeer(int(sys.argv[2]), Path(sys.argv[3]).read_bytes()).run()
        return
    assert shutil.which("sipp"), "SIPp is required (Debian package sip-tester)"
    tmp = Path(tempfile.mkdtemp(prefix="confb_", dir="/tmp"))
    load_before = os.getloadavg()
    t0 = time.monotonic()
    try:
        r = asyncio.run(run(tmp))
    except BaseException:
        if not KEEP:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    r["load_avg_before"] = [round(x, 2) for x in load_before]
    r["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    r["run_s"] = round(time.monotonic() - t0, 1)
    if KEEP:
        r["data_dir"] = str(tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    doc = {
        "benchmark": "conference",
        "room_size": ROOM_SIZE,
        "rooms": f"{ROOMS}x{ROOM_OF}",
        "scenarios": ",".join(SCENARIOS),
        "measure_s": MEASURE_S,
        "far_end": "SIPp UAS trunk + this bench's RTP peer (kernel stamps); live updates move paused calls into rooms",
        "results": r,
        "targets": targets(r),
    }
    print(json.dumps(doc))


if __name__ == "__main__":
    main()
