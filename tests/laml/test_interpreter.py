"""Interpreter flows: every verb, its attributes in motion, errors, live updates and hangups."""

from __future__ import annotations

import pytest

from wirexa.laml import actions as act
from wirexa.laml.events import (
    CallHungUp,
    CallRedirected,
    DialCallStatus,
    DialEnded,
    DigitReceived,
    DocumentLoaded,
    PlaybackFinished,
    RecordingSaved,
    TimerFired,
)
from wirexa.laml.interpreter import (
    TRANSITIONS,
    Interpreter,
    InterpreterStateError,
    State,
)
from wirexa.laml.parse import parse_document
from wirexa.laml.verbs import (
    DialRecord,
    DialTarget,
    Document,
    HttpMethod,
    Play,
    RejectReason,
    TargetKind,
    Trim,
)

from .helpers import (
    CALL,
    DOC_URL,
    DialDone,
    Empty,
    Failed,
    Fired,
    Loaded,
    Played,
    Saved,
    drive,
    flow,
    press,
    run,
    run_url,
)

APP_ERROR = ["say:We are sorry, an application error has occurred. Goodbye."]
INBOUND = {**CALL, "Direction": "inbound", "CallStatus": "ringing"}


def doc(inner: str) -> str:
    return f"<Response>{inner}</Response>"


# --- basics --------------------------------------------------------------------------------------


def test_transition_table_names_real_handlers() -> None:
    assert set(TRANSITIONS) == set(State)
    for handlers in TRANSITIONS.values():
        for name in handlers.values():
            assert callable(getattr(Interpreter, name))


def test_empty_document_hangs_up() -> None:
    assert flow(run(doc(""))) == ["hangup", "finished"]


def test_verbs_run_top_to_bottom_then_hang_up() -> None:
    actions = run(doc("<Say>One</Say><Play>/a.wav</Play><Pause length='2'/>"),
                  [Played(), Played(), Fired()])  # fmt: skip
    assert flow(actions) == [
        "say:One", "play:https://app.example/a.wav", "timer:2", "hangup", "finished",
    ]  # fmt: skip


def test_say_action_carries_voice_language_loop() -> None:
    actions = run(doc('<Say voice="alice" language="en-GB" loop="3">Hi</Say>'))
    assert actions == [act.Say(1, "Hi", "alice", "en-GB", 3)]


def test_loop_zero_is_passed_through_and_only_ends_with_the_call() -> None:
    actions = run(doc('<Say loop="0">Hold</Say><Hangup/>'), [CallHungUp()])
    assert flow(actions) == ["say:Hold x0", "finished"]


def test_play_loop_and_digits() -> None:
    actions = run(doc('<Play loop="2">https://cdn/x.mp3</Play><Play digits="w1#"/>'),
                  [Played(), Played()])  # fmt: skip
    assert actions[:2] == [act.PlayAudio(1, "https://cdn/x.mp3", 2), act.PlayDigits(2, "w1#")]


def test_pause_zero_is_skipped() -> None:
    assert flow(run(doc('<Pause length="0"/><Say>x</Say>'))) == ["say:x"]


def test_events_not_in_the_table_are_ignored() -> None:
    actions = run(doc("<Say>x</Say>"), [DigitReceived("1"), TimerFired(1), Played()])
    assert flow(actions) == ["say:x", "hangup", "finished"]


def test_stale_op_ids_are_dropped() -> None:
    interpreter = Interpreter(CALL, DOC_URL)
    interpreter.start(parse_document(doc("<Say>a</Say><Say>b</Say>"), "text/xml"))
    assert interpreter.feed(PlaybackFinished(99)) == []
    assert interpreter.feed(PlaybackFinished(1)) == [act.Say(2, "b", "man", "en-US", 1)]
    assert interpreter.feed(PlaybackFinished(1)) == []
    assert interpreter.state is State.PLAYING


def test_finished_ignores_everything() -> None:
    interpreter = Interpreter(CALL, DOC_URL)
    interpreter.start(Document(()))
    assert interpreter.finished
    assert interpreter.feed(CallHungUp()) == []
    assert interpreter.feed(DigitReceived("1")) == []


