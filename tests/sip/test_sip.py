"""Real pjsua2 calls over loopback: the worker pool against the sandbox carrier and SIPp."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.sip.conftest import SIPP_DIR, SipHarness, make_settings, running
from wirexa.calls.ports import (
    CallAnswered,
    CallRinging,
    CallSid,
    Dialout,
    DigitReceived,
    DigitsSent,
    PlaybackFinished,
    RecordingFinished,
)
from wirexa.media.audio import rms_dbfs, tone_pcm, wav_bytes
from wirexa.sip.bridge import SipBridge

pytestmark = pytest.mark.sip


def tone_file(path: Path, ms: int = 1500, freq: int = 440) -> str:
    path.write_bytes(wav_bytes(tone_pcm(freq, ms, amplitude=0.3)))
    return str(path)


def sandbox_log(h: SipHarness, sid: str) -> dict:  # type: ignore[type-arg]
    return json.loads((h.data_dir / "sandbox" / f"{sid}.json").read_text())


async def saved(h: SipHarness, sid: str) -> None:
    """Wait until the sandbox has finished writing the callee's WAV."""
    for _ in range(100):
        path = h.data_dir / "sandbox" / f"{sid}.json"
        if path.exists() and any(e["event"] == "wav saved" for e in json.loads(path.read_text())["events"]):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the sandbox never saved {sid}.wav")


def heard_level(h: SipHarness, sid: str) -> float:
    with wave.open(str(h.data_dir / "sandbox" / f"{sid}.wav")) as w:
        return rms_dbfs(w.readframes(w.getnframes()))


@pytest.mark.parametrize(
    ("number", "reason", "code"),
    [("+15005550001", "busy", 486), ("+15005550003", "failed", 503), ("+15005550004", "busy", 603)],
)
async def test_sandbox_refusing_callees(sandbox_sip: SipHarness, number: str, reason: str, code: int) -> None:
    sid = await sandbox_sip.dial(number)
    ended = await sandbox_sip.ended(sid)
    assert (ended.reason, ended.sip_code) == (reason, code)


async def test_sandbox_ringing_callee_times_out_as_no_answer(sandbox_sip: SipHarness) -> None:
    sid = await sandbox_sip.dial("+15005550002", timeout_s=2)
    ringing = await sandbox_sip.wait(sid, CallRinging)
    assert ringing.sip_code == 180
    ended = await sandbox_sip.ended(sid)
    assert ended.reason == "no-answer" and ended.hangup_by == "local"


async def test_cancel_before_answer(sandbox_sip: SipHarness) -> None:
    sid = await sandbox_sip.dial("+15005550002", timeout_s=30)
    await sandbox_sip.wait(sid, CallRinging)
    await sandbox_sip.bridge.hangup(sid)
    ended = await sandbox_sip.ended(sid)
    assert ended.reason == "canceled" and ended.sip_code == 487


async def test_person_answers_and_hears_what_we_play(sandbox_sip: SipHarness, tmp_path: Path) -> None:
    h = sandbox_sip
    sid = await h.dial("+15005550006")
    await h.wait(sid, CallAnswered)
    await h.bridge.play(sid, "7", tone_file(tmp_path / "t.wav"), loop=2)
    done = await h.wait(sid, PlaybackFinished)
    assert (done.play_id, done.how) == ("7", "done")
    await h.bridge.hangup(sid)
    ended = await h.ended(sid)
    assert ended.reason == "completed" and ended.hangup_by == "local"
    await saved(h, sid)
    log = sandbox_log(h, sid)
    assert [e["event"] for e in log["events"]][:2] == ["invite", "ringing"]
    assert "answered" in [e["event"] for e in log["events"]]
    assert heard_level(h, sid) > -35.0  # the 3 s of tone reached the callee


