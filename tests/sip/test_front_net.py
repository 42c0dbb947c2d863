"""The inbound SIP front on real sockets: SIPp callers and phones -> Front -> a SIPp "worker"."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import free_udp_block
from wirexa import config
from wirexa.sip.front import Credential, Request, Response, parse, response_to, serialize
from wirexa.sip.front_net import WORKER_POLL_S, Front

pytestmark = pytest.mark.sip

SIPP_DIR = Path(__file__).parent.parent / "data" / "sipp"
USERS = {
    "alice": Credential("alice", "s3cret", "phone"),
    "wirexa-sandbox": Credential("wirexa-sandbox", "pw", "sandbox"),
}


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class Harness:
    def __init__(self, tmp_path: Path, front: Front, ports: int, picks: list[tuple[str, int] | None]) -> None:
        self.tmp_path = tmp_path
        self.front = front
        self.worker_port = ports + 1
        self.caller_port = ports + 2
        self.picks = picks
        self.procs: list[subprocess.Popen[bytes]] = []

    def sipp(self, scenario: str, port: int, *extra: str, host: str = "127.0.0.1") -> subprocess.Popen[bytes]:
        argv = ["sipp", "-sf", str(SIPP_DIR / scenario), "-i", host, "-p", str(port), "-m", "1", "-nostdin"]
        argv += ["-timeout", "8s", "-timeout_error", "-trace_err", "-trace_msg", "-trace_logs", *extra]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.tmp_path)
        self.procs.append(proc)
        return proc

    async def worker(self, scenario: str, *extra: str) -> subprocess.Popen[bytes]:
        proc = self.sipp(scenario, self.worker_port, *extra)
        await asyncio.sleep(0.2)  # SIPp binds its port
        return proc

    def caller(self, scenario: str, *extra: str, host: str = "127.0.0.1", tcp: bool = False) -> subprocess.Popen[bytes]:
        transport = ("-t", "t1") if tcp else ()
        return self.sipp(scenario, self.caller_port, *transport, *extra, f"127.0.0.1:{self.front.port}", host=host)

    async def finished(self, *procs: subprocess.Popen[bytes], timeout: float = 10.0) -> list[int]:
        deadline = asyncio.get_running_loop().time() + timeout
        while any(p.poll() is None for p in procs):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"SIPp still running; logs: {self.logs()}")
            await asyncio.sleep(0.02)
        return [int(p.returncode) for p in procs]

    def logs(self, kind: str = "") -> str:
        """The text of the SIPp trace files of this test (scenario name contains `kind`)."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.tmp_path.glob(f"*{kind}*.log")))


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path,
    picks: list[tuple[str, int] | None] | None = None,
    clock: Any = None,
    wait: float = 1.0,
    **overrides: Any,
) -> AsyncIterator[Harness]:
    assert shutil.which("sipp"), "SIPp is required (Debian package sip-tester)"
    ports = free_udp_block(21000, 29000, 10, (1, 2))
    values: dict[str, Any] = {"data_dir": str(tmp_path), "sip_inbound_port": 0, "sip_inbound_allowed": "127.0.0.1/32"}
    values.update(overrides)
    settings = config.load(overrides=values, env={})
    worker: list[tuple[str, int] | None] = picks if picks is not None else [("127.0.0.1", ports + 1)]
    chosen: list[tuple[str, int] | None] = []

    def pick() -> tuple[str, int] | None:
        chosen.append(worker[0])
        return worker[0]

    async def lookup(username: str) -> Credential | None:
        return USERS.get(username)

    front = Front(settings, pick, lookup, worker_wait_s=wait, **({"clock": clock} if clock else {}))
    await front.start()
    harness = Harness(tmp_path, front, ports, chosen)
    try:
        yield harness
    finally:
        for p in harness.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        await front.close()