def test_misuse_raises() -> None:
    interpreter = Interpreter(CALL, DOC_URL)
    with pytest.raises(InterpreterStateError):
        interpreter.feed(CallHungUp())
    interpreter.start("/x")
    with pytest.raises(InterpreterStateError):
        interpreter.start("/x")
    with pytest.raises(TypeError):
        interpreter.feed("hello")  # type: ignore[arg-type]
    with pytest.raises(InterpreterStateError):
        interpreter.feed(CallRedirected())


# --- fetching ------------------------------------------------------------------------------------


def test_start_with_url_fetches_with_call_params() -> None:
    actions = run_url("https://app.example/xml", [Loaded(doc("<Hangup/>"))])
    assert actions[0] == act.FetchDocument(
        1, "https://app.example/xml", HttpMethod.POST, tuple(CALL.items()), act.FetchReason.INITIAL
    )
    assert flow(actions)[1:] == ["hangup", "finished"]


def test_start_with_get_method() -> None:
    interpreter = Interpreter(CALL, "https://app.example/base/")
    (fetch,) = interpreter.start("next", HttpMethod.GET)
    assert isinstance(fetch, act.FetchDocument)
    assert (fetch.url, fetch.method) == ("https://app.example/base/next", HttpMethod.GET)


def test_relative_start_url_without_base_is_an_application_error() -> None:
    actions = run_url("/xml", [Played()])
    assert flow(actions) == ["notify:11100", *APP_ERROR, "hangup", "finished"]


@pytest.mark.parametrize("code", [11200, 12100, 12102, 12300, 11750])
def test_fetch_failure_announces_application_error(code: int) -> None:
    actions = run_url("https://app.example/xml", [Failed(code, "boom"), Played()])
    assert flow(actions)[1:] == [f"notify:{code}", *APP_ERROR, "hangup", "finished"]
    assert actions[1] == act.Notify(code, "boom", "https://app.example/xml")


def test_fetch_failure_on_unanswered_inbound_call_answers_first() -> None:
    actions = run_url("https://app.example/xml", [Failed()], call_params=INBOUND)
    assert flow(actions)[1:] == ["notify:11200", "answer", *APP_ERROR]


def test_relative_urls_resolve_against_the_final_document_url() -> None:
    actions = run_url(
        "https://app.example/start",
        [Loaded(doc("<Redirect>next</Redirect>"), url="https://other.example/a/b"),
         Loaded(doc("<Play>../c.wav</Play>"))],
    )  # fmt: skip
    assert flow(actions)[1:] == [
        "fetch:POST https://other.example/a/next",
        "play:https://other.example/c.wav",
    ]


def test_document_warnings_become_notifications() -> None:
    actions = run_url("https://app.example/x", [Loaded(doc('<Dance/><Say loop="x">a</Say>'))])
    assert actions[1:3] == [
        act.Notify(12200, "unknown verb <Dance> skipped", "https://app.example/x",
                   act.NotifyLevel.WARNING),
        act.Notify(13510, "<Say>: invalid loop 'x'; using 1", "https://app.example/x",
                   act.NotifyLevel.WARNING),
    ]  # fmt: skip


def test_text_plain_and_audio_documents() -> None:
    actions = run_url("https://app.example/x", [Loaded("Hello there", "text/plain"), Played()])
    assert flow(actions)[1:] == ["say:Hello there", "hangup", "finished"]
    actions = run_url("https://app.example/x",
                      [Loaded("RIFF", "audio/wav", url="https://app.example/x.wav")])  # fmt: skip
    assert flow(actions)[1:] == ["play:https://app.example/x.wav"]


def test_call_status_param_tracks_the_call() -> None:
    interpreter = Interpreter(INBOUND, None)
    (fetch,) = interpreter.start("https://app.example/x")
    assert isinstance(fetch, act.FetchDocument)
    assert dict(fetch.params)["CallStatus"] == "ringing"
    actions = drive(interpreter, [fetch],
                    [Loaded(doc('<Gather numDigits="1"><Say>x</Say></Gather>')), *press("5")])  # fmt: skip
    gather_fetch = actions[-1]
    assert isinstance(gather_fetch, act.FetchDocument)
    assert dict(gather_fetch.params)["CallStatus"] == "in-progress"