async def test_stop_play_reports_stopped(sandbox_sip: SipHarness, tmp_path: Path) -> None:
    h = sandbox_sip
    sid = await h.dial("+15005550006")
    await h.wait(sid, CallAnswered)
    await h.bridge.play(sid, "1", tone_file(tmp_path / "t.wav"), loop=0)
    await asyncio.sleep(0.3)
    await h.bridge.stop_play(sid)
    done = await h.wait(sid, PlaybackFinished)
    assert done.how == "stopped"
    await h.bridge.hangup(sid)
    await h.ended(sid)


async def test_send_digits_reach_the_callee(sandbox_sip: SipHarness) -> None:
    h = sandbox_sip
    sid = await h.dial("+15005550006")
    await h.wait(sid, CallAnswered)
    await h.bridge.send_dtmf(sid, "1w2#")
    await h.wait(sid, DigitsSent)
    await asyncio.sleep(0.5)
    await h.bridge.hangup(sid)
    await h.ended(sid)
    await saved(h, sid)
    received = [e["digit"] for e in sandbox_log(h, sid)["events"] if e["event"] == "digit received"]
    assert received == ["1", "2", "#"]


async def test_record_ends_on_silence_and_on_max_length(sandbox_sip: SipHarness, tmp_path: Path) -> None:
    h = sandbox_sip
    sid = await h.dial("+15005550006")
    await h.wait(sid, CallAnswered)
    await h.bridge.start_recording(sid, "r1", str(tmp_path / "r1.wav"), 30, 1.0, "#")
    rec = await h.wait(sid, RecordingFinished)
    assert rec.how == "silence" and 900 <= rec.duration_ms <= 4000
    await h.bridge.start_recording(sid, "r2", str(tmp_path / "r2.wav"), 1.0, 0, "#")
    rec2 = await h.wait(sid, RecordingFinished, pred=lambda e: e.rec_id == "r2")
    assert rec2.how == "max-length" and 900 <= rec2.duration_ms <= 1500
    with wave.open(rec2.path) as w:
        assert w.getframerate() == 8000 and w.getnframes() > 4000
    await h.bridge.hangup(sid)
    await h.ended(sid)


@contextlib.asynccontextmanager
async def answered_callee(tmp_path: Path, behaviour: str) -> AsyncIterator[tuple[SipHarness, CallSid]]:
    """A call to a sandbox callee (+15005550010) with this sandbox.toml behaviour, answered."""
    sandbox = tmp_path / "sandbox.toml"
    sandbox.write_text(f'[numbers."+15005550010"]\n{behaviour}\n')
    async with running(make_settings(tmp_path, sandbox_config=str(sandbox)), tmp_path) as h:
        sid = await h.dial("+15005550010")
        await h.wait(sid, CallAnswered)
        yield h, sid


async def test_callee_presses_after_the_callers_prompt_ends(tmp_path: Path) -> None:
    """press_after = "prompt" (the default): the sandbox hears our 2 s prompt end, waits
    press_delay_s, then presses; never during the prompt."""
    async with answered_callee(tmp_path, 'press = "7"\npress_delay_s = 0.5') as (h, sid):
        bridge = h.bridge
        await asyncio.sleep(1.0)  # silence first: nothing to react to yet
        started = asyncio.get_running_loop().time()
        await bridge.play(sid, "prompt", tone_file(tmp_path / "prompt.wav", 2000), 1)
        digit = await h.wait(sid, DigitReceived, timeout=10)
        after = asyncio.get_running_loop().time() - started
        assert digit.digit == "7" and 2.0 + 0.8 <= after <= 2.0 + 0.8 + 0.5 + 1.5, after
        await bridge.hangup(sid)
        await h.ended(sid)
        await saved(h, sid)
        events = [e["event"] for e in sandbox_log(h, sid)["events"]]
        assert "prompt ended" in events


async def test_callee_digits_and_record_finish_key(tmp_path: Path) -> None:
    async with answered_callee(tmp_path, 'press = "5#"\npress_after = 1.0') as (h, sid):
        bridge = h.bridge
        await bridge.start_recording(sid, "k", str(tmp_path / "k.wav"), 30, 0, "#")
        rec = await h.wait(sid, RecordingFinished)
        assert (rec.how, rec.digit) == ("key", "#")
        digits = [e.digit for e in h.events[sid] if isinstance(e, DigitReceived)]
        assert digits == ["5", "#"]
        await bridge.hangup(sid)
        await h.ended(sid)


