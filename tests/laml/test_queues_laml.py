"""<Enqueue>, <Leave> and <Dial><Queue>: parsed (with Twilio's defaults and warnings for what
Wirexa cannot do) and run (the Enqueue/DialQueue actions, QueueLeft and the action URL, the
restricted wait and url documents)."""

from __future__ import annotations

from collections.abc import Iterable

from wirexa.laml import actions as act
from wirexa.laml import verbs as v
from wirexa.laml.events import CallHungUp, CallRedirected, DialCallStatus, DialEnded, QueueLeft, QueueResult
from wirexa.laml.interpreter import Interpreter, State
from wirexa.laml.parse import parse_document
from wirexa.notices import Notice

from .helpers import CALL, DOC_URL, Fired, Loaded, Played, Script, drive, show

QU = "QU" + "3" * 32
WAIT_VERBS: frozenset[type[v.Verb]] = frozenset({v.Play, v.Say, v.Pause, v.Hangup, v.Redirect, v.Leave, v.Gather})


def doc(inner: str) -> v.Document:
    return parse_document(f"<Response>{inner}</Response>", "text/xml")


def warnings(inner: str) -> list[str]:
    return [w.message for w in doc(inner).warnings]


# --- parse -----------------------------------------------------------------------------------


def test_enqueue_defaults() -> None:
    assert doc("<Enqueue> support </Enqueue>").verbs == (v.Enqueue("support"),)


def test_enqueue_attributes() -> None:
    parsed = doc(
        '<Enqueue action="/done" method="GET" waitUrl="/wait" waitUrlMethod="GET" maxQueueSize="3">sales</Enqueue>'
    )
    assert parsed.verbs == (v.Enqueue("sales", "/done", v.HttpMethod.GET, "/wait", v.HttpMethod.GET, 3),)
    assert parsed.warnings == ()


def test_enqueue_empty_wait_url_is_silence_not_the_default() -> None:
    (enqueue,) = doc('<Enqueue waitUrl="">q</Enqueue>').verbs
    assert isinstance(enqueue, v.Enqueue) and enqueue.wait_url == ""


def test_enqueue_bad_values_warn_and_default() -> None:
    parsed = doc('<Enqueue maxQueueSize="0" waitUrlMethod="PUT">q</Enqueue><Enqueue maxQueueSize="9000">r</Enqueue>')
    assert parsed.verbs == (v.Enqueue("q"), v.Enqueue("r", max_queue_size=5000))
    assert len(parsed.warnings) == 3 and {w.code for w in parsed.warnings} == {Notice.SCHEMA_WARNING}


def test_enqueue_without_a_name_or_too_long_is_skipped() -> None:
    assert doc("<Enqueue/>").verbs == ()
    assert doc(f"<Enqueue>{'x' * 65}</Enqueue>").verbs == ()
    assert doc(f"<Enqueue>{'x' * 64}</Enqueue>").verbs == (v.Enqueue("x" * 64),)
    assert "names no queue" in warnings("<Enqueue/>")[0]


def test_taskrouter_parts_are_notified_not_silent() -> None:
    messages = warnings('<Enqueue workflowSid="WW1"><Task>{"a": 1}</Task>q</Enqueue>')
    assert any("workflowSid" in m and "TaskRouter" in m for m in messages)
    assert any("<Enqueue><Task>" in m for m in messages)
    messages = warnings('<Dial><Queue reservationSid="WR1" postWorkActivitySid="WA1">q</Queue></Dial>')
    assert sum("TaskRouter" in m for m in messages) == 2


def test_leave() -> None:
    assert doc("<Leave/>").verbs == (v.Leave(),)
    assert warnings('<Leave x="1"/>')


def test_dial_queue() -> None:
    (dial,) = doc('<Dial timeout="7" action="/after"><Queue url="/about" method="GET">support</Queue></Dial>').verbs
    assert isinstance(dial, v.Dial)
    assert dial.targets == () and dial.timeout_s == 7 and dial.action == "/after"
    assert dial.queue == v.DialQueue("support", "/about", v.HttpMethod.GET)


