"""<Gather input="speech"> in the interpreter: when it listens (with the prompts when speech may
barge in, after them when bargeIn="false"), speech barging into the prompts, speech or keys first
winning for input="dtmf speech", SpeechResult and Confidence at the action, nothing understood
as no input (actionOnEmptyResult), a failed recognition leaving keys and the timeout to run, and
stale results dropped."""

from __future__ import annotations

from wirexa.laml import actions as act
from wirexa.laml.events import CallRedirected, SpeechRecognized, SpeechStarted
from wirexa.laml.verbs import Speech

from .helpers import CallHungUp, Fired, Heard, Played, Spoke, flow, press, run


def doc(inner: str) -> str:
    return f"<Response>{inner}<Say>after</Say></Response>"


SPEECH = doc('<Gather input="speech" action="/g" hints="yes, no"><Say>Yes or no?</Say></Gather>')
BOTH = doc('<Gather input="dtmf speech" action="/g" numDigits="1"><Say>Say or press</Say></Gather>')
ACTION = "fetch:POST https://app.example/g"


def test_speech_is_heard_during_the_prompt_and_barges_in() -> None:
    actions = run(SPEECH, [Spoke(), Heard("yes", 0.87)])
    assert flow(actions) == [
        "gather", "listen", "say:Yes or no?", "stop-prompts", "end-gather", f"{ACTION}?SpeechResult=yes&Confidence=0.87",
    ]  # fmt: skip
    listen = next(a for a in actions if isinstance(a, act.StartListening))
    assert listen.speech == Speech(speech_timeout_s=5, hints=("yes", "no"))
    assert actions[0] == act.StartGather(None, 5, "#", ("speech",))


def test_speech_after_the_prompt_cancels_the_timeout() -> None:
    actions = run(SPEECH, [Played(), Spoke(), Fired(), Heard("no", None)])
    assert flow(actions) == [
        "gather", "listen", "say:Yes or no?", "timer:5", "cancel-timer", "end-gather", f"{ACTION}?SpeechResult=no",
    ]  # fmt: skip


def test_barge_in_false_listens_only_once_the_prompts_are_over() -> None:
    xml = doc('<Gather input="speech" bargeIn="false" action="/g"><Say>Menu</Say></Gather>')
    actions = run(xml, [Played(), Spoke(), Heard("sales")])
    assert flow(actions) == [
        "gather", "say:Menu", "listen", "timer:5", "cancel-timer", "end-gather", f"{ACTION}?SpeechResult=sales&Confidence=0.9",
    ]  # fmt: skip


def test_keys_are_not_input_to_a_speech_only_gather() -> None:
    actions = run(SPEECH, [*press("1"), Played(), *press("2"), Fired()])
    assert flow(actions) == ["gather", "listen", "say:Yes or no?", "timer:5", "end-gather", "say:after"]


def test_dtmf_speech_a_key_first_stops_listening_and_digits_win() -> None:
    actions = run(BOTH, [*press("3")])
    assert flow(actions) == [
        "gather",
        "listen",
        "say:Say or press",
        "stop-prompts",
        "stop-listen",
        "end-gather",
        f"{ACTION}?Digits=3&FinishedOnKey=",
    ]
    late = run(BOTH, [Played(), *press("4")])
    assert flow(late)[-3:] == ["stop-listen", "end-gather", f"{ACTION}?Digits=4&FinishedOnKey="]


def test_dtmf_speech_speech_first_ignores_keys_and_finish_on_key() -> None:
    actions = run(BOTH, [Spoke(), *press("1#"), Heard("billing")])
    assert flow(actions)[-2:] == ["end-gather", f"{ACTION}?SpeechResult=billing&Confidence=0.9"]


def test_nothing_understood_is_no_input() -> None:
    actions = run(SPEECH, [Spoke(), Heard("", None)])
    assert flow(actions)[-3:] == ["stop-prompts", "end-gather", "say:after"]
    xml = doc('<Gather input="speech" action="/g" actionOnEmptyResult="true"/>')
    assert flow(run(xml, [Spoke(), Heard("", None)]))[-1] == ACTION  # neither SpeechResult nor Digits


def test_no_speech_at_all_times_out_as_dtmf_does() -> None:
    actions = run(SPEECH, [Played(), Fired(), Played()])
    assert flow(actions)[-4:] == ["end-gather", "say:after", "hangup", "finished"]
    xml = doc('<Gather input="speech" action="/g" actionOnEmptyResult="true"/>')
    assert flow(run(xml, [Fired()]))[-1] == ACTION  # no Digits for a speech-only <Gather>


def test_a_failed_recognition_leaves_keys_and_the_timeout_running() -> None:
    actions = run(BOTH, [Heard("", None), Played(), *press("7")])
    assert flow(actions)[-2:] == ["end-gather", f"{ACTION}?Digits=7&FinishedOnKey="]
    assert "stop-listen" not in flow(actions)  # the listen had already ended


def test_a_transcript_without_a_start_still_ends_the_gather() -> None:
    actions = run(SPEECH, [Played(), Heard("yes")])
    assert flow(actions)[-3:] == ["cancel-timer", "end-gather", f"{ACTION}?SpeechResult=yes&Confidence=0.9"]


def test_stale_speech_events_are_dropped() -> None:
    actions = run(BOTH, [*press("5")])  # the listen is over
    from wirexa.laml.interpreter import Interpreter
    from wirexa.laml.parse import parse_document

    from .helpers import CALL, DOC_URL

    interpreter = Interpreter(CALL, DOC_URL)
    first = interpreter.start(parse_document(SPEECH, "text/xml"))
    listen = next(a for a in first if isinstance(a, act.StartListening))
    assert interpreter.feed(SpeechStarted(listen.listen_op + 100)) == []
    assert interpreter.feed(SpeechRecognized(listen.listen_op + 100, "yes")) == []
    assert flow(actions)[-1].startswith(ACTION)


def test_hangup_and_redirect_while_hearing() -> None:
    assert flow(run(SPEECH, [Spoke(), CallHungUp()]))[-1] == "finished"
    actions = run(SPEECH, [Spoke(), CallRedirected(url="https://app.example/next")])
    assert flow(actions)[-2:] == ["end-gather", "fetch:POST https://app.example/next"]


def test_partial_result_callback_is_resolved_or_notified() -> None:
    xml = doc('<Gather input="speech" partialResultCallback="/partial"/>')
    listen = next(a for a in run(xml) if isinstance(a, act.StartListening))
    assert listen.partial_url == "https://app.example/partial"
    bad = doc('<Gather input="speech" partialResultCallback="ftp://x/y"/>')
    assert "notify:11100" in flow(run(bad))
