"""<Dial><Conference>: parsed (Twilio's defaults, every attribute, warnings for what Wirexa does
not act on and for <Dial> attributes with no effect on a room) and run (the DialConference
action with absolute URLs, DialEnded and <Dial action>, hangupOnStar and live updates)."""

from __future__ import annotations

import pytest

from wirexa.laml import actions as act
from wirexa.laml import verbs as v
from wirexa.laml.events import CallRedirected, DialCallStatus, DialEnded, DigitReceived
from wirexa.laml.interpreter import Interpreter, State
from wirexa.laml.parse import parse_document
from wirexa.notices import Notice

from .helpers import CALL, DOC_URL, drive, flow


def doc(inner: str) -> v.Document:
    return parse_document(f"<Response>{inner}</Response>", "text/xml")


def room(attrs: str = "", name: str = "room", dial: str = "") -> tuple[v.DialConference | None, list[str]]:
    parsed = doc(f"<Dial{dial}><Conference{attrs}>{name}</Conference></Dial>")
    (verb,) = parsed.verbs
    assert isinstance(verb, v.Dial) and verb.targets == () and verb.queue is None
    return verb.conference, [w.message for w in parsed.warnings]


# --- parse -----------------------------------------------------------------------------------


def test_defaults() -> None:
    conference, warnings = room(name=" sales ")
    assert conference == v.DialConference("sales") and warnings == []
    assert conference.beep is v.Beep.TRUE and conference.start_conference_on_enter and conference.wait_url is None
    assert conference.max_participants == 250 and conference.status_callback_event == ()


def test_every_attribute() -> None:
    conference, warnings = room(
        ' muted="true" beep="onExit" startConferenceOnEnter="false" endConferenceOnExit="true"'
        ' participantLabel=" agent " waitUrl="/wait" waitMethod="GET" maxParticipants="3"'
        ' record="record-from-start" trim="do-not-trim" coach="CA123" statusCallback="/cb"'
        ' statusCallbackMethod="GET" statusCallbackEvent="start end join leave mute hold modify speaker announcement"'
        ' recordingStatusCallback="/rec" recordingStatusCallbackMethod="GET"'
        ' recordingStatusCallbackEvent="in-progress completed absent"'
    )
    assert warnings == []
    assert conference == v.DialConference(
        name="room",
        muted=True,
        beep=v.Beep.ON_EXIT,
        start_conference_on_enter=False,
        end_conference_on_exit=True,
        participant_label="agent",
        wait_url="/wait",
        wait_method=v.HttpMethod.GET,
        max_participants=3,
        record=v.ConferenceRecord.RECORD_FROM_START,
        trim=v.Trim.DO_NOT_TRIM,
        coach="CA123",
        status_callback="/cb",
        status_callback_method=v.HttpMethod.GET,
        status_callback_event=("start", "end", "join", "leave", "mute", "hold", "modify", "speaker", "announcement"),
        recording_status_callback="/rec",
        recording_status_callback_method=v.HttpMethod.GET,
        recording_status_callback_event=("in-progress", "completed", "absent"),
    )


@pytest.mark.parametrize(
    ("value", "beep"),
    [("true", v.Beep.TRUE), ("false", v.Beep.FALSE), ("onEnter", v.Beep.ON_ENTER), ("onexit", v.Beep.ON_EXIT)],
)
def test_beep_values(value: str, beep: v.Beep) -> None:
    conference, warnings = room(f' beep="{value}"')
    assert conference is not None and conference.beep is beep and warnings == []


def test_wait_url_empty_is_silence_not_the_default() -> None:
    conference, _ = room(' waitUrl=""')
    assert conference is not None and conference.wait_url == ""


def test_bad_values_warn_and_default() -> None:
    conference, warnings = room(
        ' muted="yes" beep="loud" maxParticipants="1" record="true" trim="x" waitMethod="PUT"'
        ' statusCallbackEvent="start bogus join start"'
    )
    assert conference == v.DialConference("room", status_callback_event=("start", "join"))
    assert len(warnings) == 7
    conference, warnings = room(' maxParticipants="400"')
    assert conference is not None and conference.max_participants == 250 and len(warnings) == 1


def test_label_over_128_characters_is_warned_and_dropped() -> None:
    conference, warnings = room(f' participantLabel="{"x" * 129}"')
    assert conference is not None and conference.participant_label is None and len(warnings) == 1
    conference, warnings = room(f' participantLabel="{"x" * 128}"')
    assert conference is not None and conference.participant_label == "x" * 128 and warnings == []


def test_attributes_wirexa_does_not_act_on_are_each_notified() -> None:
    _, warnings = room(
        ' jitterBufferSize="small" region="ie1" eventCallbackUrl="/ev" recordingConfigurationId="RC1" colour="red"'
    )
    for attr in ("jitterBufferSize", "region", "eventCallbackUrl", "recordingConfigurationId", "colour"):
        assert sum(attr in message for message in warnings) == 1, attr
    assert len(warnings) == 5


def test_dial_attributes_with_no_effect_are_warned_the_ones_that_apply_kept() -> None:
    parsed = doc(
        '<Dial action="/after" method="GET" hangupOnStar="true" timeLimit="30" timeout="5" callerId="+1555"'
        ' record="record-from-answer" answerOnBridge="true"><Conference>room</Conference></Dial>'
    )
    (dial,) = parsed.verbs
    assert dial == v.Dial(
        (), "/after", v.HttpMethod.GET, conference=v.DialConference("room"), time_limit_s=30, hangup_on_star=True
    )
    messages = [w.message for w in parsed.warnings]
    assert sum("has no effect on <Conference>" in m for m in messages) == 4
    assert all(w.code == Notice.SCHEMA_WARNING for w in parsed.warnings)


