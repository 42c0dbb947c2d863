"""The engine <-> worker message set (sip/protocol.py), as plain data: every message survives
its wire format, anything else is refused, and events map to the calls.ports events."""

from __future__ import annotations

import json

import pytest

from wirexa.calls.ports import (
    AmdDecided,
    AudioHeard,
    CallAnswered,
    CallEnded,
    CallInitiated,
    CallRinging,
    CallSid,
    CommandFailed,
    DigitReceived,
    DigitsSent,
    PlaybackFinished,
    QualitySampled,
    RecordingFinished,
    SpeakingChanged,
    StreamChanged,
)
from wirexa.media.quality import Reading
from wirexa.sip import protocol as proto

SID = CallSid("CA" + "1" * 32)

SAMPLES: list[proto.Command | proto.Event] = [
    proto.MakeCall(
        SID,
        "sip:+15005550006@127.0.0.1:5090",
        "sip:+15005550100@127.0.0.1",
        30.0,
        (("P-Asserted-Identity", "<sip:x@y>"),),
    ),
    proto.Hangup(SID),
    proto.Play(SID, "3", "/tmp/a.wav", 0),
    proto.StopPlay(SID),
    proto.SendDtmf(SID, "1w2#"),
    proto.Record(SID, "RE1", "/tmp/r.wav", 30.0, 5.0, "#", "CA" + "2" * 32),
    proto.Record(SID, "RE2", "/tmp/r2.wav", whole=True, track="both", out_path="/tmp/r2.out.wav"),
    proto.StopRecord(SID),
    proto.StopRecord(SID, "RE2"),
    proto.PauseRecord(SID, "RE2", "silence"),
    proto.ResumeRecord(SID, "RE2"),
    proto.Play(SID, "5", "/tmp/tts.pcm", 1, stream=True),
    proto.StreamEnd(SID, "5", 16000),
    proto.Accept("in-3-1", SID),
    proto.Answer(SID),
    proto.Reject("in-3-1", 403, "a worker takes no calls"),
    proto.Bridge(SID, "CA" + "2" * 32),
    proto.Unbridge(SID, "CA" + "2" * 32),
    proto.RelayOpen(SID, "CA" + "2" * 32, 5190, 6190),
    proto.RelayClose(SID, "CA" + "2" * 32),
    proto.RoomJoin(SID, "CF" + "3" * 32, True, "CA" + "2" * 32),
    proto.RoomMember(SID, "CF" + "3" * 32, False, ""),
    proto.RoomLeave(SID, "CF" + "3" * 32),
    proto.RemoteOpen(SID, "CF" + "3" * 32, 5191, 6191, False, ""),
    proto.RemoteClose(SID, "CF" + "3" * 32),
    proto.RoomRecord("CF" + "3" * 32, "RE" + "4" * 32, "/tmp/room.wav"),
    proto.RoomRecordStop("CF" + "3" * 32, "RE" + "4" * 32),
    proto.StartStream(
        SID,
        "MZ" + "1" * 32,
        "AC" + "3" * 32,
        "wss://agent.example/ws",
        ("inbound", "outbound"),
        True,
        (("FirstName", "Jane"),),
        (("X-Twilio-Signature", "c2ln"),),
    ),
    proto.StopStream(SID, "MZ" + "1" * 32),
    proto.Listen(SID, "7"),
    proto.Unlisten(SID, "7"),
    proto.WatchSpeech(SID, "CF" + "3" * 32),
    proto.UnwatchSpeech(SID, "CF" + "3" * 32),
    proto.Ping(7),
    proto.Shutdown(),
    proto.Reload("/etc/wirexa/sandbox.toml"),
    proto.Ready(5060, 1234),
    proto.Incoming("in-3-1", "sip:+15005550100@trunk", "sip:+15005550006@127.0.0.1", "127.0.0.1:5070"),
    proto.Initiated(SID),
    proto.Ringing(SID, 183),
    proto.Answered(SID, 200),
    proto.Ended(SID, "busy", 486, "remote"),
    proto.Digit(SID, "#"),
    proto.PlayDone(SID, "3", "stopped"),
    proto.RecordDone(SID, "RE1", "/tmp/r.wav", 1500, "key", "#"),
    proto.DtmfDone(SID),
    proto.AmdResult(SID, "machine_end_beep", 0.9, 10480),
    proto.Stream(SID, "MZ" + "1" * 32, "error", 31902, "ws://127.0.0.1:9/x: connection refused"),
    proto.Heard(SID, "7", "AAEAAQ==", "01"),
    proto.Speaking(SID, "CF" + "3" * 32, True),
    proto.Quality(SID, 250, 12, 2500, 240, 0, 1800, 41000, 60, final=True),
    proto.Registration(200, "OK", True),
    proto.Pong(7, 2),
    proto.CommandError("cannot play /tmp/a.wav: Unsupported WAVE file format", SID, "play", "3"),
]


