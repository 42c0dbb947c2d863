"""Whole-call recordings end to end: `wirexa serve`, twilio-python, the sandbox over real SIP.

The callees play tones (+15005550061 440 Hz, +15005550062 1300 Hz, looping) and the engine
plays a 1000 Hz prompt, so each party of a recording is told apart by its frequency: Record=true
mono holds both; dual has the callee alone on the first channel and the engine (or the <Dial>ed
party) alone on the second. The Recordings API starts, pauses (skip / silence), resumes and
stops recordings of a live call; a SIGKILLed worker or serve loses no recording."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import time
import urllib.request
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer, engine_fixture
from tests.e2e.webapp import WebApp
from wirexa.media.audio import tone_pcm, wav_bytes

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

CALLEE = "+15005550061"  # 440 Hz
DIALED = "+15005550062"  # 1300 Hz
FINAL = ("completed", "failed", "busy", "no-answer", "canceled")


def tone_callees(tmp: Path) -> str:
    for name, hz in (("a440.wav", 440), ("a1300.wav", 1300)):
        (tmp / name).write_bytes(wav_bytes(tone_pcm(hz, 1000, amplitude=0.3)))
    return f"""
[numbers."{CALLEE}"]
answer = "{tmp / "a440.wav"}"
loop = true
[numbers."{DIALED}"]
answer = "{tmp / "a1300.wav"}"
loop = true
"""


# Its own engine: the tests below SIGKILL its workers and the engine itself.
engine = engine_fixture("rec-engine", sandbox=tone_callees)


@pytest.fixture(scope="module")
def web() -> Iterator[WebApp]:
    app = WebApp()
    app.files["/t1000.wav"] = (wav_bytes(tone_pcm(1000, 1000, amplitude=0.3)), "audio/wav")
    app.docs["/prompt"] = f'<Response><Play loop="3">{app.url("/t1000.wav")}</Play><Hangup/></Response>'
    app.docs["/dial"] = f'<Response><Dial timeLimit="3"><Number>{DIALED}</Number></Dial><Hangup/></Response>'
    app.docs["/quiet"] = '<Response><Pause length="6"/><Hangup/></Response>'
    app.docs["/long"] = '<Response><Pause length="20"/><Hangup/></Response>'
    yield app
    app.close()


def final(client: Any, sid: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while (call := client.calls(sid).fetch()).status not in FINAL:
        assert time.monotonic() < deadline, call.status
        time.sleep(0.2)
    return call


def in_progress(client: Any, sid: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while client.calls(sid).fetch().status != "in-progress":
        assert time.monotonic() < deadline
        time.sleep(0.1)


def completed_callback(web: WebApp, call_sid: str, count: int = 1) -> list[Any]:
    hits = web.wait("/rec", call_sid, count=count, timeout=60)
    return [h for h in hits if h.form["RecordingStatus"] == "completed"]


def fetch_wav(engine: LiveServer, rec_sid: str, dest: Path) -> Path:
    path = dest / f"{rec_sid}.wav"
    with urllib.request.urlopen(f"{engine.base_url}/recordings/{rec_sid}.wav", timeout=10) as resp:  # noqa: S310
        path.write_bytes(resp.read())
    return path


def channels(path: Path) -> list[list[int]]:
    with wave.open(str(path)) as w:
        n, frames = w.getnchannels(), w.readframes(w.getnframes())
    samples = memoryview(frames).cast("h")
    return [list(samples[i::n]) for i in range(n)]


def seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def power(samples: list[int], hz: float, rate: int = 8000) -> float:
    """Goertzel: the relative power of one frequency in the samples."""
    coeff = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + coeff * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - coeff * s1 * s2) / max(1, len(samples)) ** 2


def sox_rms(path: Path, channel: int) -> float:
    out = subprocess.run(
        ["sox", str(path), "-n", "remix", str(channel), "stat"], capture_output=True, text=True, check=True
    ).stderr
    line = next(ln for ln in out.splitlines() if ln.startswith("RMS     amplitude"))
    return float(line.split(":")[1])


def create(engine: LiveServer, web: WebApp, doc: str, to: str = CALLEE, **kw: Any) -> Any:
    return engine.client().calls.create(
        to=to,
        from_="+15005550100",
        url=web.url(doc),
        recording_status_callback=web.url("/rec"),
        recording_status_callback_event=["in-progress", "completed"],
        **kw,
    )


def test_record_true_mono_holds_both_parties(engine: LiveServer, web: WebApp, tmp_path: Path) -> None:
    call = create(engine, web, "/prompt", record=True, trim="do-not-trim")
    done = final(engine.client(), call.sid)
    [hit] = completed_callback(web, call.sid, count=2)
    assert hit.form["RecordingSource"] == "OutboundAPI" and hit.form["RecordingChannels"] == "1"
    wav = fetch_wav(engine, hit.form["RecordingSid"], tmp_path)
    [mono] = channels(wav)
    assert abs(seconds(wav) - int(done.duration)) <= 1.5 and 2.0 <= seconds(wav)
    assert sox_rms(wav, 1) > 0.05
    assert power(mono, 440) > 50 * power(mono, 700) and power(mono, 1000) > 50 * power(mono, 700)


def test_record_true_dual_puts_each_party_on_its_channel(engine: LiveServer, web: WebApp, tmp_path: Path) -> None:
    call = create(engine, web, "/prompt", record=True, recording_channels="dual", trim="do-not-trim")
    final(engine.client(), call.sid)
    [hit] = completed_callback(web, call.sid, count=2)
    assert hit.form["RecordingChannels"] == "2" and hit.form["RecordingTrack"] == "both"
    wav = fetch_wav(engine, hit.form["RecordingSid"], tmp_path)
    callee, engine_side = channels(wav)
    assert sox_rms(wav, 1) > 0.05 and sox_rms(wav, 2) > 0.05
    assert power(callee, 440) > 20 * power(callee, 1000)
    assert power(engine_side, 1000) > 20 * power(engine_side, 440)
    assert 2.0 <= seconds(wav) <= 5.0


def test_a_dialed_leg_is_in_the_recording(engine: LiveServer, web: WebApp, tmp_path: Path) -> None:
    call = create(engine, web, "/dial", record=True, recording_channels="dual", trim="do-not-trim")
    final(engine.client(), call.sid)
    [hit] = completed_callback(web, call.sid, count=2)
    wav = fetch_wav(engine, hit.form["RecordingSid"], tmp_path)
    callee, other = channels(wav)
    assert power(callee, 440) > 20 * power(callee, 1300)
    assert power(other, 1300) > 20 * power(other, 440)  # the <Dial>ed party, while bridged


def test_api_start_pause_resume_stop(engine: LiveServer, web: WebApp, tmp_path: Path) -> None:
    client = engine.client()
    call = create(engine, web, "/quiet")
    in_progress(client, call.sid)
    options: dict[str, Any] = {
        "recording_status_callback": web.url("/rec"),
        "recording_status_callback_event": ["in-progress", "completed"],
    }
    skip = client.calls(call.sid).recordings.create(**options)
    silence = client.calls(call.sid).recordings.create(**options)
    assert skip.status == silence.status == "in-progress" and skip.source == "StartCallRecordingAPI"
    listed = client.calls(call.sid).recordings.list()
    assert {r.sid for r in listed} == {skip.sid, silence.sid} and {r.status for r in listed} == {"in-progress"}
    time.sleep(1.0)
    assert client.calls(call.sid).recordings(skip.sid).update(status="paused", pause_behavior="skip").status == "paused"
    client.calls(call.sid).recordings(silence.sid).update(status="paused", pause_behavior="silence")
    assert client.calls(call.sid).recordings(skip.sid).fetch().status == "paused"
    time.sleep(2.0)
    for rec in (skip, silence):
        assert client.calls(call.sid).recordings(rec.sid).update(status="in-progress").status == "in-progress"
    final(client, call.sid)
    hits = completed_callback(web, call.sid, count=4)
    by_sid = {h.form["RecordingSid"]: h for h in hits}
    skip_s = seconds(fetch_wav(engine, skip.sid, tmp_path))
    silence_s = seconds(fetch_wav(engine, silence.sid, tmp_path))
    assert 1.5 <= silence_s - skip_s <= 2.6, (skip_s, silence_s)
    assert set(by_sid) == {skip.sid, silence.sid}


def test_api_stop_through_twilio_current(engine: LiveServer, web: WebApp, tmp_path: Path) -> None:
    client = engine.client()
    call = create(engine, web, "/long")
    in_progress(client, call.sid)
    rec = client.calls(call.sid).recordings.create(recording_channels="dual", **{"trim": "do-not-trim"})
    time.sleep(1.5)
    stopped = client.calls(call.sid).recordings("Twilio.CURRENT").update(status="stopped")
    assert stopped.sid == rec.sid and stopped.status == "stopped"
    deadline = time.monotonic() + 20
    while (now := client.recordings(rec.sid).fetch()).status != "completed":
        assert time.monotonic() < deadline, now.status
        time.sleep(0.2)
    assert client.calls(call.sid).fetch().status == "in-progress"  # stopping a recording leaves the call
    wav = fetch_wav(engine, rec.sid, tmp_path)
    assert len(channels(wav)) == 2 and 1.0 <= seconds(wav) <= 3.0
    client.calls(call.sid).update(status="completed")
    final(client, call.sid)


def _workers(serve_pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(serve_pid)], capture_output=True, text=True)
    return [int(line.split()[0]) for line in out.stdout.splitlines() if "_sip-worker" in line]


def test_a_killed_worker_loses_no_recording(engine: LiveServer, web: WebApp, tmp_path: Path) -> None:
    client = engine.client()
    call = create(engine, web, "/long", record=True, trim="do-not-trim")
    in_progress(client, call.sid)
    time.sleep(2.0)
    assert engine.proc is not None
    [rec] = client.calls(call.sid).recordings.list()
    assert rec.status == "in-progress"
    for pid in _workers(engine.proc.pid):
        os.kill(pid, signal.SIGKILL)
    done = final(client, call.sid)
    assert done.status == "completed"
    deadline = time.monotonic() + 20
    while (now := client.recordings(rec.sid).fetch()).status == "in-progress":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert now.status == "completed" and now.duration is not None and int(now.duration) >= 1
    wav = fetch_wav(engine, rec.sid, tmp_path)
    [mono] = channels(wav)
    assert seconds(wav) >= 1.0 and power(mono, 440) > 20 * power(mono, 700)


def test_a_killed_serve_loses_no_recording(engine: LiveServer, web: WebApp, tmp_path: Path) -> None:
    client = engine.client()
    call = create(engine, web, "/long", record=True, trim="do-not-trim")
    in_progress(client, call.sid)
    time.sleep(2.0)
    [rec] = client.calls(call.sid).recordings.list()
    assert engine.proc is not None
    engine.proc.send_signal(signal.SIGKILL)
    engine.proc.wait()
    engine.start()
    client = engine.client()
    deadline = time.monotonic() + 30
    while (now := client.recordings(rec.sid).fetch()).status != "completed":
        assert time.monotonic() < deadline, now.status
        time.sleep(0.2)
    assert client.calls(call.sid).fetch().status == "completed"
    wav = fetch_wav(engine, rec.sid, tmp_path)
    assert seconds(wav) >= 1.0
    assert any(h.form["RecordingSid"] == rec.sid for h in completed_callback(web, call.sid, count=2))