def test_explicit_answered_flag_overrides_direction() -> None:
    interpreter = Interpreter(INBOUND, DOC_URL, answered=True)
    assert flow(interpreter.start(parse_document(doc("<Say>x</Say>"), None))) == ["say:x"]


# --- redirect and the loop guard ------------------------------------------------------------------


def test_redirect_fetches_and_skips_the_rest() -> None:
    actions = run(doc('<Redirect method="GET">/next</Redirect><Say>never</Say>'),
                  [Loaded(doc("<Say>there</Say>"))])  # fmt: skip
    assert flow(actions) == ["fetch:GET https://app.example/next", "say:there"]
    assert actions[0] == act.FetchDocument(
        1, "https://app.example/next", HttpMethod.GET, tuple(CALL.items()), act.FetchReason.REDIRECT
    )


def test_redirect_loop_is_capped() -> None:
    loop = doc("<Redirect>/loop</Redirect>")
    actions = run(loop, [Loaded(loop)] * 3, max_fetches=3)
    assert flow(actions) == ["fetch:POST https://app.example/loop"] * 3 + [
        "notify:11215",
        *APP_ERROR,
    ]


def test_verbs_between_fetches_reset_the_loop_guard() -> None:
    menu = doc("<Say>menu</Say><Redirect>/loop</Redirect>")
    actions = run(menu, [Played(), Loaded(menu)] * 5, max_fetches=1)
    assert flow(actions) == ["say:menu", "fetch:POST https://app.example/loop"] * 5 + ["say:menu"]  # no 11215


def test_redirect_without_any_base_url_is_an_application_error() -> None:
    actions = run(doc("<Redirect>relative</Redirect>"), url=None)
    assert flow(actions) == ["notify:11100", *APP_ERROR]


def test_play_with_unresolvable_url_is_an_application_error() -> None:
    actions = run(doc("<Play>x.wav</Play>"), url=None)
    assert flow(actions) == ["notify:11100", *APP_ERROR]


# --- Gather ------------------------------------------------------------------------------------


MENU = doc('<Gather numDigits="1" action="/g"><Say>Menu</Say></Gather><Say>Bye</Say>')


def test_gather_prompt_then_digit() -> None:
    actions = run(MENU, [Played(), *press("2")])
    assert flow(actions) == [
        "gather", "say:Menu", "timer:5", "cancel-timer", "end-gather",
        "fetch:POST https://app.example/g?Digits=2&FinishedOnKey=",
    ]  # fmt: skip
    assert actions[0] == act.StartGather(1, 5, "#")


def test_gather_barge_in_stops_prompts() -> None:
    actions = run(MENU, [*press("1")])
    assert flow(actions) == [
        "gather", "say:Menu", "stop-prompts", "end-gather",
        "fetch:POST https://app.example/g?Digits=1&FinishedOnKey=",
    ]  # fmt: skip


def test_gather_barge_in_false_ignores_keys_during_prompts() -> None:
    xml = doc('<Gather numDigits="1" bargeIn="false"><Say>Menu</Say></Gather>')
    actions = run(xml, [*press("1"), Played(), *press("3")])
    assert flow(actions)[-2:] == [
        "end-gather",
        "fetch:POST https://app.example/voice/xml?Digits=3&FinishedOnKey=",
    ]


def test_gather_no_input_falls_through() -> None:
    actions = run(MENU, [Played(), Fired(), Played()])
    assert flow(actions) == [
        "gather", "say:Menu", "timer:5", "end-gather", "say:Bye", "hangup", "finished",
    ]  # fmt: skip


def test_gather_no_input_with_action_on_empty_result() -> None:
    xml = doc('<Gather actionOnEmptyResult="true" timeout="3"/>')
    actions = run(xml, [Fired()])
    assert flow(actions) == [
        "gather", "timer:3", "end-gather",
        "fetch:POST https://app.example/voice/xml?Digits=&FinishedOnKey=",
    ]  # fmt: skip


def test_gather_finish_on_key_ends_and_is_not_included() -> None:
    actions = run(doc("<Gather/>"), [*press("12#")])
    assert flow(actions)[-1] == "fetch:POST https://app.example/voice/xml?Digits=12&FinishedOnKey=#"


