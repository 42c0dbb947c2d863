"""`wirexa sandbox dial-in`: its bad-input lines (before any call), whole runs against SIPp as the
engine's front (digest, prompt, digits, the recording's summary; a refusal as one line), and one
against a live engine: a registered number's IVR heard and its <Gather> given the digit pressed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import free_udp_block
from tests.cli.test_cli import one_red_line, run
from tests.conftest import LiveServer, engine_fixture
from tests.e2e.webapp import WebApp
from tests.sip.conftest import sipp  # noqa: F401 - the SIPp fixture
from tests.sip.test_sandbox_caller import PASSWORD, RtpPeer
from wirexa import config
from wirexa.cli.sandbox import find_inbound_call, heard_summary
from wirexa.media.audio import tone_pcm, wav_bytes
from wirexa.store.bootstrap import ensure_project, open_store
from wirexa.store.repo.calls import insert_call

SIPP_DIR = Path(__file__).parent.parent / "data" / "sipp"


def engine_dir(tmp_path: Path, port: int) -> tuple[list[str], dict[str, str]]:
    """A data dir as a running engine leaves it (sandbox/caller.secret), and the options and
    environment that point dial-in at `port`."""
    (tmp_path / "sandbox").mkdir(exist_ok=True)
    (tmp_path / "sandbox" / "caller.secret").write_text(PASSWORD + "\n")
    return ["--data-dir", str(tmp_path)], {"WIREXA_SIP_INBOUND_PORT": str(port)}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--say", "hi", "--play", "x.wav"], "not both"),
        (["--play", "nowhere.wav"], "no file nowhere.wav"),
        (["--press", "1x"], "not 'x'"),
        (["--from", "+1 555"], "--from must be a number"),
        (["--say", "  "], "--say needs some text"),
    ],
)
def test_bad_input_is_one_red_line(tmp_path: Path, args: list[str], message: str) -> None:
    opts, env = engine_dir(tmp_path, 9)
    assert message in one_red_line(run("sandbox", "dial-in", "+15005550199", *args, *opts, env=env))
    assert not list((tmp_path / "sandbox").glob("dial-in-*"))  # no call was made


def test_a_bad_number_is_one_red_line(tmp_path: Path) -> None:
    opts, env = engine_dir(tmp_path, 9)
    assert "TO must be a number" in one_red_line(run("sandbox", "dial-in", "+1500@evil", *opts, env=env))


def test_no_engine_is_one_red_line(tmp_path: Path) -> None:
    env = {"WIREXA_SIP_INBOUND_PORT": "5999"}
    line = one_red_line(run("sandbox", "dial-in", "+15005550199", "--data-dir", str(tmp_path), env=env))
    assert "the engine is not running or has no inbound port" in line
    assert str(tmp_path / "sandbox" / "caller.secret") in line
    # A secret left behind by an engine that stopped: nothing listens on the port.
    port = free_udp_block(21000, 29000, 10)
    opts, env = engine_dir(tmp_path, port)
    line = one_red_line(run("sandbox", "dial-in", "+15005550199", *opts, env=env))
    assert f"the engine is not running: nothing listens on udp 127.0.0.1:{port}" in line


def test_inbound_port_off_is_one_red_line(tmp_path: Path) -> None:
    opts, env = engine_dir(tmp_path, 0)
    assert "inbound_port is 0" in one_red_line(run("sandbox", "dial-in", "+15005550199", *opts, env=env))


def start_front(sipp: Any, scenario: str, *extra: str) -> tuple[int, Any]:  # noqa: F811
    port = free_udp_block(21000, 29000, 10)
    proc = sipp(scenario, port, *extra)
    time.sleep(0.3)
    return port, proc


@pytest.mark.sip
def test_dial_in_prints_what_the_caller_heard(tmp_path: Path, sipp: Any) -> None:  # noqa: F811
    peer = RtpPeer(tone_pcm(440, 1500, amplitude=0.5))
    try:
        port, proc = start_front(sipp, str(SIPP_DIR / "dial_in_auth.xml"), "-key", "rtp_port", str(peer.port))
        opts, env = engine_dir(tmp_path, port)
        result = run(
            "sandbox", "dial-in", "+15005550199", "--press", "1w2", "--hangup-after", "4", "--json", *opts, env=env
        )
        assert result.exit_code == 0, result.output
        assert proc.wait(timeout=10) == 0
    finally:
        peer.close()
    body = json.loads(result.stdout)
    assert body["call_sid"] == "CAsipp0000000000000000000000000001"
    assert body["to"] == "+15005550199" and body["from"] == "+15005550100"
    assert body["hung_up_by"] == "caller" and 3.8 <= body["talk_s"] <= 4.8
    assert body["digits_sent"] == "12" and body["dtmf_method"] == "rfc2833"
    assert [d for _, d in peer.digits] == ["1", "2"]
    wav = Path(body["wav"])
    assert wav.parent == tmp_path / "sandbox" and wav.name.startswith("dial-in-") and wav.suffix == ".wav"
    audio = body["audio"]
    assert 3.6 <= audio["duration_s"] <= 4.8
    assert -22 < audio["rms_dbfs"] < -9 and -7 < audio["peak_dbfs"] < -4  # the half-scale tone
    assert 0.25 <= audio["speech_fraction"] <= 0.5  # 1.5 s of tone in ~4 s
    assert [e["event"] for e in body["events"]][:3] == ["inviting", "ringing", "answered"]


@pytest.mark.sip
def test_dial_in_summary_on_a_terminal_and_in_a_pipe(tmp_path: Path, sipp: Any) -> None:  # noqa: F811
    peer = RtpPeer(tone_pcm(440, 800, amplitude=0.5))
    try:
        port, proc = start_front(sipp, str(SIPP_DIR / "dial_in_hangup.xml"), "-key", "rtp_port", str(peer.port))
        opts, env = engine_dir(tmp_path, port)
        result = run("sandbox", "dial-in", "+15005550199", "--from", "+15005550142", "--say", "two", *opts, env=env)
        assert result.exit_code == 0, result.output
        assert proc.wait(timeout=10) == 0
    finally:
        peer.close()
    fields = dict(line.split("\t", 1) for line in result.stdout.splitlines() if "\t" in line)
    assert fields["Call SID"] == "CAsipp0000000000000000000000000001"
    assert fields["From"] == "+15005550142" and fields["Said"] == "two" and fields["Pressed"] == ""
    assert fields["Answered"].startswith("yes; hung up by the engine after 6.")
    assert fields["Heard"].startswith(str(tmp_path / "sandbox" / "dial-in-"))
    assert fields["Level"].endswith("of 20 ms frames") and "dBFS RMS, peak " in fields["Level"]


@pytest.mark.sip
def test_a_refused_call_is_one_red_line(tmp_path: Path, sipp: Any) -> None:  # noqa: F811
    scenario = tmp_path / "refuse.xml"
    scenario.write_text((SIPP_DIR / "uas_code.xml").read_text().replace("[code]", "404"))
    port, proc = start_front(sipp, str(scenario))
    opts, env = engine_dir(tmp_path, port)
    line = one_red_line(run("sandbox", "dial-in", "+15005550199", *opts, env=env))
    assert line == "Error: the engine refused the call: 404 Refused"
    assert proc.wait(timeout=10) == 0
    assert not list((tmp_path / "sandbox").glob("dial-in-*"))


def test_the_call_sid_comes_from_the_store(tmp_path: Path) -> None:
    settings = config.load(overrides={"data_dir": str(tmp_path)}, env={})
    store = open_store(settings)
    try:
        project = ensure_project(store)

        def call(to: str, frm: str, direction: str = "inbound") -> str:
            record = store.write_sync(
                lambda: insert_call(
                    account_sid=project.sid, to_number=to, from_number=frm, status="completed", direction=direction
                )
            )
            return str(record.sid)

        since = time.time()
        call("+15005550199", "+15005550100", "outbound-api")
        wanted = call("+15005550199", "+15005550100")
        call("+15005550198", "+15005550100")
        call("+15005550199", "+15005550101")
    finally:
        store.close()
    assert find_inbound_call(settings, "+15005550199", "+15005550100", since) == wanted
    assert find_inbound_call(settings, "15005550199", "+15005550100", since) == wanted  # digits compared
    assert find_inbound_call(settings, "+15005550199", "+15005550100", since + 60) is None  # too old


def test_heard_summary_levels(tmp_path: Path) -> None:
    wav = tmp_path / "t.wav"
    wav.write_bytes(wav_bytes(tone_pcm(440, 1000, amplitude=0.5) + bytes(16000)))
    s = heard_summary(wav)
    assert s["duration_s"] == 2.0 and s["speech_fraction"] == 0.5
    assert -13 < s["rms_dbfs"] < -11 and -6.5 < s["peak_dbfs"] < -5.5
    wav.write_bytes(wav_bytes(bytes(1600)))
    assert heard_summary(wav)["peak_dbfs"] is None and heard_summary(wav)["rms_dbfs"] is None


# --- against a live engine -----------------------------------------------------------------------

dial_engine = engine_fixture("dial-in", name="dial_engine")
IVR = '<Response><Say>Hello caller</Say><Gather numDigits="1" timeout="8" action="/pressed"/></Response>'


@pytest.fixture(scope="module")
def web() -> Iterator[WebApp]:
    app = WebApp()
    app.docs["/ivr"] = IVR
    app.docs["/pressed"] = "<Response><Say>Thank you</Say><Hangup/></Response>"
    yield app
    app.close()


def wirexa(engine: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wirexa", *args, "--data-dir", str(engine.data_dir)],
        capture_output=True,
        text=True,
        env=engine.env,
        timeout=90,
    )


@pytest.mark.sip
@pytest.mark.slow
def test_dial_in_to_a_live_engines_ivr(dial_engine: LiveServer, web: WebApp) -> None:
    added = wirexa(dial_engine, "numbers", "add", "+15005550177", "--voice-url", web.url("/ivr"), "--json")
    assert added.returncode == 0, added.stderr
    done = wirexa(dial_engine, "sandbox", "dial-in", "+15005550177", "--press", "7", "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    # The VoiceUrl was fetched for an inbound call from the sandbox caller's number.
    [first] = web.to("/ivr")
    assert first.form["Direction"] == "inbound" and first.form["CallStatus"] == "ringing"
    assert first.form["From"] == "+15005550100" and first.form["To"] == "+15005550177"
    assert body["call_sid"] == first.form["CallSid"]
    # The engine's <Gather> got the digit; its action's <Hangup/> ended the call.
    [pressed] = web.to("/pressed")
    assert pressed.form["Digits"] == "7" and pressed.form["CallSid"] == body["call_sid"]
    assert body["digits_sent"] == "7" and body["hung_up_by"] == "engine"
    # The caller heard speech: "Hello caller", then "Thank you".
    audio = body["audio"]
    assert audio["rms_dbfs"] is not None and audio["rms_dbfs"] > -40 and audio["speech_fraction"] > 0.2
    assert audio["peak_dbfs"] > -20 and 1.5 < audio["duration_s"] < 15
    shown = wirexa(dial_engine, "calls", "show", body["call_sid"], "--json")
    assert shown.returncode == 0, shown.stderr
    call = json.loads(shown.stdout)
    assert call["direction"] == "inbound" and call["status"] == "completed"
    # A number no project has: the router refuses it, one line with the SIP code.
    refused = wirexa(dial_engine, "sandbox", "dial-in", "+15005550178")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip() == "Error: the engine refused the call: 404 Not Found"
    # A caller.secret the engine does not know (another engine's): the front's challenge is not met.
    secret = dial_engine.data_dir / "sandbox" / "caller.secret"
    kept = secret.read_text()
    secret.write_text("not-the-password\n")
    try:
        wrong = wirexa(dial_engine, "sandbox", "dial-in", "+15005550177")
    finally:
        secret.write_text(kept)
    assert wrong.returncode == 1 and "407" in wrong.stderr and str(secret) in wrong.stderr, wrong.stderr
    assert len(web.to("/ivr")) == 1  # neither refused call reached the VoiceUrl