async def test_dial_leg_is_bridged_in_the_parents_worker(tmp_path: Path) -> None:
    tone = tone_file(tmp_path / "long.wav", 6000, 600)
    sandbox = tmp_path / "sandbox.toml"
    sandbox.write_text(f'[numbers."+15005550020"]\nanswer = "{tone}"\n[numbers."+15005550021"]\nanswer = "silence"\n')
    settings = make_settings(tmp_path, sandbox_config=str(sandbox))
    async with running(settings, tmp_path) as h:
        bridge = h.bridge
        parent = await h.dial("+15005550020")  # this callee plays a 6 s tone on answer
        await h.wait(parent, CallAnswered)
        child = await h.dial("+15005550021", parent=parent)  # this one is silent and records
        await h.wait(child, CallAnswered)
        assert bridge.pool is not None
        assert bridge.pool.by_call[child] is bridge.pool.by_call[parent]
        await bridge.bridge(parent, child)
        await asyncio.sleep(2.0)
        await bridge.unbridge(parent, child)
        await bridge.hangup(child)
        await bridge.hangup(parent)
        await h.ended(child)
        await h.ended(parent)
        await saved(h, child)
        assert heard_level(h, child) > -40.0  # the parent's callee was heard through the bridge


async def test_more_calls_than_one_worker_holds(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sandbox_processes=4, sip_workers_max=8)
    async with running(settings, tmp_path) as h:
        bridge = h.bridge
        sids = [await h.dial("+15005550006") for _ in range(12)]
        await asyncio.gather(*(h.wait(s, CallAnswered, timeout=30) for s in sids))
        assert bridge.pool is not None and len(bridge.pool.workers) >= 3  # 4 calls per worker
        await asyncio.sleep(0.5)
        for s in sids:
            await bridge.hangup(s)
        ended = await asyncio.gather(*(h.ended(s) for s in sids))
        assert {e.reason for e in ended} == {"completed"}


async def test_a_worker_port_held_by_another_program_is_skipped(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sip_workers_max=3)
    squatter = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    squatter.bind(("127.0.0.1", settings.sip_port_base + 1))  # worker index 1's SIP port
    try:
        async with running(settings, tmp_path) as h:
            bridge = h.bridge
            sids = [await h.dial("+15005550006") for _ in range(5)]  # the fifth needs a second worker
            for sid in sids:
                await h.wait(sid, CallAnswered, timeout=30)
            pool = bridge.pool
            assert pool is not None
            for _ in range(100):  # a spare worker may still be trying index 1's port
                if sorted(pool.workers) == [0, 2]:
                    break
                await asyncio.sleep(0.1)
            assert sorted(pool.workers) == [0, 2]
            # 8 slots in workers 0 and 2, 5 calls, 1 kept for a leg; index 1 is not counted
            assert pool.capacity_left() == 2
            for sid in sids:
                await bridge.hangup(sid)
                assert (await h.ended(sid)).reason == "completed"
    finally:
        squatter.close()


async def test_killed_worker_finalizes_only_its_calls(sandbox_sip: SipHarness) -> None:
    h = sandbox_sip
    pool = h.bridge.pool
    assert pool is not None
    calls = [await h.dial("+15005550006") for _ in range(5)]  # the fifth needs a second worker
    for sid in calls:
        await h.wait(sid, CallAnswered)
    victim = pool.by_call[calls[0]]
    survivors = [s for s in calls if pool.by_call[s] is not victim]
    killed = [s for s in calls if pool.by_call[s] is victim]
    assert survivors and killed
    os.kill(victim.proc.pid, signal.SIGKILL)
    for sid in killed:
        ended = await h.ended(sid)
        assert (ended.reason, ended.hangup_by) == ("completed", "worker")
    assert all(not any(type(e).__name__ == "CallEnded" for e in h.events[s]) for s in survivors)
    again = await h.dial("+15005550006")  # the pool recovers
    await h.wait(again, CallAnswered)
    for sid in [*survivors, again]:
        await h.bridge.hangup(sid)
        assert (await h.ended(sid)).reason == "completed"