def test_gather_finish_on_key_alone_does_not_end_it() -> None:
    actions = run(doc("<Gather/><Say>after</Say>"), [*press("#"), Fired()])
    assert flow(actions) == [
        "gather", "timer:5", "cancel-timer", "timer:5", "end-gather", "say:after",
    ]  # fmt: skip


def test_gather_without_finish_key_collects_hash() -> None:
    actions = run(doc('<Gather finishOnKey="" numDigits="2"/>'), [*press("#5")])
    assert flow(actions)[-1].endswith("Digits=#5&FinishedOnKey=")


def test_gather_timeout_between_digits_submits_what_it_has() -> None:
    actions = run(doc('<Gather timeout="2" numDigits="4"/>'), [*press("12"), Fired()])
    assert flow(actions) == [
        "gather", "timer:2", "cancel-timer", "timer:2", "cancel-timer", "timer:2", "end-gather",
        "fetch:POST https://app.example/voice/xml?Digits=12&FinishedOnKey=",
    ]  # fmt: skip


def test_gather_prompts_play_in_order_including_pauses() -> None:
    xml = doc('<Gather><Say>a</Say><Pause length="0"/><Pause length="2"/><Play>/b.wav</Play></Gather>')
    actions = run(xml, [Played(), Fired(), Played(), Fired()])
    assert flow(actions) == [
        "gather", "say:a", "timer:2", "play:https://app.example/b.wav", "timer:5",
        "end-gather", "hangup", "finished",
    ]  # fmt: skip


def test_gather_barge_in_during_nested_pause_cancels_its_timer() -> None:
    actions = run(doc('<Gather numDigits="1"><Pause length="3"/></Gather>'), [*press("7")])
    assert flow(actions) == ["gather", "timer:3", "cancel-timer", "end-gather",
                             "fetch:POST https://app.example/voice/xml?Digits=7&FinishedOnKey="]  # fmt: skip


def test_gather_method_get_and_relative_action() -> None:
    actions = run(doc('<Gather numDigits="1" action="menu?x=1" method="GET"/>'), [*press("3")])
    fetch = actions[-1]
    assert isinstance(fetch, act.FetchDocument)
    assert (fetch.url, fetch.method, fetch.reason) == (
        "https://app.example/voice/menu?x=1",
        HttpMethod.GET,
        act.FetchReason.GATHER,
    )
    assert fetch.params == (*CALL.items(), ("Digits", "3"), ("FinishedOnKey", ""))


def test_gather_prompt_with_unresolvable_play_is_an_application_error() -> None:
    actions = run(doc("<Gather><Play>x.wav</Play></Gather>"), url=None)
    assert flow(actions) == ["gather", "end-gather", "notify:11100", *APP_ERROR]


def test_gather_with_loop_zero_prompt_waits_for_a_key() -> None:
    actions = run(doc('<Gather numDigits="1"><Play loop="0">/hold.wav</Play></Gather>'), [*press("1")])
    assert flow(actions)[:3] == ["gather", "play:https://app.example/hold.wav x0", "stop-prompts"]


# --- Record ------------------------------------------------------------------------------------


def test_record_action_request() -> None:
    xml = doc('<Say>Leave a message</Say><Record maxLength="60" timeout="3" action="/done"/>')
    actions = run(xml, [Played(), Saved(digits="#", duration_s=12)])
    assert actions[1] == act.StartRecording(2, 60, 3, "1234567890*#", True, Trim.TRIM_SILENCE)
    fetch = actions[-1]
    assert fetch == act.FetchDocument(
        3, "https://app.example/done", HttpMethod.POST,
        (*CALL.items(), ("RecordingUrl", "https://engine/rec/RE1"), ("RecordingSid", "RE1"),
         ("RecordingDuration", "12"), ("Digits", "#")),
        act.FetchReason.RECORD,
    )  # fmt: skip


def test_record_without_action_refetches_current_document_and_omits_empty_digits() -> None:
    actions = run(doc("<Record/>"), [Saved()])
    assert flow(actions)[-1] == (
        "fetch:POST https://app.example/voice/xml"
        "?RecordingUrl=https://engine/rec/RE1&RecordingSid=RE1&RecordingDuration=7"
    )