async def test_a_carrier_call_goes_through_the_front_and_the_dialog_bypasses_it(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        uas = await h.worker("front_uas.xml")
        uac = h.caller("front_uac.xml")
        assert await h.finished(uac, uas) == [0, 0], h.logs("errors")
        log = h.logs("front_uas_")
        assert (
            f"X-Wirexa-Auth: carrier|X-Wirexa-Source: 127.0.0.1:{h.caller_port};transport=udp|Max-Forwards: 69" in log
        )
        invite = log[log.index("INVITE sip:") : log.index("SIP/2.0 180")]
        assert invite.count("X-Wirexa-Auth") == 1  # the caller's forged one was removed
        assert "Record-Route" not in invite
        assert h.picks == [("127.0.0.1", h.worker_port)]
        assert h.front.forwarded == 1  # the INVITE only: ACK and BYE went to the worker directly


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
async def test_a_cancel_and_the_ack_of_its_487_reach_the_worker_that_has_the_invite(tmp_path: Path, tcp: bool) -> None:
    async with running(tmp_path) as h:
        uas = await h.worker("front_uas_cancel.xml")
        uac = h.caller("front_uac_cancel.xml", tcp=tcp)
        assert await h.finished(uac, uas) == [0, 0], h.logs("errors")
        assert len(h.picks) == 1
        assert h.front.forwarded == 3  # INVITE, CANCEL, ACK


async def test_a_call_over_tcp_gets_its_responses_on_its_connection(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        uas = await h.worker("front_uas_answer.xml")
        uac = h.caller("front_uac_answer.xml", tcp=True)
        assert await h.finished(uac, uas) == [0, 0], h.logs("errors")
        assert "X-Wirexa-Source: 127.0.0.1:" in h.logs("front_uas_")
        assert ";transport=tcp|" in h.logs("front_uas_")
        assert "TCP message received" in h.logs("front_uac_answer")


async def test_a_stranger_gets_403_without_any_version_header(tmp_path: Path, caplog: Any) -> None:
    async with running(tmp_path) as h:
        uac = h.caller("front_uac_refused.xml", host="127.0.0.2")
        assert await h.finished(uac) == [0], h.logs("errors")
        reply = await udp_exchange(h.front.port, invite(), source="127.0.0.2")
        assert reply.code == 403
        assert reply.get("server") is None and reply.get("user-agent") is None
        assert h.picks == []
        lines = [r for r in caplog.records if "refused SIP request from 127.0.0.2" in r.getMessage()]
        assert len(lines) == 1  # one line per source per window


async def test_a_phone_answering_the_challenge_is_forwarded_as_itself(tmp_path: Path) -> None:
    async with running(tmp_path, sip_inbound_allowed="192.0.2.1/32") as h:
        uas = await h.worker("front_uas.xml")
        uac = h.caller("front_uac_auth.xml", "-s", "alice", "-au", "alice", "-ap", "s3cret")
        assert await h.finished(uac, uas) == [0, 0], h.logs("errors")
        assert "X-Wirexa-Auth: phone=alice|" in h.logs("front_uas_")
        assert 'Proxy-Authenticate: Digest realm="wirexa"' in h.logs("front_uac_auth")


async def test_a_wrong_password_gets_407_again(tmp_path: Path) -> None:
    async with running(tmp_path, sip_inbound_allowed="192.0.2.1/32") as h:
        uac = h.caller("front_uac_badauth.xml", "-s", "alice", "-au", "alice", "-ap", "wrong")
        assert await h.finished(uac) == [0], h.logs("errors")
        assert h.picks == [] and h.front.forwarded == 0


async def test_the_carrier_must_answer_a_challenge_when_inbound_username_is_set(tmp_path: Path) -> None:
    async with running(tmp_path, sip_inbound_username="trunk", sip_inbound_password="tpw") as h:
        uas = await h.worker("front_uas.xml")
        uac = h.caller("front_uac_auth.xml", "-s", "+14155550123", "-au", "trunk", "-ap", "tpw")
        assert await h.finished(uac, uas) == [0, 0], h.logs("errors")
        assert "X-Wirexa-Auth: carrier|" in h.logs("front_uas_")


async def test_a_phone_registers_two_contacts_and_they_expire(tmp_path: Path) -> None:
    clock = Clock()
    async with running(tmp_path, clock=clock) as h:
        uac = h.caller("front_register.xml", "-s", "alice", "-au", "alice", "-ap", "s3cret")
        assert await h.finished(uac) == [0], h.logs("errors")
        bindings = h.front.registrar.contacts("alice")
        assert sorted(b.uri for b in bindings) == [
            f"sip:alice@127.0.0.1:{h.caller_port};transport=UDP",
            "sip:alice@192.0.2.10:5062;transport=tcp",
        ]
        assert {(b.source, b.transport) for b in bindings} == {(f"127.0.0.1:{h.caller_port}", "udp")}
        clock.offset = 121
        assert [b.uri for b in h.front.registrar.contacts("alice")] == ["sip:alice@192.0.2.10:5062;transport=tcp"]
        clock.offset = 601
        assert h.front.registrar.contacts("alice") == []


async def test_no_worker_with_room_is_100_then_after_the_wait_503_with_retry_after(tmp_path: Path) -> None:
    async with running(tmp_path, picks=[None], wait=0.3) as h:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller:
            caller.bind(("127.0.0.1", 0))
            caller.settimeout(2)
            caller.sendto(invite(), ("127.0.0.1", h.front.port))
            trying, refused = [as_response(await asyncio.to_thread(caller.recv, 65535)) for _ in range(2)]
        assert trying.code == 100 and refused.code == 503 and refused.get("retry-after") == "5"
        assert len(h.picks) > 2  # it looked again while it waited


async def test_an_invite_waiting_for_a_worker_drops_its_copies_and_can_be_canceled(tmp_path: Path) -> None:
    """A cold pool: no worker has room yet. The caller has the front's 100 at once; a copy sent
    meanwhile is dropped (one INVITE reaches the worker, once one has room); the worker's own
    100 stays in the front; a CANCEL of an INVITE still waiting is answered 200, the INVITE 487."""
    ports = free_udp_block(21000, 29000, 10, (1,))
    settings = config.load(
        overrides={"data_dir": str(tmp_path), "sip_inbound_port": 0, "sip_inbound_allowed": "127.0.0.1/32"}, env={}
    )
    room: list[tuple[str, int] | None] = [None]

    async def lookup(username: str) -> Credential | None:
        return None

    front = Front(settings, lambda: room[0], lookup, worker_wait_s=5.0)
    await front.start()
    try:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as worker,
        ):
            worker.bind(("127.0.0.1", ports + 1))
            caller.bind(("127.0.0.1", 0))
            caller.settimeout(2)
            worker.settimeout(2)
            via = f"127.0.0.1:{caller.getsockname()[1]}"
            data = request("INVITE", via_host=via)
            caller.sendto(data, ("127.0.0.1", front.port))
            assert as_response(await asyncio.to_thread(caller.recv, 65535)).code == 100
            caller.sendto(data, ("127.0.0.1", front.port))  # a copy sent before the 100 arrived
            await asyncio.sleep(0.1)
            room[0] = ("127.0.0.1", ports + 1)
            forwarded = parse(await asyncio.to_thread(worker.recv, 65535))
            assert isinstance(forwarded, Request) and forwarded.method == "INVITE"
            worker.settimeout(0.3)
            with pytest.raises(TimeoutError):
                await asyncio.to_thread(worker.recv, 65535)  # the copy never went anywhere
            worker.sendto(serialize(response_to(forwarded, 100)), ("127.0.0.1", front.port))
            worker.sendto(serialize(response_to(forwarded, 180, tag="w1")), ("127.0.0.1", front.port))
            assert as_response(await asyncio.to_thread(caller.recv, 65535)).code == 180

            room[0] = None
            other = request("INVITE", via_host=via, branch="z9hG4bKtest2")
            caller.sendto(other, ("127.0.0.1", front.port))
            assert as_response(await asyncio.to_thread(caller.recv, 65535)).code == 100
            caller.sendto(request("CANCEL", via_host=via, branch="z9hG4bKtest2"), ("127.0.0.1", front.port))
            answers = [as_response(await asyncio.to_thread(caller.recv, 65535)) for _ in range(2)]
            assert sorted((r.code, r.get("cseq")) for r in answers) == [(200, "1 CANCEL"), (487, "1 INVITE")]
            with pytest.raises(TimeoutError):
                await asyncio.to_thread(worker.recv, 65535)  # a canceled INVITE reaches no worker
    finally:
        await front.close()


async def test_options_in_dialog_requests_and_garbage(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        assert (await udp_exchange(h.front.port, request("OPTIONS"))).code == 200
        assert (await udp_exchange(h.front.port, request("OPTIONS"), source="127.0.0.2")).code == 403
        assert (await udp_exchange(h.front.port, request("BYE", to_tag=True))).code == 481
        assert (await udp_exchange(h.front.port, request("SUBSCRIBE"))).code == 405
        assert (await udp_exchange(h.front.port, request("BYE"))).code == 481
        assert (await udp_exchange(h.front.port, request("SUBSCRIBE"), source="127.0.0.2")).code == 403
        with pytest.raises(TimeoutError):
            await asyncio.to_thread(udp_roundtrip, h.front.port, b"\x00\xffnot sip\r\n\r\n", "127.0.0.1", 0.3)
        assert (await udp_exchange(h.front.port, request("OPTIONS"))).code == 200  # still there


async def test_a_draining_engine_answers_options_503(tmp_path: Path) -> None:
    """Kamailio's dispatcher probes the engines with OPTIONS and counts only 2xx as up: while the
    engine drains, its OPTIONS get 503 (the Kamailio e2e is tests/cluster/test_kamailio.py)."""
    draining = [False]
    async with running(tmp_path) as h:
        h.front.draining = lambda: draining[0]
        assert (await udp_exchange(h.front.port, request("OPTIONS"))).code == 200
        draining[0] = True
        answer = await udp_exchange(h.front.port, request("OPTIONS"))
        assert (answer.code, answer.get("retry-after")) == (503, "5")
        assert (await udp_exchange(h.front.port, request("OPTIONS"), source="127.0.0.2")).code == 403
        draining[0] = False
        assert (await udp_exchange(h.front.port, request("OPTIONS"))).code == 200


async def test_tls(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    async with running(
        tmp_path, sip_inbound_tls_cert=str(cert), sip_inbound_tls_key=str(key), sip_inbound_tls_port=0
    ) as h:
        assert h.front.tls_port
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        reader, writer = await asyncio.open_connection("127.0.0.1", h.front.tls_port, ssl=ctx)
        writer.write(b"\r\n\r\n" + request("OPTIONS", transport="TLS"))
        assert await asyncio.wait_for(reader.readexactly(2), 2) == b"\r\n"  # the keepalive's pong
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
        assert parse(head).code == 200  # type: ignore[union-attr]
        writer.close()


async def test_a_retransmission_goes_to_the_same_worker_and_only_the_workers_responses_come_back(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as h:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as worker,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as intruder,
        ):
            worker.bind(("127.0.0.1", h.worker_port))
            caller.bind(("127.0.0.1", 0))
            for s in (caller, worker, intruder):
                s.settimeout(2)
            data = request("INVITE", via_host=f"127.0.0.1:{caller.getsockname()[1]}")
            caller.sendto(data, ("127.0.0.1", h.front.port))
            first = parse(await asyncio.to_thread(worker.recv, 65535))
            caller.sendto(data, ("127.0.0.1", h.front.port))
            second = parse(await asyncio.to_thread(worker.recv, 65535))
            assert first.get_all("via") == second.get_all("via") and len(h.picks) == 1
            assert second.get_all("x-wirexa-auth") == ["carrier"]
            assert isinstance(first, Request)
            assert as_response(await asyncio.to_thread(caller.recv, 65535)).code == 100  # the front's own, once
            ringing = serialize(response_to(first, 180, tag="w1"))
            intruder.sendto(ringing, ("127.0.0.1", h.front.port))  # not the worker the INVITE went to
            worker.sendto(ringing, ("127.0.0.1", h.front.port))
            back = parse(await asyncio.to_thread(caller.recv, 65535))
            assert isinstance(back, Response) and back.code == 180
            assert back.get_all("via") == [
                f"SIP/2.0/UDP 127.0.0.1:{caller.getsockname()[1]};branch=z9hG4bKtest1;rport={caller.getsockname()[1]}"
            ]
            caller.settimeout(0.3)
            with pytest.raises(TimeoutError):
                await asyncio.to_thread(caller.recv, 65535)  # the intruder's copy was dropped


async def test_refusals_around_cancel_register_hops_and_size(tmp_path: Path) -> None:
    async with running(tmp_path) as h:
        assert (await udp_exchange(h.front.port, request("CANCEL"))).code == 481
        assert (await udp_exchange(h.front.port, request("CANCEL"), source="127.0.0.2")).code == 403
        challenge = await udp_exchange(h.front.port, request("REGISTER", user="alice"), source="127.0.0.2")
        assert challenge.code == 401 and challenge.get("www-authenticate").startswith('Digest realm="wirexa"')
        assert (await udp_exchange(h.front.port, request("REGISTER", user="mallory"))).code == 403
        assert (await udp_exchange(h.front.port, request("REGISTER", user="wirexa-sandbox"))).code == 403
        assert (await udp_exchange(h.front.port, request("INVITE", max_forwards=0))).code == 483
        assert (await udp_exchange(h.front.port, request("INVITE", body="a" * 5000))).code == 513
        assert h.picks == [] and h.front.forwarded == 0  # answered before a worker was picked


@pytest.mark.parametrize(("trunk", "allowed"), [("localhost:5080", True), ("", False)])
async def test_without_inbound_allowed_the_trunk_hosts_addresses_are_the_carrier(
    tmp_path: Path, trunk: str, allowed: bool
) -> None:
    async with running(tmp_path, sip_inbound_allowed="", sip_trunk_host=trunk) as h:
        assert (await udp_exchange(h.front.port, request("OPTIONS"))).code == (200 if allowed else 403)
        assert (await udp_exchange(h.front.port, request("OPTIONS"), source="127.0.0.2")).code == 403


PJSUA2_WORKER = """
import json, sys, threading
import pjsua2 as pj

def say(**event):
    print(json.dumps(event), flush=True)

class Worker(pj.Account):
    def __init__(self):
        super().__init__()
        self.calls = []

    def onIncomingCall(self, prm):
        call = WorkerCall(self, prm.callId)
        self.calls.append(call)
        msg = prm.rdata.wholeMsg
        say(ev="incoming", auth=[l for l in msg.splitlines() if l.startswith("X-Wirexa-Auth:")])
        for code in (180, 200):
            op = pj.CallOpParam()
            op.statusCode = code
            call.answer(op)

class WorkerCall(pj.Call):
    def onCallState(self, prm):
        say(ev="state", state=self.getInfo().stateText)

port = int(sys.argv[1])
ep = pj.Endpoint()
ep.libCreate()
cfg = pj.EpConfig()
cfg.uaConfig.threadCnt = 0
cfg.uaConfig.mainThreadOnly = True
cfg.logConfig.consoleLevel = 0
cfg.logConfig.level = 0
ep.libInit(cfg)
tc = pj.TransportConfig()
tc.port = port
tc.boundAddress = "127.0.0.1"
ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
ep.audDevManager().setNullDev()
ep.libStart()
acfg = pj.AccountConfig()
acfg.idUri = f"sip:worker@127.0.0.1:{port}"
acfg.mediaConfig.transportConfig.port = int(sys.argv[2])
acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
worker = Worker()
worker.create(acfg, True)
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
say(ev="ready")
while not stop.is_set():
    ep.libHandleEvents(10)
ep.hangupAllCalls()
for _ in range(20):
    ep.libHandleEvents(10)
worker.calls.clear()
ep.libDestroy()
"""


async def test_a_pjsua2_endpoint_takes_the_forwarded_invite_and_the_dialog(tmp_path: Path) -> None:
    """The forwarded INVITE (two Vias, our X-Wirexa headers) is one pjsip takes as it is: the call
    is confirmed by the caller's ACK sent to pjsip's Contact, and the caller's BYE ends it."""
    import sys

    script = tmp_path / "worker.py"
    script.write_text(PJSUA2_WORKER)
    rtp = free_udp_block(30000, 59000, 10, (0, 1))
    async with running(tmp_path) as h:
        worker = subprocess.Popen(
            [sys.executable, str(script), str(h.worker_port), str(rtp)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert worker.stdout is not None
            line = ""
            while '"ready"' not in line:  # pjlib prints a banner of its own first
                line = await asyncio.wait_for(asyncio.to_thread(worker.stdout.readline), 10)
                assert line, "the pjsua2 worker exited"
            uac = h.caller("front_uac.xml")
            assert await h.finished(uac) == [0], h.logs("errors")
            await asyncio.sleep(0.3)
        finally:
            assert worker.stdin is not None
            worker.stdin.close()
            assert worker.stdout is not None
            out = await asyncio.wait_for(asyncio.to_thread(worker.stdout.read), 10)
            worker.wait(5)
            worker.stdout.close()
        events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert {"ev": "incoming", "auth": ["X-Wirexa-Auth: carrier"]} in events
        states = [e["state"] for e in events if e["ev"] == "state"]
        assert "CONFIRMED" in states and states[-1] == "DISCONNECTED"


async def test_a_bad_certificate_fails_start_and_leaves_nothing_bound(tmp_path: Path) -> None:
    (tmp_path / "bad.pem").write_text("not a certificate")
    values = {"data_dir": str(tmp_path), "sip_inbound_port": 0, "sip_inbound_tls_port": 0}
    settings = config.load(
        overrides={
            **values,
            "sip_inbound_tls_cert": str(tmp_path / "bad.pem"),
            "sip_inbound_tls_key": str(tmp_path / "bad.pem"),
        },
        env={},
    )

    async def nobody(username: str) -> Credential | None:
        return None

    front = Front(settings, lambda: None, nobody)
    with pytest.raises(ssl.SSLError):
        await front.start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", front.port))  # the UDP port is free again


# --- helpers ---------------------------------------------------------------------------------------


def request(
    method: str,
    to_tag: bool = False,
    transport: str = "UDP",
    branch: str = "z9hG4bKtest1",
    via_host: str = "127.0.0.1:5999",
    user: str = "+15005550100",
    max_forwards: int = 70,
    body: str = "",
) -> bytes:
    tag = ";tag=abc" if to_tag else ""
    return (
        f"{method} sip:{user}@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/{transport} {via_host};branch={branch}\r\n"
        "From: <sip:+14155550123@127.0.0.1>;tag=x1\r\n"
        f"To: <sip:{user}@127.0.0.1>{tag}\r\n"
        "Call-ID: test-1\r\n"
        f"CSeq: 1 {method}\r\n"
        f"Max-Forwards: {max_forwards}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def as_response(data: bytes) -> Response:
    msg = parse(data)
    assert isinstance(msg, Response), msg
    return msg


def invite() -> bytes:
    return request("INVITE")


async def udp_exchange(port: int, data: bytes, source: str = "127.0.0.1") -> Any:
    """Send `data` from `source` to the front and parse its answer (a socket on a thread: the
    front runs on this loop)."""
    return parse(await asyncio.to_thread(udp_roundtrip, port, data, source, 2.0))


def udp_roundtrip(port: int, data: bytes, source: str, timeout: float) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(timeout)
        s.sendto(data, ("127.0.0.1", port))
        return s.recv(65535)


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wirexa.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_a_worker_whose_library_is_full_hands_the_invite_to_another(tmp_path: Path) -> None:
    """A 486 before any provisional is a worker's library refusing a call beyond its slots (an
    INVITE it took answers 100 first): the front tells the pool and sends the INVITE to another
    worker; the caller never sees that 486. A 486 after a 100 (a <Reject reason="busy">) goes back."""
    ports = free_udp_block(21000, 29000, 10, (1, 2, 3))
    settings = config.load(
        overrides={"data_dir": str(tmp_path), "sip_inbound_port": 0, "sip_inbound_allowed": "127.0.0.1/32"}, env={}
    )
    full, roomy = ("127.0.0.1", ports + 1), ("127.0.0.1", ports + 2)
    picks = [full, roomy, roomy]
    reported: list[tuple[str, int]] = []

    async def lookup(username: str) -> Credential | None:
        return None

    front = Front(settings, lambda: picks.pop(0), lookup, worker_full=reported.append)
    await front.start()
    try:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as first,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as second,
        ):
            first.bind(full)
            second.bind(roomy)
            caller.bind(("127.0.0.1", 0))
            for s in (caller, first, second):
                s.settimeout(2)
            caller.sendto(request("INVITE", via_host=f"127.0.0.1:{caller.getsockname()[1]}"), ("127.0.0.1", front.port))
            invite = parse(await asyncio.to_thread(first.recv, 65535))
            assert isinstance(invite, Request)
            first.sendto(serialize(response_to(invite, 486, tag="full")), ("127.0.0.1", front.port))
            again = parse(await asyncio.to_thread(second.recv, 65535))
            assert isinstance(again, Request) and again.get_all("via") == invite.get_all("via")
            assert reported == [full]
            second.sendto(serialize(response_to(again, 100)), ("127.0.0.1", front.port))
            second.sendto(serialize(response_to(again, 486, tag="busy")), ("127.0.0.1", front.port))
            codes = [parse(await asyncio.to_thread(caller.recv, 65535)) for _ in range(2)]
            assert [r.code for r in codes if isinstance(r, Response)] == [
                100,
                486,
            ]  # the front's 100, the <Reject>'s 486
    finally:
        await front.close()


async def test_an_invite_every_worker_refuses_gets_503_not_486(tmp_path: Path) -> None:
    """Three workers' libraries full in turn (MAX_TRIES): the caller gets the front's 100 and then
    503 with Retry-After, never a worker's 486 (busy is the callee's word, not the engine's)."""
    ports = free_udp_block(21000, 29000, 10, (1,))
    settings = config.load(
        overrides={"data_dir": str(tmp_path), "sip_inbound_port": 0, "sip_inbound_allowed": "127.0.0.1/32"}, env={}
    )
    full = ("127.0.0.1", ports + 1)

    async def lookup(username: str) -> Credential | None:
        return None

    reported: list[tuple[str, int]] = []
    front = Front(settings, lambda: full, lookup, worker_full=reported.append, worker_wait_s=0.2)
    await front.start()
    try:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as worker,
        ):
            worker.bind(full)
            caller.bind(("127.0.0.1", 0))
            for s in (caller, worker):
                s.settimeout(2)
            caller.sendto(request("INVITE", via_host=f"127.0.0.1:{caller.getsockname()[1]}"), ("127.0.0.1", front.port))
            for _ in range(3):
                invite = parse(await asyncio.to_thread(worker.recv, 65535))
                assert isinstance(invite, Request)
                worker.sendto(serialize(response_to(invite, 486, tag="full")), ("127.0.0.1", front.port))
            answers = [as_response(await asyncio.to_thread(caller.recv, 65535)) for _ in range(2)]
            assert [r.code for r in answers] == [100, 503] and answers[1].get("retry-after") == "5"
            assert reported == [full] * 3
    finally:
        await front.close()


async def test_invites_waiting_for_a_worker_are_served_in_order_by_one_pump(tmp_path: Path) -> None:
    """Thirty INVITEs arrive while no worker has room: each gets the front's 100; once a worker
    has room they reach it in the order they came, and the pool was asked about once per poll
    (WORKER_POLL_S), not once per INVITE per poll."""
    ports = free_udp_block(21000, 29000, 10, (1,))
    settings = config.load(
        overrides={"data_dir": str(tmp_path), "sip_inbound_port": 0, "sip_inbound_allowed": "127.0.0.1/32"}, env={}
    )
    room: list[tuple[str, int] | None] = [None]
    asked = [0]

    def pick() -> tuple[str, int] | None:
        asked[0] += 1
        return room[0]

    async def lookup(username: str) -> Credential | None:
        return None

    front = Front(settings, pick, lookup, worker_wait_s=5.0)
    await front.start()
    try:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as worker,
        ):
            worker.bind(("127.0.0.1", ports + 1))
            caller.bind(("127.0.0.1", 0))
            caller.settimeout(2)
            worker.settimeout(2)
            via = f"127.0.0.1:{caller.getsockname()[1]}"
            for n in range(30):
                caller.sendto(request("INVITE", via_host=via, branch=f"z9hG4bKwait{n}"), ("127.0.0.1", front.port))
            for _ in range(30):
                assert as_response(await asyncio.to_thread(caller.recv, 65535)).code == 100
            await asyncio.sleep(0.5)
            room[0] = ("127.0.0.1", ports + 1)
            got = []
            for _ in range(30):
                fwd = parse(await asyncio.to_thread(worker.recv, 65535))
                assert isinstance(fwd, Request)
                got.append(fwd.get_all("via")[1].split("branch=")[1].split(";")[0])
            assert got == [f"z9hG4bKwait{n}" for n in range(30)]
            polls = 0.5 / WORKER_POLL_S
            assert asked[0] <= 30 + 2 * polls + 30, asked[0]  # one look per INVITE, one per poll, one per placement
    finally:
        await front.close()