# --- SIPp as the far end (a trunk) ----------------------------------------------------------


async def trunk_call(
    tmp_path: Path, sipp: object, scenario: str, *extra: str, timeout_s: float = 10, **settings_kw: object
) -> tuple[SipHarness, CallSid]:
    settings = make_settings(tmp_path, **settings_kw)
    port = settings.sip_port_base + 150
    proc = sipp(scenario, port, *extra)  # type: ignore[operator]
    await asyncio.sleep(0.3)
    settings = make_settings(
        tmp_path,
        sip_trunk_host=f"127.0.0.1:{port}",
        **{k: v for k, v in settings_kw.items()},
        sip_port_base=settings.sip_port_base,
    )
    bridge = SipBridge(settings)
    await bridge.__aenter__()
    h = SipHarness(bridge, settings, tmp_path)
    bridge.set_event_sink(h.sink)
    h.sipp_proc = proc  # type: ignore[attr-defined]
    sid = await h.dial("+13125551234", timeout_s=timeout_s)
    return h, sid


async def test_sipp_trunk_answers_with_rtp_echo(tmp_path: Path, sipp: object) -> None:
    h, sid = await trunk_call(tmp_path, sipp, "uas_answer.xml", "-rtp_echo")
    try:
        await h.wait(sid, CallRinging)
        await h.wait(sid, CallAnswered)
        await h.bridge.start_recording(sid, "echo", str(tmp_path / "echo.wav"), 2.0, 0, "")
        await h.bridge.play(sid, "p", tone_file(tmp_path / "t.wav", 1500), 1)
        rec = await h.wait(sid, RecordingFinished)
        await h.bridge.hangup(sid)
        ended = await h.ended(sid)
        assert ended.reason == "completed"
        with wave.open(rec.path) as w:
            assert rms_dbfs(w.readframes(w.getnframes())) > -40.0  # our tone came back
        assert h.sipp_proc.wait(timeout=10) == 0  # type: ignore[attr-defined]
    finally:
        await h.bridge.__aexit__(None, None, None)


@pytest.mark.parametrize(("code", "reason"), [(486, "busy"), (603, "busy"), (503, "failed"), (404, "failed")])
async def test_sipp_trunk_refuses(tmp_path: Path, sipp: object, code: int, reason: str) -> None:
    scenario = tmp_path / f"uas_{code}.xml"
    scenario.write_text((SIPP_DIR / "uas_code.xml").read_text().replace("[code]", str(code)))
    h, sid = await trunk_call(tmp_path, sipp, str(scenario))
    try:
        ended = await h.ended(sid)
        assert (ended.reason, ended.sip_code) == (reason, code)
    finally:
        await h.bridge.__aexit__(None, None, None)


async def test_sipp_trunk_no_answer(tmp_path: Path, sipp: object) -> None:
    h, sid = await trunk_call(tmp_path, sipp, "uas_noanswer.xml", timeout_s=2)
    try:
        ended = await h.ended(sid)
        assert (ended.reason, ended.sip_code) == ("no-answer", 487)
        assert h.sipp_proc.wait(timeout=10) == 0  # type: ignore[attr-defined]
    finally:
        await h.bridge.__aexit__(None, None, None)


async def test_sipp_trunk_over_tcp(tmp_path: Path, sipp: object) -> None:
    h, sid = await trunk_call(tmp_path, sipp, "uas_answer.xml", "-t", "t1", sip_trunk_transport="tcp")
    try:
        await h.wait(sid, CallAnswered)
        await asyncio.sleep(0.3)
        await h.bridge.hangup(sid)
        assert (await h.ended(sid)).reason == "completed"
        assert h.sipp_proc.wait(timeout=10) == 0  # type: ignore[attr-defined]  # SIPp saw INVITE, ACK, BYE over TCP
    finally:
        await h.bridge.__aexit__(None, None, None)