def test_dial_queue_warns_about_attributes_and_nouns_it_cannot_use() -> None:
    messages = warnings(
        '<Dial callerId="+1555" record="true" timeLimit="9"><Number>+15550003333</Number><Queue>q</Queue></Dial>'
    )
    assert sum("does not apply to <Queue>" in m for m in messages) == 3
    assert any("takes no other noun" in m for m in messages)
    (dial,) = doc('<Dial answerOnBridge="true" record="true"><Number>+1555000333</Number><Queue>q</Queue></Dial>').verbs
    assert dial == v.Dial((), queue=v.DialQueue("q"))  # what was warned about is not used


def test_dial_conference_is_not_a_queue() -> None:  # tests/laml/test_conference_laml.py has the rest
    assert doc("<Dial><Conference>room</Conference></Dial>").verbs == (v.Dial((), conference=v.DialConference("room")),)


# --- interpreter -------------------------------------------------------------------------------


def _queue_left(
    result: QueueResult, actions: list[act.Action], sid: str | None = QU, time_s: int | None = 12
) -> QueueLeft:
    op = next(a.op_id for a in reversed(actions) if isinstance(a, act.Enqueue))
    return QueueLeft(op, result, sid if sid is not None else None, time_s if sid is not None else None)


def run(
    xml: str, steps: Iterable[Script | QueueResult | tuple[QueueResult, None]] = (), **kw: object
) -> tuple[Interpreter, list[act.Action]]:
    interpreter = Interpreter(CALL, DOC_URL, **kw)  # type: ignore[arg-type]
    actions = interpreter.start(parse_document(f"<Response>{xml}</Response>", "text/xml"))
    for step in steps:
        if isinstance(step, QueueResult):
            actions += interpreter.feed(_queue_left(step, actions))
        elif isinstance(step, tuple):
            actions += interpreter.feed(_queue_left(step[0], actions, sid=None))
        else:
            actions = drive(interpreter, actions, [step])
    return interpreter, actions


def test_enqueue_waits_then_requests_the_action_with_the_queue_result() -> None:
    interpreter, actions = run('<Enqueue action="/left" waitUrl="/wait" maxQueueSize="5">support</Enqueue>')
    assert interpreter.state is State.ENQUEUED
    assert actions == [
        act.Enqueue(1, "support", "https://app.example/wait", v.HttpMethod.POST, 5, "https://app.example/left")
    ]
    interpreter, actions = run('<Enqueue action="/left">support</Enqueue>', [QueueResult.LEAVE])
    fetch = actions[-1]
    assert isinstance(fetch, act.FetchDocument) and fetch.reason is act.FetchReason.ENQUEUE
    assert fetch.url == "https://app.example/left"
    assert fetch.params[-3:] == (("QueueResult", "leave"), ("QueueSid", QU), ("QueueTime", "12"))


def test_default_wait_url_is_none_and_silence_is_empty() -> None:
    _, actions = run("<Enqueue>q</Enqueue>")
    assert isinstance(actions[0], act.Enqueue) and actions[0].wait_url is None
    _, actions = run('<Enqueue waitUrl="">q</Enqueue>')
    assert isinstance(actions[0], act.Enqueue) and actions[0].wait_url == ""


def test_queue_full_has_no_queue_sid_and_without_action_the_next_verb_runs() -> None:
    _, actions = run('<Enqueue action="/left">q</Enqueue>', [(QueueResult.QUEUE_FULL, None)])
    fetch = actions[-1]
    assert isinstance(fetch, act.FetchDocument) and fetch.params[-1] == ("QueueResult", "queue-full")
    _, actions = run("<Enqueue>q</Enqueue><Say>after</Say>", [QueueResult.BRIDGED])
    assert [show(a) for a in actions[1:]] == ["say:after"]


def test_inbound_enqueue_answers_first() -> None:
    interpreter = Interpreter({**CALL, "Direction": "inbound", "CallStatus": "ringing"}, DOC_URL)
    actions = interpreter.start(doc("<Enqueue>q</Enqueue>"))
    assert isinstance(actions[0], act.Answer) and isinstance(actions[1], act.Enqueue)