def test_the_samples_cover_every_message() -> None:
    assert {type(m) for m in SAMPLES} == set(proto.COMMANDS.values()) | set(proto.EVENTS.values())
    assert len(proto.COMMANDS) == 33 and len(proto.EVENTS) == 18


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: m.NAME)
def test_round_trip(message: proto.Command | proto.Event) -> None:
    line = message.to_json()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert proto.from_json(line) == message
    assert proto.from_json(line.decode()) == message


def test_wire_format_is_todays_json_shape() -> None:
    call = json.loads(SAMPLES[0].to_json())
    assert call == {
        "op": "call",
        "call_sid": SID,
        "to_uri": "sip:+15005550006@127.0.0.1:5090",
        "from_uri": "sip:+15005550100@127.0.0.1",
        "timeout_s": 30.0,
        "headers": [["P-Asserted-Identity", "<sip:x@y>"]],
        "amd": "",
        "amd_timeout_ms": 30000,
        "amd_speech_threshold_ms": 2400,
        "amd_speech_end_threshold_ms": 1200,
        "amd_silence_timeout_ms": 5000,
        "auth_username": "",
        "auth_password": "",
    }
    assert json.loads(proto.Shutdown().to_json()) == {"op": "shutdown"}
    assert json.loads(proto.Ended(SID, "failed", None, "local").to_json()) == {
        "ev": "ended",
        "call_sid": SID,
        "reason": "failed",
        "sip_code": None,
        "hangup_by": "local",
        "message": "",
    }
    error = json.loads(proto.CommandError("boom", SID, "record", "RE1").to_json())
    assert json.loads(proto.Ready(5060, 7).to_json()) == {
        "ev": "ready",
        "port": 5060,
        "pid": 7,
        "version": proto.VERSION,
    }
    assert json.loads(proto.RecordDone(SID, "RE1", "/r.wav", 10, "key", "#").to_json())["duration_ms"] == 10
    assert json.loads(proto.AmdResult(SID, "human", 0.5, 900).to_json())["detection_ms"] == 900
    assert error == {"ev": "error", "message": "boom", "call_sid": SID, "command": "record", "ref": "RE1"}