async def test_tls_trunk(tmp_path: Path) -> None:
    """A pjsua2 peer with only a TLS transport (a self-signed certificate) as the trunk."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    base = make_settings(tmp_path)
    port = base.sip_port_base + 150
    peer = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).parent / "tls_peer.py"),
            str(port),
            str(cert),
            str(key),
            str(base.sip_rtp_port_base + 200),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert peer.stdout is not None and peer.stdin is not None

    async def event() -> dict[str, object]:
        while True:  # skipping pjlib's start-up lines
            line = await asyncio.wait_for(asyncio.to_thread(peer.stdout.readline), 15)  # type: ignore[union-attr]
            assert line, "the TLS peer exited"
            if line.startswith(b"{"):
                return json.loads(line)  # type: ignore[no-any-return]

    try:
        assert (await event())["ev"] == "ready"
        settings = make_settings(
            tmp_path,
            sip_trunk_host=f"127.0.0.1:{port}",
            sip_trunk_transport="tls",
            sip_port_base=base.sip_port_base,
            sip_rtp_port_base=base.sip_rtp_port_base,
        )
        async with running(settings, tmp_path) as h:
            bridge = h.bridge
            sid = await h.dial("+13125551234")
            await h.wait(sid, CallAnswered)
            incoming = await event()
            assert incoming["ev"] == "incoming" and "SIP/2.0/TLS" in str(incoming["via"])
            assert (await event())["ev"] == "confirmed"
            await bridge.hangup(sid)
            assert (await h.ended(sid)).reason == "completed"
            assert (await event())["ev"] == "disconnected"
    finally:
        peer.stdin.close()
        peer.wait(timeout=10)
        peer.stdout.close()


def digest_ok(header: str, method: str, password: str) -> bool:
    """Check a Proxy-Authorization digest (qop=auth, MD5) against the password."""
    import hashlib
    import re

    f = dict(re.findall(r'(\w+)="?([^",]+)"?', header.split("Digest", 1)[1]))

    def md5(x: str) -> str:
        return hashlib.md5(x.encode()).hexdigest()  # noqa: S324 - SIP digest is MD5

    ha1 = md5(f"{f['username']}:{f['realm']}:{password}")
    ha2 = md5(f"{method}:{f['uri']}")
    expected = md5(f"{ha1}:{f['nonce']}:{f['nc']}:{f['cnonce']}:{f['qop']}:{ha2}")
    return expected == f["response"]


async def test_sipp_trunk_407_digest_auth(tmp_path: Path, sipp: object) -> None:
    h, sid = await trunk_call(
        tmp_path, sipp, "uas_auth.xml", "-trace_msg", sip_trunk_username="trunkuser", sip_trunk_password="s3cret"
    )
    try:
        await h.wait(sid, CallAnswered)
        await h.bridge.hangup(sid)
        assert (await h.ended(sid)).reason == "completed"
        assert h.sipp_proc.wait(timeout=10) == 0  # type: ignore[attr-defined]
    finally:
        await h.bridge.__aexit__(None, None, None)
    [log] = list(tmp_path.glob("uas_auth_*_messages.log"))
    [header] = [line for line in log.read_text().splitlines() if line.startswith("Proxy-Authorization:")]
    assert 'username="trunkuser"' in header and 'realm="wirexa.test"' in header
    assert digest_ok(header, "INVITE", "s3cret")
    assert not digest_ok(header, "INVITE", "wrong")


async def test_trunk_rewrites_numbers_and_asserts_identity(tmp_path: Path, sipp: object) -> None:
    h, sid = await trunk_call(
        tmp_path,
        sipp,
        "uas_answer.xml",
        "-trace_msg",
        sip_trunk_dial_prefix="9",
        sip_trunk_strip_plus=True,
        sip_trunk_from_domain="carrier.example",
        sip_trunk_pai=True,
    )
    try:
        await h.wait(sid, CallAnswered)
        await h.bridge.hangup(sid)
        await h.ended(sid)
        assert h.sipp_proc.wait(timeout=10) == 0  # type: ignore[attr-defined]
    finally:
        await h.bridge.__aexit__(None, None, None)
    [log] = list(tmp_path.glob("uas_answer_*_messages.log"))
    invite = log.read_text().split("INVITE sip:", 1)[1].split("\n\n", 1)[0]
    assert invite.startswith("913125551234@127.0.0.1")  # prefix, no '+'
    assert "From: <sip:+15005550100@carrier.example>" in invite or "From: sip:+15005550100@carrier.example" in invite
    assert "P-Asserted-Identity: <sip:+15005550100@carrier.example>" in invite
    assert f"X-Wirexa-CallSid: {sid}" in invite


async def test_trunk_registration(tmp_path: Path, sipp: object) -> None:
    settings = make_settings(tmp_path)
    port = settings.sip_port_base + 150
    proc = sipp("uas_register.xml", port)  # type: ignore[operator]
    await asyncio.sleep(0.3)
    settings = make_settings(
        tmp_path,
        sip_trunk_host=f"127.0.0.1:{port}",
        sip_trunk_register=True,
        sip_trunk_username="trunkuser",
        sip_trunk_password="s3cret",
        sip_port_base=settings.sip_port_base,
    )
    async with SipBridge(settings) as bridge:
        for _ in range(100):
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        assert proc.poll() == 0  # SIPp got a REGISTER for trunkuser and answered it
        assert bridge.health()["trunk"]["register"] is True  # type: ignore[index]
        for _ in range(50):  # the worker reports the registrar's 200 (what `wirexa doctor` reads)
            if bridge.health()["registration"]["state"] != "pending":  # type: ignore[index]
                break
            await asyncio.sleep(0.1)
        assert bridge.health()["registration"] == {"state": "registered", "code": 200, "workers": 1}


async def test_a_call_to_a_sip_uri_answers_its_challenge_with_its_own_credentials(tmp_path: Path, sipp: object) -> None:
    """Issue 29 item 5: SipAuthUsername/SipAuthPassword (or <Sip username password>) answer the
    SIP endpoint's 407 (not the trunk's credentials), and the URI's X- headers ride on the INVITE."""
    settings = make_settings(tmp_path, sip_trunk_username="trunkuser", sip_trunk_password="trunkpw")
    port = settings.sip_port_base + 150
    proc = sipp("uas_auth.xml", port, "-trace_msg")  # type: ignore[operator]
    async with running(settings, tmp_path) as h:
        sid = CallSid(f"CA{os.getpid():08x}{'5' * 24}")
        to_uri, from_uri, headers = h.bridge.resolve(f"sip:alice@127.0.0.1:{port}?X-Tenant=acme%20co", "+15005550100")
        assert to_uri == f"sip:alice@127.0.0.1:{port}" and headers == (("X-Tenant", "acme co"),)
        await h.bridge.start_call(Dialout(sid, to_uri, from_uri, 10.0, headers, auth=("alice", "s3cret")))
        answered = await h.wait(sid, CallAnswered)
        assert answered.sip_headers == (("X-Pbx-Queue", "sales"),)  # the 200 OK's: SipHeader_X-Pbx-Queue
        await h.bridge.hangup(sid)
        assert (await h.ended(sid)).reason == "completed"
    assert proc.wait(timeout=10) == 0
    [log] = list(tmp_path.glob("uas_auth_*_messages.log"))
    text = log.read_text()
    [header] = [line for line in text.splitlines() if line.startswith("Proxy-Authorization:")]
    assert 'username="alice"' in header and digest_ok(header, "INVITE", "s3cret")
    assert "X-Tenant: acme co" in text.split("INVITE sip:", 1)[1].split("\n\n", 1)[0]
