"""Inbound calls end to end (issue 23): a carrier's INVITE (SIPp, and a plain SIP UAC for the
refusals) reaches `wirexa serve` through its inbound front, the number registered with
twilio-python runs its VoiceUrl (Twilio's inbound parameters), and the call lives, ends and reads
in the API as Twilio reports it; the failures (404, <Reject>, a failing or slow VoiceUrl with and
without a fallback, a caller who hangs up while the URL loads) end as Twilio's do; the sandbox
caller (`wirexa sandbox dial-in`) hears the application error prompt and a call forwarded to the
sandbox person."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import free_port
from tests.conftest import LiveServer, engine_fixture
from tests.e2e.test_engine_e2e import wait_final
from tests.e2e.webapp import WebApp

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

SIPP = Path(__file__).parent.parent / "data" / "sipp"
NUMBER = "+15005550100"  # the IVR: its VoiceUrl is /ivr
FAILING = "+15005550101"  # VoiceUrl 500, fallback /fallback
BROKEN = "+15005550102"  # VoiceUrl 500, fallback 500: the caller hears the error prompt
SLOW = "+15005550103"  # VoiceUrl answers after 3 s (the engine's document timeout is 1.5 s)
BUSY = "+15005550104"  # <Reject reason="busy"/>
REJECT = "+15005550105"  # <Reject/>
FORWARD = "+15005550106"  # <Dial> to the sandbox person

# The carrier is 127.0.0.1 (SIPp and the UAC here); a document that takes longer than 1.5 s failed.
engine = engine_fixture(
    "inbound-engine",
    env={"WIREXA_SIP_INBOUND_ALLOWED": "127.0.0.1/32", "WIREXA_CALLS_DOCUMENT_TIMEOUT_S": "1.5"},
)


@pytest.fixture(scope="module")
def web(engine: LiveServer) -> Iterator[WebApp]:
    app = WebApp()
    app.docs["/ivr"] = '<Response><Say>Thank you for calling the office.</Say><Pause length="5"/></Response>'
    app.docs["/fallback"] = "<Response><Say>Our fallback answers.</Say></Response>"
    app.docs["/busy"] = '<Response><Reject reason="busy"/></Response>'
    app.docs["/reject"] = "<Response><Reject/></Response>"
    app.docs["/forward"] = "<Response><Dial>+15005550006</Dial></Response>"

    def slow(request: Any) -> str:
        time.sleep(3)
        return "<Response><Say>too late</Say></Response>"

    app.docs["/slow"] = slow
    app.docs["/status"] = ""
    app.statuses["/error500"] = 500
    client = engine.client()
    for number, url, fallback in (
        (NUMBER, "/ivr", None),
        (FAILING, "/error500", "/fallback"),
        (BROKEN, "/error500", "/error500"),
        (SLOW, "/slow", None),
        (BUSY, "/busy", None),
        (REJECT, "/reject", None),
        (FORWARD, "/forward", None),
    ):
        client.incoming_phone_numbers.create(
            phone_number=number,
            voice_url=app.url(url),
            voice_fallback_url=app.url(fallback) if fallback else None,
            status_callback=app.url("/status"),
        )
    yield app
    app.close()


def inbound_port(engine: LiveServer) -> int:
    return int(engine.env["WIREXA_SIP_INBOUND_PORT"])


def newest_inbound(engine: LiveServer, to: str) -> Any:
    [call] = engine.client().calls.list(to=to, limit=1)
    assert call.direction == "inbound"
    return call


class Uac:
    """A carrier's UAC over UDP, for what SIPp's scenarios would need one each: an INVITE with
    SDP to the front, and then ACK/BYE to the dialog's Contact, or a CANCEL."""

    def __init__(self, port: int, to: str, source: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((source, 0))
        self.me = self.sock.getsockname()[1]
        self.front = ("127.0.0.1", port)
        self.to = to
        self.call_id = f"uac-{self.me}-{time.monotonic_ns()}"
        self.via = f"SIP/2.0/UDP 127.0.0.1:{self.me};branch=z9hG4bKuac{self.me};rport"
        self.heads: list[str] = []

    def _msg(self, start: str, cseq: str, via: str, to_tag: str = "", extra: str = "", body: str = "") -> bytes:
        ctype = "Content-Type: application/sdp\r\n" if body else ""
        return (
            f"{start}\r\nVia: {via}\r\nMax-Forwards: 70\r\n"
            f"From: <sip:+14155550123@127.0.0.1>;tag=uac{self.me}\r\nTo: <sip:{self.to}@127.0.0.1>{to_tag}\r\n"
            f"Call-ID: {self.call_id}\r\nCSeq: {cseq}\r\nContact: <sip:carrier@127.0.0.1:{self.me}>\r\n"
            f"{extra}{ctype}Content-Length: {len(body)}\r\n\r\n{body}"
        ).encode()

    def invite(self) -> None:
        sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
        self.sock.sendto(
            self._msg(f"INVITE sip:{self.to}@127.0.0.1 SIP/2.0", "1 INVITE", self.via, body=sdp), self.front
        )

    def until_final(self, timeout: float = 10.0) -> str:
        """Responses until a final one: its whole text (the status lines are in .heads)."""
        self.sock.settimeout(timeout)
        while True:
            text = self.sock.recv(65535).decode(errors="replace")
            self.heads.append(text.split("\r\n", 1)[0])
            if not self.heads[-1].startswith("SIP/2.0 1"):
                return text

    def cancel(self) -> None:
        self.sock.sendto(self._msg(f"CANCEL sip:{self.to}@127.0.0.1 SIP/2.0", "1 CANCEL", self.via), self.front)

    def ack_non_2xx(self, final: str) -> None:
        to = next(line for line in final.split("\r\n") if line.lower().startswith("to:"))
        tag = to[to.index(">") + 1 :] if ">" in to else ""
        self.sock.sendto(self._msg(f"ACK sip:{self.to}@127.0.0.1 SIP/2.0", "1 ACK", self.via, tag), self.front)

    def close(self) -> None:
        self.sock.close()


def refused(engine: LiveServer, to: str) -> str:
    uac = Uac(inbound_port(engine), to)
    try:
        uac.invite()
        final = uac.until_final()
        uac.ack_non_2xx(final)
        return uac.heads[-1]
    finally:
        uac.close()


def dial_in(engine: LiveServer, to: str, *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "wirexa", "sandbox", "dial-in", to, "--json", "--data-dir", str(engine.data_dir), *args],
        capture_output=True,
        text=True,
        env=engine.env,
        timeout=90,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    said: dict[str, Any] = json.loads(out.stdout)
    return said


@pytest.mark.parametrize(
    ("scenario", "transport"),
    [("carrier_call.xml", "u1"), ("carrier_call.xml", "tn"), ("carrier_call_late.xml", "u1")],
    ids=["udp", "tcp", "udp-late-offer"],
)
def test_a_carrier_call_through_the_front_runs_the_numbers_voice_url(
    engine: LiveServer, web: WebApp, scenario: str, transport: str, tmp_path: Path
) -> None:
    assert shutil.which("sipp")
    carrier = subprocess.run(
        [
            "sipp",
            "-sf",
            str(SIPP / scenario),
            "-s",
            NUMBER,
            "-t",
            transport,
            "-max_socket",
            "100",
            "-i",
            "127.0.0.1",
            "-p",
            str(free_port()),
            "-m",
            "1",
            "-nostdin",
            "-timeout",
            "20s",
            f"127.0.0.1:{inbound_port(engine)}",
        ],  # fmt: skip
        capture_output=True,
        cwd=tmp_path,
        timeout=40,
    )
    assert carrier.returncode == 0, carrier.stderr.decode()[-3000:]  # 180, 200, ACK, BYE and its 200
    call = wait_final(engine.client(), newest_inbound(engine, NUMBER).sid)
    assert (call.status, call._from, call.to, call.forwarded_from) == (
        "completed",
        "+14155550199",
        NUMBER,
        "+13105550000",
    )
    assert call.phone_number_sid.startswith("PN") and int(call.duration) >= 1
    [first] = [r for r in web.to("/ivr", call.sid)][:1]
    form = first.form
    assert (form["CallStatus"], form["Direction"], form["Caller"], form["Called"]) == (
        "ringing", "inbound", "+14155550199", NUMBER,
    )  # fmt: skip
    assert form["ForwardedFrom"] == "+13105550000" and "X-Twilio-Signature" in first.headers
    [done] = web.wait("/status", call.sid)
    assert done.form["CallStatus"] == "completed" and done.form["Direction"] == "inbound"


def test_unknown_numbers_404_and_reject_486_603_never_answered(engine: LiveServer, web: WebApp) -> None:
    assert refused(engine, "+15005550199") == "SIP/2.0 404 Not Found"
    assert refused(engine, BUSY) == "SIP/2.0 486 Busy Here"
    assert wait_final(engine.client(), newest_inbound(engine, BUSY).sid).status == "busy"
    assert refused(engine, REJECT).startswith("SIP/2.0 603")
    rejected = wait_final(engine.client(), newest_inbound(engine, REJECT).sid)
    assert rejected.status == "no-answer" and rejected.start_time is not None and rejected.duration in (None, "0")


def test_a_failing_voice_url_goes_to_the_fallback_with_the_error(engine: LiveServer, web: WebApp) -> None:
    uac = Uac(inbound_port(engine), FAILING)
    try:
        uac.invite()
        assert uac.until_final().startswith("SIP/2.0 200")  # the fallback's <Say> answered it
    finally:
        uac.close()
    sid = newest_inbound(engine, FAILING).sid
    [hit] = web.wait("/fallback", sid)
    assert hit.form["ErrorCode"] == "11200" and hit.form["ErrorUrl"] == web.url("/error500"), hit.form
    engine.client().calls(sid).update(status="completed")  # the UAC sends no ACK: end it here
    notes = engine.client().calls(sid).notifications.list()
    assert [n.error_code for n in notes] == ["11200"]


def test_a_caller_who_hangs_up_while_the_url_loads_leaves_a_canceled_call(engine: LiveServer, web: WebApp) -> None:
    uac = Uac(inbound_port(engine), SLOW)
    try:
        uac.invite()
        while "SIP/2.0 180 Ringing" not in uac.heads:
            uac.sock.settimeout(5)
            uac.heads.append(uac.sock.recv(65535).decode(errors="replace").split("\r\n", 1)[0])
        uac.cancel()
        final = uac.until_final()
        while not final.startswith("SIP/2.0 487"):  # the CANCEL's own 200 comes first
            final = uac.until_final()
        uac.ack_non_2xx(final)
    finally:
        uac.close()
    call = wait_final(engine.client(), newest_inbound(engine, SLOW).sid)
    assert call.status == "canceled"
    time.sleep(3)  # the slow document arrives after all: the call stays canceled
    assert engine.client().calls(call.sid).fetch().status == "canceled"


def test_the_sandbox_caller_hears_the_error_prompt_when_voice_url_and_fallback_fail(
    engine: LiveServer, web: WebApp
) -> None:
    heard = dial_in(engine, BROKEN)
    audio = heard["audio"]
    assert audio["duration_s"] >= 2 and audio["rms_dbfs"] > -40, heard  # "We are sorry, an application error ..."
    call = wait_final(engine.client(), heard["call_sid"])
    assert call.status == "completed"
    codes = [n.error_code for n in engine.client().calls(call.sid).notifications.list()]
    assert codes.count("11200") >= 1


def test_a_voice_url_that_times_out_without_a_fallback_plays_the_error_prompt(engine: LiveServer, web: WebApp) -> None:
    heard = dial_in(engine, SLOW, "--hangup-after", "8")
    assert heard["audio"]["rms_dbfs"] > -40, heard  # the error prompt, not the late document's <Say>
    call = wait_final(engine.client(), heard["call_sid"])
    notes = [(n.error_code, n.message_text) for n in engine.client().calls(call.sid).notifications.list()]
    assert ("11200", "HTTP retrieval failure: timed out") in notes, notes  # twilio-compat.md: a timeout is 11200


def test_a_call_forwarded_to_the_sandbox_person_is_heard_both_ways(engine: LiveServer, web: WebApp) -> None:
    heard = dial_in(engine, FORWARD, "--say", "Hello, is anyone there?", "--hangup-after", "8")
    assert heard["audio"]["rms_dbfs"] > -40, heard  # the person's "Hello?" and replies reached the caller
    parent = wait_final(engine.client(), heard["call_sid"])
    [leg] = engine.client().calls.list(parent_call_sid=parent.sid)
    assert leg.direction == "outbound-dial" and leg._from == "+15005550100"  # the caller's number
    assert wait_final(engine.client(), leg.sid).status == "completed" and int(leg.duration or 0) >= 0