def test_action_less_verbs_of_an_inline_document_go_on_with_the_next_verb() -> None:
    """The Twiml parameter's document has no URL to request again: no 11100, the next verb runs."""
    actions = run(doc("<Record/><Say>Thanks</Say>"), [Saved()], url=None)
    assert flow(actions) == ["record", "say:Thanks"]
    actions = run(doc("<Gather numDigits='1'/><Say>Bye</Say>"), [DigitReceived("4")], url=None)
    assert flow(actions) == ["gather", "timer:5", "cancel-timer", "end-gather", "say:Bye"]


def test_record_passes_attributes_and_resolves_status_callback() -> None:
    xml = doc('<Record playBeep="false" trim="do-not-trim" finishOnKey="" '
              'recordingStatusCallback="/rs" recordingStatusCallbackMethod="GET" '
              'recordingStatusCallbackEvent="absent"/>')  # fmt: skip
    (start,) = run(xml)
    assert start == act.StartRecording(
        1,
        3600,
        5,
        "",
        False,
        Trim.DO_NOT_TRIM,
        "https://app.example/rs",
        HttpMethod.GET,
        ("absent",),
    )


def test_empty_recording_continues_with_next_verb() -> None:
    actions = run(doc("<Record action='/done'/><Say>Nothing recorded</Say>"), [Empty()])
    assert flow(actions) == ["record", "say:Nothing recorded"]


def test_hangup_during_record_still_reports_to_action() -> None:
    actions = run(doc("<Record action='/done'/>"), [CallHungUp(), DigitReceived("1"), Saved()])
    assert flow(actions) == [
        "record", "stop-record",
        (
            "fetch:POST https://app.example/done?RecordingUrl=https://engine/rec/RE1"
            "&RecordingSid=RE1&RecordingDuration=7&Digits=hangup"
        ),
        "finished",
    ]  # fmt: skip
    fetch = actions[2]
    assert isinstance(fetch, act.FetchDocument)
    assert dict(fetch.params)["CallStatus"] == "completed"


def test_hangup_during_record_with_empty_recording() -> None:
    assert flow(run(doc("<Record/>"), [CallHungUp(), Empty()])) == [
        "record",
        "stop-record",
        "finished",
    ]


def test_hangup_during_record_without_resolvable_action_just_finishes() -> None:
    actions = run(doc("<Record/>"), [CallHungUp(), Saved()], url=None)
    assert flow(actions) == ["record", "stop-record", "finished"]


# --- Dial --------------------------------------------------------------------------------------


def test_dial_action_request() -> None:
    xml = doc('<Dial action="/after" callerId="+18005550100" timeout="20" timeLimit="60" '
              'hangupOnStar="true" record="true"><Number url="/whisper" statusCallback="/st">'
              "+15551230000</Number></Dial>")  # fmt: skip
    actions = run(xml, [DialDone()])
    assert actions[0] == act.Dial(
        op_id=1,
        targets=(DialTarget(TargetKind.NUMBER, "+15551230000", url="https://app.example/whisper",
                            status_callback="https://app.example/st"),),
        timeout_s=20,
        caller_id="+18005550100",
        time_limit_s=60,
        hangup_on_star=True,
        record=DialRecord.RECORD_FROM_ANSWER,
    )  # fmt: skip
    assert flow(actions)[-1] == (
        "fetch:POST https://app.example/after?DialCallStatus=completed"
        f"&DialCallSid=CA{'9' * 32}&DialCallDuration=42&DialBridged=true"
    )


def test_dial_without_action_continues() -> None:
    actions = run(doc("<Dial>+15551234</Dial><Say>after</Say>"),
                  [DialDone(DialCallStatus.BUSY, bridged=False, duration_s=None)])  # fmt: skip
    assert flow(actions) == ["dial:+15551234", "say:after"]


def test_dial_end_params_include_recording_and_extras() -> None:
    interpreter = Interpreter(CALL, DOC_URL)
    interpreter.start(parse_document(doc('<Dial action="/a"><Sip>sip:x@y</Sip></Dial>'), None))
    event = DialEnded(1, DialCallStatus.NO_ANSWER, None, None, False, "RE2", "https://r/RE2", 5,
                      (("DialSipResponseCode", "480"),))  # fmt: skip
    (fetch,) = interpreter.feed(event)
    assert isinstance(fetch, act.FetchDocument)
    assert fetch.params[len(CALL):] == (
        ("DialCallStatus", "no-answer"), ("DialBridged", "false"), ("RecordingUrl", "https://r/RE2"),
        ("RecordingSid", "RE2"), ("RecordingDuration", "5"), ("DialSipResponseCode", "480"),
    )  # fmt: skip