def test_live_update_while_enqueued_leaves_as_redirected() -> None:
    interpreter, actions = run('<Enqueue action="/left">q</Enqueue>')
    out = interpreter.feed(CallRedirected(url="/new"))
    assert out[0] == act.LeaveQueue("redirected")
    assert isinstance(out[1], act.FetchDocument) and out[1].reason is act.FetchReason.LIVE_UPDATE
    # a late QueueLeft of the old enqueue is dropped
    assert interpreter.feed(_queue_left(QueueResult.BRIDGED, actions)) == []


def test_hangup_while_enqueued_finishes() -> None:
    interpreter, _ = run('<Enqueue action="/left">q</Enqueue>')
    assert interpreter.feed(CallHungUp()) == [act.Finished()]


def test_unresolvable_enqueue_urls_are_application_errors() -> None:
    interpreter = Interpreter(CALL, None)
    actions = interpreter.start(doc('<Enqueue waitUrl="/relative">q</Enqueue>'))
    assert [show(a) for a in actions] == [
        "notify:11100",
        "say:We are sorry, an application error has occurred. Goodbye.",
    ]


def test_dial_queue_action_and_dial_ended() -> None:
    interpreter, actions = run(
        '<Dial action="/after" timeout="9" hangupOnStar="true"><Queue url="/whisper">q</Queue></Dial>'
    )
    assert interpreter.state is State.DIALING
    assert actions == [act.DialQueue(1, "q", "https://app.example/whisper", v.HttpMethod.POST, 9, True)]
    from wirexa.laml.events import DigitReceived

    assert interpreter.feed(DigitReceived("*")) == [act.StopDial()]
    out = interpreter.feed(
        DialEnded(1, DialCallStatus.COMPLETED, "CA" + "4" * 32, 30, True, extra_params=(("QueueSid", QU),))
    )
    assert isinstance(out[0], act.FetchDocument)
    params = dict(out[0].params)
    assert params["DialCallStatus"] == "completed" and params["DialCallSid"] == "CA" + "4" * 32
    assert params["QueueSid"] == QU and params["DialCallDuration"] == "30"


def test_leave_outside_a_wait_document_is_a_warning() -> None:
    _, actions = run("<Leave/><Say>hi</Say>")
    assert [show(a) for a in actions] == ["notify:12200", "say:hi"]


def test_wait_document_leave_restricted_verbs_and_end() -> None:
    wait = Interpreter(CALL, None, allowed=WAIT_VERBS, first_op=1000)
    actions = wait.start("https://app.example/wait")
    assert isinstance(actions[0], act.FetchDocument) and actions[0].op_id == 1001
    body = "<Response><Say>hold</Say><Dial>+15550003333</Dial><Leave/></Response>"
    actions = drive(wait, actions, [Loaded(body, url="https://app.example/wait"), Played()])
    assert [show(a) for a in actions] == [
        "fetch:POST https://app.example/wait",
        "say:hold",
        "notify:12200",
        "leave-queue",
        "finished",
    ]
    assert actions[-2] == act.LeaveQueue("leave")
    wait = Interpreter(CALL, None, allowed=WAIT_VERBS, first_op=2000)
    actions = drive(
        wait, wait.start("https://app.example/wait"), [Loaded('<Response><Pause length="2"/></Response>'), Fired()]
    )
    assert isinstance(actions[-2], act.Hangup) and actions[-2].end_of_document


def test_wait_document_failure_leaves_with_error_without_the_announcement() -> None:
    from .helpers import Failed

    wait = Interpreter(CALL, None, allowed=WAIT_VERBS, first_op=1000)
    actions = drive(wait, wait.start("https://app.example/wait"), [Failed()])
    assert [show(a) for a in actions] == [
        "fetch:POST https://app.example/wait",
        "notify:11200",
        "leave-queue",
        "finished",
    ]
    assert actions[-2] == act.LeaveQueue("error")