def test_other_nouns_and_a_second_room_are_skipped_with_a_warning() -> None:
    parsed = doc("<Dial><Number>+15550003333</Number><Conference>a</Conference><Conference>b</Conference></Dial>")
    (dial,) = parsed.verbs
    assert isinstance(dial, v.Dial) and dial.targets == () and dial.conference == v.DialConference("a")
    assert {w.code for w in parsed.warnings} == {Notice.DIAL_INVALID_NESTED_ELEMENT} and len(parsed.warnings) == 2


def test_a_room_without_a_usable_name_leaves_nothing_to_dial() -> None:
    for name in ("", "  ", "x" * 129):
        conference, warnings = room(name=name)
        assert conference is None and len(warnings) == 1
    conference, _ = room(name="x" * 128)
    assert conference is not None


def test_conference_outside_dial_is_still_unsupported() -> None:
    assert doc("<Conference>room</Conference>").verbs == (v.Unsupported("Conference"),)


# --- interpreter -------------------------------------------------------------------------------


def start(xml: str) -> tuple[Interpreter, list[act.Action]]:
    interpreter = Interpreter(CALL, DOC_URL)
    return interpreter, interpreter.start(doc(xml))


def joined(actions: list[act.Action]) -> act.DialConference:
    (action,) = [a for a in actions if isinstance(a, act.DialConference)]
    return action


def test_dial_conference_action_with_absolute_urls() -> None:
    interpreter, actions = start(
        '<Dial hangupOnStar="true" timeLimit="60"><Conference muted="true" beep="onEnter" waitUrl="wait"'
        ' statusCallback="/cb" statusCallbackEvent="join leave" recordingStatusCallback="rec"'
        ' participantLabel="l" coach="CA1" maxParticipants="5">room</Conference></Dial>'
    )
    assert interpreter.state is State.DIALING
    action = joined(actions)
    assert action.name == "room" and action.muted and action.beep is v.Beep.ON_ENTER
    assert action.wait_url == "https://app.example/voice/wait" and action.status_callback == "https://app.example/cb"
    assert action.recording_status_callback == "https://app.example/voice/rec"
    assert action.status_callback_event == ("join", "leave") and action.participant_label == "l"
    assert action.coach == "CA1" and action.max_participants == 5
    assert action.time_limit_s == 60 and action.hangup_on_star


def test_an_inbound_call_is_answered_first() -> None:
    interpreter = Interpreter({**CALL, "Direction": "inbound"}, DOC_URL)
    actions = interpreter.start(doc("<Dial><Conference>r</Conference></Dial>"))
    assert isinstance(actions[0], act.Answer) and isinstance(actions[1], act.DialConference)


def test_wait_url_none_and_empty_pass_through() -> None:
    assert joined(start("<Dial><Conference>r</Conference></Dial>")[1]).wait_url is None
    assert joined(start('<Dial><Conference waitUrl="">r</Conference></Dial>')[1]).wait_url == ""


def test_leaving_the_room_requests_dial_action() -> None:
    interpreter, actions = start('<Dial action="/after"><Conference>r</Conference></Dial><Say>never</Say>')
    op = joined(actions).op_id
    actions = interpreter.feed(DialEnded(op, DialCallStatus.COMPLETED, None, 12, True))
    assert flow(actions) == ["fetch:POST https://app.example/after?DialCallStatus=completed&DialCallDuration=12"
                             "&DialBridged=true"]  # fmt: skip


def test_leaving_without_action_runs_the_next_verb() -> None:
    interpreter, actions = start("<Dial><Conference>r</Conference></Dial><Say>next</Say>")
    actions = interpreter.feed(DialEnded(joined(actions).op_id, DialCallStatus.FAILED))
    assert flow(actions) == ["say:next"]


def test_hangup_on_star_and_live_update_stop_the_participation() -> None:
    interpreter, actions = start('<Dial hangupOnStar="true"><Conference>r</Conference></Dial>')
    assert interpreter.feed(DigitReceived("1")) == []
    assert flow(interpreter.feed(DigitReceived("*"))) == ["stop-dial"]
    interpreter, actions = start("<Dial><Conference>r</Conference></Dial>")
    assert interpreter.feed(DigitReceived("*")) == []
    actions = interpreter.feed(CallRedirected(document=doc("<Say>moved</Say>")))
    assert "stop-dial" in flow(actions)


def test_unresolvable_urls() -> None:
    interpreter = Interpreter(CALL, None)
    actions = drive(
        interpreter, interpreter.start(doc('<Dial><Conference waitUrl="relative">r</Conference></Dial>')), []
    )
    assert not any(isinstance(a, act.DialConference) for a in actions)
    assert any(isinstance(a, act.Notify) and a.code == Notice.INVALID_URL for a in actions)
    interpreter = Interpreter(CALL, None)
    actions = interpreter.start(doc('<Dial><Conference statusCallback="relative">r</Conference></Dial>'))
    action = joined(actions)
    assert action.status_callback is None
    notices = [a for a in actions if isinstance(a, act.Notify)]
    assert len(notices) == 1 and notices[0].level is act.NotifyLevel.WARNING and "no callbacks" in notices[0].message