def test_dial_with_no_valid_target_fails_at_once() -> None:
    actions = run(doc('<Dial action="/a">not a number</Dial>'))
    assert flow(actions) == [
        "notify:13223",
        "fetch:POST https://app.example/a?DialCallStatus=failed&DialBridged=false",
    ]
    assert flow(run(doc("<Dial>x</Dial><Say>next</Say>"))) == ["notify:13223", "say:next"]


def test_dial_hangup_on_star() -> None:
    xml = doc('<Dial hangupOnStar="true">+15551234</Dial><Say>back</Say>')
    actions = run(xml, [*press("1*"), DialDone()])
    assert flow(actions) == ["dial:+15551234", "stop-dial", "say:back"]
    assert flow(run(doc("<Dial>+15551234</Dial>"), [*press("*")])) == ["dial:+15551234"]


def test_hangup_during_dial_reports_to_action() -> None:
    actions = run(doc('<Dial action="/a">+15551234</Dial>'), [CallHungUp(), DialDone()])
    assert flow(actions)[:2] == ["dial:+15551234", "stop-dial"]
    assert flow(actions)[2].startswith("fetch:POST https://app.example/a?DialCallStatus=completed")
    assert flow(actions)[3] == "finished"
    no_action = run(doc("<Dial>+15551234</Dial>"), [CallHungUp(), DialDone()])
    assert flow(no_action) == ["dial:+15551234", "stop-dial", "finished"]


# --- Hangup / Reject / Unsupported / answering --------------------------------------------------


def test_hangup_stops_the_document() -> None:
    assert flow(run(doc("<Hangup/><Say>never</Say>"))) == ["hangup", "finished"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [(INBOUND, ["reject:busy", "finished"]), (CALL, ["hangup", "finished"])],
)
def test_reject(params: dict[str, str], expected: list[str]) -> None:
    assert flow(run(doc('<Reject reason="busy"/>'), call_params=params)) == expected


def test_reject_after_answer_hangs_up() -> None:
    actions = run(doc("<Say>hi</Say><Reject/>"), [Played()], call_params=INBOUND)
    assert flow(actions) == ["answer", "say:hi", "hangup", "finished"]


def test_reject_reason_default() -> None:
    assert run(doc("<Reject/>"), call_params=INBOUND)[0] == act.Reject(RejectReason.REJECTED)


def test_inbound_pause_delays_answer() -> None:
    actions = run(doc('<Pause length="2"/><Say>hi</Say><Say>again</Say>'), [Fired(), Played()],
                  call_params=INBOUND)  # fmt: skip
    assert flow(actions) == ["timer:2", "answer", "say:hi", "say:again"]


@pytest.mark.parametrize(
    ("inner", "first"),
    [
        ("<Gather/>", ["answer", "gather"]),
        ("<Record/>", ["answer", "record"]),
        ("<Dial>+15551234</Dial>", ["answer", "dial:+15551234"]),
        ('<Dial answerOnBridge="true">+15551234</Dial>', ["dial:+15551234"]),
        ("<Play>/x.wav</Play>", ["answer", "play:https://app.example/x.wav"]),
    ],
)
def test_inbound_answer_before_media(inner: str, first: list[str]) -> None:
    assert flow(run(doc(inner), call_params=INBOUND))[: len(first)] == first


def test_unsupported_verb_is_reported_and_skipped() -> None:
    actions = run(doc("<Conference>room</Conference><Say>x</Say>"))
    assert actions[0] == act.Notify(
        12200, "<Conference> is not supported by Wirexa; skipped", DOC_URL, act.NotifyLevel.WARNING
    )
    assert flow(actions)[1:] == ["say:x"]


