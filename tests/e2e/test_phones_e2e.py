"""Desk phones end to end (issue 23, item 7): phones added with `wirexa phones add` REGISTER to
`wirexa serve`'s inbound front with digest (SIPp), a carrier's call whose TwiML dials
<Client>alice</Client> rings both of alice's phones at once and is bridged to the one that
answers, a call from a phone runs [sip] phones_voice_url, and a wrong password leaves no binding:
dialling that phone ends the <Dial> at once with a notification and no INVITE goes out."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.backends import free_udp_block
from tests.conftest import LiveServer, engine_fixture
from tests.e2e.test_engine_e2e import wait_final
from tests.e2e.webapp import WebApp

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

SIPP = Path(__file__).parent.parent / "data" / "sipp"
OFFICE = "+15005550200"  # <Dial><Client>alice</Client>, action /after-alice
NOBODY = "+15005550201"  # <Dial><Client>bob</Client>: bob never registered (a wrong password)
ALICE = "alice-desk-pw"
BOB = "bob-desk-pw-1"
PHONE = "127.0.0.2"  # a phone calling out is not in the carrier's networks: it must answer a challenge


@pytest.fixture(scope="module")
def web() -> Iterator[WebApp]:
    app = WebApp()
    app.docs["/office"] = '<Response><Dial action="/after-alice" timeout="10"><Client>alice</Client></Dial></Response>'
    app.docs["/after-alice"] = "<Response><Hangup/></Response>"
    app.docs["/nobody"] = '<Response><Dial action="/after-bob" timeout="10"><Client>bob</Client></Dial></Response>'
    app.docs["/after-bob"] = "<Response><Hangup/></Response>"
    app.docs["/desk"] = "<Response><Say>You called from your desk phone.</Say></Response>"
    app.docs["/status"] = ""
    yield app
    app.close()


# The carrier is 127.0.0.1 (SIPp); calls from the phones run the web app's /desk.
engine = engine_fixture(
    "phones-engine",
    env=lambda request: {
        "WIREXA_SIP_INBOUND_ALLOWED": "127.0.0.1/32",
        "WIREXA_SIP_PHONES_VOICE_URL": request.getfixturevalue("web").url("/desk"),
    },
)


@pytest.fixture(scope="module")
def office(engine: LiveServer, web: WebApp) -> LiveServer:
    """The engine with the office's numbers, alice and bob added with the CLI."""
    client = engine.client()
    for number, url in ((OFFICE, "/office"), (NOBODY, "/nobody")):
        client.incoming_phone_numbers.create(phone_number=number, voice_url=web.url(url))
    for name, password in (("alice", ALICE), ("bob", BOB)):
        out = subprocess.run(
            [sys.executable, "-m", "wirexa", "phones", "add", name, "--password", password]
            + ["--data-dir", str(engine.data_dir)],
            capture_output=True,
            text=True,
            env=engine.env,
            timeout=30,
        )
        assert out.returncode == 0, out.stdout + out.stderr
    return engine


class Sipp:
    """SIPp runs of one test, in its folder (their -trace_msg files are read back)."""

    def __init__(self, tmp_path: Path, engine: LiveServer) -> None:
        self.tmp_path = tmp_path
        self.front = f"127.0.0.1:{engine.env['WIREXA_SIP_INBOUND_PORT']}"
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, scenario: str, port: int, *extra: str, host: str = "127.0.0.1") -> subprocess.Popen[bytes]:
        media = free_udp_block(30000, 32000, 10, (0, 1, 2, 3))
        argv = ["sipp", "-sf", str(SIPP / scenario), "-i", host, "-p", str(port), "-mp", str(media), "-m", "1"]
        argv += ["-nostdin", "-timeout", "15s", "-timeout_error", "-trace_err", "-trace_msg", "-trace_logs", *extra]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.tmp_path)
        self.procs.append(proc)
        return proc

    def to_front(self, scenario: str, port: int, *extra: str, host: str = "127.0.0.1") -> subprocess.Popen[bytes]:
        return self.start(scenario, port, *extra, self.front, host=host)

    def listening(self, scenario: str, port: int) -> subprocess.Popen[bytes]:
        """A UAS on `port`, once SIPp has bound it."""
        proc = self.start(scenario, port)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and proc.poll() is None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    return proc
            time.sleep(0.02)
        raise AssertionError(f"SIPp {scenario} did not bind {port}: {self.logs('errors')}")

    def finished(self, *procs: subprocess.Popen[bytes], timeout: float = 20.0) -> list[int]:
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise AssertionError(f"SIPp still running; logs: {self.logs()}") from None
        return [int(p.returncode) for p in procs]

    def logs(self, kind: str = "") -> str:
        """The text of this test's SIPp trace files whose name has `kind`."""
        return "".join(p.read_text(errors="replace") for p in sorted(self.tmp_path.glob(f"*{kind}*.log")))

    def received(self, scenario: str, method: str) -> list[datetime]:
        """When a SIPp run of `scenario` received each `method` request (its -trace_msg)."""
        text = self.logs(scenario.removesuffix(".xml") + "_")
        stamps = re.findall(r"-{10,} (\S+)\s+(\S+)\s*\nUDP message received[^\n]*\n\n" + method + " ", text)
        return [datetime.strptime(f"{day} {clock}", "%Y-%m-%d %H:%M:%S.%f") for day, clock in stamps]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def sipp(tmp_path: Path, office: LiveServer) -> Iterator[Sipp]:
    runs = Sipp(tmp_path, office)
    yield runs
    runs.close()