def test_defaults_fill_optional_fields_and_numbers_widen() -> None:
    assert proto.from_json('{"op":"play","call_sid":"CA1","play_id":"1","path":"/a.wav"}') == proto.Play(
        "CA1", "1", "/a.wav", 1
    )
    call = proto.from_json('{"op":"call","call_sid":"CA1","to_uri":"sip:a@b","from_uri":"sip:c@d","timeout_s":60}')
    assert isinstance(call, proto.MakeCall) and call.timeout_s == 60.0 and isinstance(call.timeout_s, float)
    assert call.headers == ()
    assert proto.from_json('{"ev":"error","message":"bad command: x"}') == proto.CommandError("bad command: x")


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ("[1, 2]", "not a message"),
        ('{"call_sid": "CA1"}', "unknown message"),
        ('{"op": "dance", "call_sid": "CA1"}', "unknown message"),
        ('{"ev": "exploded"}', "unknown message"),
        ('{"op": 3}', "unknown message"),
        ('{"op": "hangup"}', "missing 'call_sid'"),
        ('{"op": "play", "call_sid": "CA1", "play_id": "1"}', "missing 'path'"),
        ('{"op": "hangup", "call_sid": 5}', "bad 'call_sid'"),
        ('{"op": "play", "call_sid": "CA1", "play_id": "1", "path": "/a", "loop": "2"}', "bad 'loop'"),
        ('{"op": "play", "call_sid": "CA1", "play_id": "1", "path": "/a", "loop": true}', "bad 'loop'"),
        ('{"op": "play", "call_sid": "CA1", "play_id": "1", "path": "/a", "loop": 1.5}', "bad 'loop'"),
        ('{"op": "ping", "n": null}', "bad 'n'"),
        ('{"op": "call", "call_sid": "CA1", "to_uri": "a", "from_uri": "b", "headers": [["X"]]}', "bad 'headers'"),
        ('{"op": "call", "call_sid": "CA1", "to_uri": "a", "from_uri": "b", "headers": "X: 1"}', "bad 'headers'"),
        ('{"op": "call", "call_sid": "CA1", "to_uri": "a", "from": "b"}', "missing 'from_uri'"),
        ('{"op": "record", "call_sid": "CA1", "rec_id": "r", "path": "/r", "mix_with": 5}', "bad 'mix_with'"),
        ('{"ev": "ended", "call_sid": "CA1", "reason": "exploded"}', "bad 'reason'"),
        ('{"ev": "play_done", "call_sid": "CA1", "play_id": "1", "how": "maybe"}', "bad 'how'"),
        (
            '{"ev": "record_done", "call_sid": "CA1", "rec_id": "r", "path": "/r", "duration_ms": "10", "how": "key"}',
            "bad 'duration_ms'",
        ),
        ('{"op": "hangup", "call_sid": "CA1", "why": "because"}', "unknown field"),
        ('{"op": "shutdown", "now": true}', "unknown field"),
    ],
)
def test_bad_lines_are_refused(line: str | bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        proto.from_json(line)


def test_each_side_reads_only_its_own_kind() -> None:
    assert proto.command_from_json(proto.Ping(1).to_json()) == proto.Ping(1)
    assert proto.event_from_json(proto.Pong(1).to_json()) == proto.Pong(1)
    with pytest.raises(ValueError, match="not a command"):
        proto.command_from_json(proto.Pong(1).to_json())
    with pytest.raises(ValueError, match="not an event"):
        proto.event_from_json(proto.Ping(1).to_json())


def test_failure_names_the_command_its_call_and_its_reference() -> None:
    other = "CA" + "2" * 32
    assert proto.failure(proto.Play(SID, "4", "/a.wav"), "m") == proto.CommandError("m", SID, "play", "4")
    assert proto.failure(proto.Record(SID, "RE9", "/r.wav"), "m") == proto.CommandError("m", SID, "record", "RE9")
    assert proto.failure(proto.PauseRecord(SID, "RE9"), "m") == proto.CommandError("m", SID, "pause_record", "RE9")
    assert proto.failure(proto.StreamEnd(SID, "7", 9), "m") == proto.CommandError("m", SID, "stream_end", "7")
    bad = '{"op":"pause_record","call_sid":"CA1","rec_id":"RE1","behavior":"mute"}'
    with pytest.raises(ValueError, match="behavior"):
        proto.from_json(bad)
    assert proto.failure(proto.Bridge(SID, other), "m") == proto.CommandError("m", SID, "bridge", "")
    assert proto.failure(proto.Unbridge(SID, other), "m") == proto.CommandError("m", SID, "unbridge", "")
    assert proto.failure(proto.SendDtmf(SID, "1"), "m") == proto.CommandError("m", SID, "dtmf", "")
    watch = proto.failure(proto.WatchSpeech(SID, "CF1"), "m")  # the session notifies it (12400)
    assert watch == proto.CommandError("m", SID, "watch_speech", "CF1")
    assert proto.to_sip_event(watch) == CommandFailed(SID, "watch_speech", "CF1", 12400, "m")
    assert proto.failure(proto.MakeCall(SID, "a", "b"), "m") == proto.CommandError("m", SID, "call", "")
    assert proto.failure(proto.Ping(3), "m") == proto.CommandError("m", "", "ping", "")
    assert proto.failure(proto.RelayOpen(SID, other, 1, 2), "m") == proto.CommandError("m", SID, "relay_open", "")
    # a room the call could not join reaches its session (CommandFailed); a failed leave is the pool's
    room = "CF" + "3" * 32
    join = proto.CommandError("m", SID, "room_join", "")
    assert proto.failure(proto.RoomJoin(SID, room), "m") == join
    assert isinstance(proto.to_sip_event(join), CommandFailed)
    assert proto.to_sip_event(proto.failure(proto.RemoteOpen(SID, room, 1, 2), "m")) is not None
    assert proto.to_sip_event(proto.failure(proto.RoomLeave(SID, room), "m")) is None
    assert proto.to_sip_event(proto.failure(proto.RemoteClose(SID, room), "m")) is None
    # a room recording's failure names the room and the recording: the pool's, no call's
    rec = "RE" + "4" * 32
    failed = proto.failure(proto.RoomRecord(room, rec, "/tmp/room.wav"), "m")
    assert failed == proto.CommandError("m", room, "room_record", rec)
    assert proto.to_sip_event(failed) is None
    assert proto.failure(proto.RoomRecordStop(room, rec), "m") == proto.CommandError("m", room, "room_record_stop", rec)


def test_events_map_to_calls_ports_events() -> None:
    mapped = [proto.to_sip_event(m) for m in SAMPLES if type(m) in proto.EVENTS.values()]  # type: ignore[arg-type]
    assert mapped == [
        None,  # ready: the pool's own
        None,  # incoming: the pool answers it (reject)
        CallInitiated(SID),
        CallRinging(SID, 183),
        CallAnswered(SID, 200),
        CallEnded(SID, "busy", 486, "remote"),
        DigitReceived(SID, "#"),
        PlaybackFinished(SID, "3", "stopped"),
        RecordingFinished(SID, "RE1", "/tmp/r.wav", 1500, "key", "#"),
        DigitsSent(SID),
        AmdDecided(SID, "machine_end_beep", 0.9, 10480),
        StreamChanged(SID, "MZ" + "1" * 32, "error", 31902, "ws://127.0.0.1:9/x: connection refused"),
        AudioHeard(SID, "7", b"\x00\x01\x00\x01", (False, True)),
        SpeakingChanged(SID, "CF" + "3" * 32, True),
        QualitySampled(SID, Reading(250, 12, 2500, 240, 0, 1800, 41000, 60), final=True),
        None,  # registration: the pool's own
        None,  # pong
        CommandFailed(SID, "play", "3", 13420, "cannot play /tmp/a.wav: Unsupported WAVE file format"),
    ]


def test_a_failed_command_becomes_command_failed_with_twilios_code() -> None:
    """13420 (Play: invalid content) for a prompt the worker cannot open, else 12400 (internal failure)."""
    assert proto.to_sip_event(proto.CommandError("x", SID, "record", "RE1")) == CommandFailed(
        SID, "record", "RE1", 12400, "x"
    )
    assert proto.to_sip_event(proto.CommandError("x", SID, "bridge")) == CommandFailed(SID, "bridge", "", 12400, "x")
    # A call that could not be placed has nothing else to end it: it ends failed.
    assert proto.to_sip_event(proto.CommandError("x", SID, "call")) == CallEnded(SID, "failed", None, "local")
    # An error naming no call (a bad line) or no known command is the pool's to log.
    assert proto.to_sip_event(proto.CommandError("bad command: x")) is None
    assert proto.to_sip_event(proto.CommandError("x", SID, "dance")) is None
    # the pool's own relay commands: the pool logs their failure, no session hears of it
    assert proto.to_sip_event(proto.CommandError("x", SID, "relay_open")) is None
    assert proto.to_sip_event(proto.CommandError("x", SID, "relay_close")) is None
    assert proto.to_sip_event(proto.CommandError("x", "", "reject")) is None


def test_end_reason_and_dtmf_plan() -> None:
    assert proto.end_reason(True, 200, None) == "completed"
    assert proto.end_reason(False, 487, "cancel") == "canceled"
    assert proto.end_reason(False, None, "timeout") == "no-answer"
    # An inbound call: <Reject> (busy / no-answer by its code), the caller gone before the answer.
    assert proto.end_reason(False, 486, "reject", inbound=True) == "busy"
    assert proto.end_reason(False, 603, "reject", inbound=True) == "no-answer"
    assert proto.end_reason(False, 487, None, inbound=True) == "canceled"
    assert proto.end_reason(False, 487, None) == "no-answer"
    assert [proto.end_reason(False, c, None) for c in (486, 480, 503)] == ["busy", "no-answer", "failed"]
    assert proto.dtmf_plan("12w3W", 10.0) == [(10.0, "12"), (11.0, "3")]


def test_incoming_fields_take_the_request_uri_and_the_routing_headers() -> None:
    message = (
        "INVITE sip:+15005550100@127.0.0.1:5060;user=phone SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n"
        "p-asserted-identity: <sip:+14155550199@carrier.example>\r\n"
        "Diversion: <sip:+13105550000@carrier.example>;reason=unconditional\r\n"
        "X-Wirexa-Auth: phone=alice\r\n"
        "Content-Length: 0\r\n\r\nX-Wirexa-Auth: in the body, not a header\r\n"
    )
    uri, headers = proto.incoming_fields(message)
    assert uri == "sip:+15005550100@127.0.0.1:5060;user=phone"
    assert headers == (
        ("P-Asserted-Identity", "<sip:+14155550199@carrier.example>"),
        ("Diversion", "<sip:+13105550000@carrier.example>;reason=unconditional"),
        ("X-Wirexa-Auth", "phone=alice"),
    )
    assert proto.incoming_fields("garbage") == ("", ())


def test_source_host_of_the_fronts_header() -> None:
    assert proto.source_host("198.51.100.7:40001;transport=udp") == "198.51.100.7"
    assert proto.source_host("[2001:db8::5]:5060;transport=tcp") == "2001:db8::5"
    assert proto.source_host("127.0.0.1:5060") == "127.0.0.1"


def test_x_headers_of_a_response_leave_the_engines_own() -> None:
    ok = "SIP/2.0 200 OK\r\nX-Tenant: acme\r\nx-wirexa-callsid: CA1\r\nContact: <sip:a@b>\r\n\r\nv=0\r\nX-Not: body\r\n"
    assert proto.x_headers(ok) == (("X-Tenant", "acme"),)