# --- hangup in each state ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        ("<Say>x</Say>", ["say:x", "finished"]),
        ("<Pause/>", ["timer:1", "cancel-timer", "finished"]),
        ("<Gather><Say>x</Say></Gather>", ["gather", "say:x", "finished"]),
        ("<Gather><Pause/></Gather>", ["gather", "timer:1", "cancel-timer", "finished"]),
        ("<Gather/>", ["gather", "timer:5", "cancel-timer", "finished"]),
        ("<Redirect>/n</Redirect>", ["fetch:POST https://app.example/n", "finished"]),
    ],
)
def test_hangup_in_each_state(inner: str, expected: list[str]) -> None:
    assert flow(run(doc(inner), [CallHungUp()])) == expected


def test_hangup_during_application_error() -> None:
    actions = run(doc("<Redirect>x</Redirect>"), [CallHungUp()], url=None)
    assert flow(actions) == ["notify:11100", *APP_ERROR, "finished"]


# --- live redirect (call update from the API) ----------------------------------------------------

NEW = Document((Play("https://cdn/new.wav"),))


@pytest.mark.parametrize(
    ("inner", "stops"),
    [
        ("<Say>x</Say>", ["say:x", "stop-prompts"]),
        ("<Pause/>", ["timer:1", "cancel-timer"]),
        ("<Gather><Say>x</Say></Gather>", ["gather", "say:x", "stop-prompts", "end-gather"]),
        ("<Gather><Pause/></Gather>", ["gather", "timer:1", "cancel-timer", "end-gather"]),
        ("<Gather/>", ["gather", "timer:5", "cancel-timer", "end-gather"]),
        ("<Record/>", ["record", "stop-record"]),
        ("<Dial>+15551234</Dial>", ["dial:+15551234", "stop-dial"]),
        ("<Redirect>/n</Redirect>", ["fetch:POST https://app.example/n"]),
    ],
)
def test_live_redirect_with_document_stops_the_current_verb(inner: str, stops: list[str]) -> None:
    actions = run(doc(inner), [CallRedirected(document=NEW)])
    assert flow(actions) == [*stops, "play:https://cdn/new.wav"]


def test_live_redirect_with_url_fetches_and_drops_stale_results() -> None:
    interpreter = Interpreter(CALL, "https://app.example/start")
    first = interpreter.start("https://app.example/start")
    redirected = interpreter.feed(CallRedirected(url="/voicemail", method=HttpMethod.GET))
    assert redirected == [
        act.FetchDocument(2, "https://app.example/voicemail", HttpMethod.GET, tuple(CALL.items()),
                          act.FetchReason.LIVE_UPDATE),
    ]  # fmt: skip
    stale = DocumentLoaded(1, parse_document(doc("<Say>old</Say>"), None))
    assert interpreter.feed(stale) == []
    actions = drive(interpreter, first + redirected, [Loaded(doc("<Say>new</Say>"))])
    assert flow(actions)[-1] == "say:new"


def test_live_redirect_during_application_error() -> None:
    actions = run(doc("<Redirect>x</Redirect>"), [CallRedirected(document=NEW)], url=None)
    assert flow(actions)[-2:] == ["stop-prompts", "play:https://cdn/new.wav"]


def test_live_redirect_resets_the_loop_guard() -> None:
    loop = doc("<Redirect>/loop</Redirect>")
    actions = run(loop, [CallRedirected(url="/loop"), Loaded(loop)], max_fetches=2)
    # The document's redirect, the live one (the guard starts again), the document's again: no 11215.
    assert flow(actions) == ["fetch:POST https://app.example/loop"] * 3


def test_recording_saved_after_live_redirect_is_ignored() -> None:
    interpreter = Interpreter(CALL, DOC_URL)
    interpreter.start(parse_document(doc("<Record/>"), None))
    interpreter.feed(CallRedirected(document=Document(())))
    assert interpreter.feed(RecordingSaved(1, "RE1", "u", 1)) == []


def test_implicit_hangup_is_marked_end_of_document() -> None:
    from wirexa.laml import actions as act
    from wirexa.laml.interpreter import Interpreter
    from wirexa.laml.parse import parse_document

    for xml, implicit in (
        ("<Response><Pause length='0'/></Response>", True),
        ("<Response><Hangup/></Response>", False),
    ):
        interp = Interpreter({"CallSid": "CA1", "Direction": "outbound-api"}, "http://h/x")
        out = interp.start(parse_document(xml, "text/xml"))
        [hangup] = [a for a in out if isinstance(a, act.Hangup)]
        assert hangup.end_of_document is implicit