def sip_port() -> int:
    return free_udp_block(10000, 19000, 10, (0,))


def newest(engine: LiveServer, to: str) -> Any:
    [call] = engine.client().calls.list(to=to, limit=1)
    return call


def test_a_carrier_call_to_client_alice_rings_both_her_phones_and_bridges_the_one_that_answers(
    office: LiveServer, web: WebApp, sipp: Sipp
) -> None:
    desk = kitchen = sip_port()
    while kitchen == desk:
        kitchen = sip_port()
    for port in (desk, kitchen):
        registering = sipp.to_front("phone_register.xml", port, "-s", "alice", "-au", "alice", "-ap", ALICE)
        assert sipp.finished(registering) == [0], sipp.logs()  # 401, then 200 for the digest
    answers = sipp.listening("phone_answer.xml", desk)
    rings = sipp.listening("phone_ring.xml", kitchen)
    carrier = sipp.to_front("phone_carrier.xml", sip_port(), "-s", OFFICE)
    assert sipp.finished(carrier, answers, rings) == [0, 0, 0], sipp.logs()
    # Both phones got the INVITE at once; the kitchen's got the CANCEL (487) when the desk answered.
    [desk_invite], [kitchen_invite] = sipp.received("phone_answer", "INVITE"), sipp.received("phone_ring", "INVITE")
    assert abs((desk_invite - kitchen_invite).total_seconds()) < 0.5
    [cancel] = sipp.received("phone_ring", "CANCEL")
    assert 0.8 < (cancel - kitchen_invite).total_seconds() < 5  # the desk picks up after a second

    parent = wait_final(office.client(), newest(office, OFFICE).sid)
    assert (parent.status, parent.direction, parent.to) == ("completed", "inbound", OFFICE)
    legs = office.client().calls.list(parent_call_sid=parent.sid)
    assert sorted(leg.to for leg in legs) == sorted(f"sip:alice@127.0.0.1:{p}" for p in (desk, kitchen)), legs
    ended = {leg.to: wait_final(office.client(), leg.sid) for leg in legs}
    answered = ended[f"sip:alice@127.0.0.1:{desk}"]
    assert (answered.direction, answered.status) == ("outbound-dial", "completed") and int(answered.duration) >= 1
    assert ended[f"sip:alice@127.0.0.1:{kitchen}"].status == "canceled"
    [after] = web.wait("/after-alice", parent.sid)
    assert after.form["DialCallStatus"] == "completed" and after.form["DialCallSid"] == answered.sid


def test_a_call_from_a_registered_phone_runs_the_phones_voice_url(office: LiveServer, web: WebApp, sipp: Sipp) -> None:
    port = sip_port()
    caller = sipp.to_front(
        "phone_call.xml", port, "-s", "alice", "-au", "alice", "-ap", ALICE, "-key", "dialled", "2001", host=PHONE
    )
    assert sipp.finished(caller) == [0], sipp.logs()  # 407, INVITE with Proxy-Authorization, 200, the engine's BYE
    assert "Proxy-Authorization: Digest" in sipp.logs("phone_call_")
    call = wait_final(office.client(), newest(office, "sip:2001@wirexa").sid)
    assert (call.status, call._from, call.direction) == ("completed", "sip:alice@wirexa", "inbound")
    assert int(call.duration) >= 1  # the <Say> answered it and was spoken
    [first] = web.wait("/desk", call.sid)
    form = first.form
    assert (form["From"], form["To"], form["Direction"], form["CallStatus"]) == (
        "sip:alice@wirexa", "sip:2001@wirexa", "inbound", "ringing",
    )  # fmt: skip
    assert form["AccountSid"] == office.project_id and "X-Twilio-Signature" in first.headers


def test_a_wrong_password_registers_nothing_and_dialling_that_phone_ends_the_dial_at_once(
    office: LiveServer, web: WebApp, sipp: Sipp
) -> None:
    port = sip_port()
    refused = sipp.to_front("phone_register_refused.xml", port, "-s", "bob", "-au", "bob", "-ap", "not-" + BOB)
    assert sipp.finished(refused) == [0], sipp.logs()  # 401, then 401 again
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:  # where bob's INVITE would come
        phone.bind(("127.0.0.1", port))
        phone.settimeout(0.05)
        carrier = sipp.to_front("phone_carrier.xml", sip_port(), "-s", NOBODY)
        assert sipp.finished(carrier) == [0], sipp.logs()  # answered, then the engine's BYE after the Dial
        with pytest.raises(TimeoutError):
            phone.recv(65535)
    parent = wait_final(office.client(), newest(office, NOBODY).sid)
    assert parent.status == "completed"
    assert office.client().calls.list(parent_call_sid=parent.sid) == []  # no leg: no INVITE anywhere
    [after] = web.wait("/after-bob", parent.sid)
    assert after.form["DialCallStatus"] == "failed"
    assert after.t - web.to("/nobody", parent.sid)[0].t < 2  # the Dial ended at once, not after its timeout
    notes = office.client().calls(parent.sid).notifications.list()
    assert [(n.error_code, "bob is not registered" in n.message_text) for n in notes] == [("13224", True)]
