"""Interpreter flows for Media Streams: <Connect><Stream> waits for StreamEnded, <Start>/<Stop> go on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pytest

from wirexa.laml import actions as act
from wirexa.laml.events import CallHungUp, CallRedirected, DigitReceived, StreamEnded
from wirexa.laml.interpreter import Interpreter, State
from wirexa.laml.parse import parse_document
from wirexa.laml.verbs import Connect, Document, HttpMethod, Play, Start, Stream

from .helpers import CALL, DOC_URL, Loaded, Played, Script, drive, show

INBOUND = {**CALL, "Direction": "inbound", "CallStatus": "ringing"}
AGENT = "wss://agent.example/media"


def doc(inner: str) -> str:
    return f"<Response>{inner}</Response>"


@dataclass(frozen=True)
class Ended:
    """The latest bidirectional StartStream is over (the agent closed the socket)."""

    error_code: int | None = None


Step = Script | Ended


def _script(step: Step, actions: list[act.Action]) -> Script:
    """Ended becomes a StreamEnded carrying the op_id of the latest <Connect><Stream>."""
    if not isinstance(step, Ended):
        return step
    op = next(a.op_id for a in reversed(actions) if isinstance(a, act.StartStream) and a.bidirectional)
    return StreamEnded(op, "MZ" + "5" * 32, step.error_code)


def run(
    xml: str | Document,
    steps: Iterable[Step] = (),
    *,
    call_params: Mapping[str, str] = CALL,
    url: str | None = DOC_URL,
) -> list[act.Action]:
    interpreter = Interpreter(call_params, url)
    document = xml if isinstance(xml, Document) else parse_document(xml, "text/xml")
    actions = interpreter.start(document)
    for step in steps:
        actions = drive(interpreter, actions, [_script(step, actions)])
    return actions


def show_stream(action: act.Action) -> str:
    match action:
        case act.StartStream(url=url, bidirectional=True):
            return f"connect:{url}"
        case act.StartStream(url=url, name=name, track=track):
            return f"fork:{name or '-'}:{track}:{url}"
        case act.StopStream(bidirectional=True):
            return "stop-connect"
        case act.StopStream(name=name):
            return f"stop-stream:{name}"
    return show(action)


def flow(actions: list[act.Action]) -> list[str]:
    return [show_stream(action) for action in actions]


# --- <Connect><Stream> -----------------------------------------------------------------------------


def test_connect_waits_for_the_stream_then_runs_the_next_verb() -> None:
    actions = run(doc(f'<Connect><Stream url="{AGENT}"/></Connect><Say>Goodbye</Say>'), [Ended(), Played()])
    assert flow(actions) == [f"connect:{AGENT}", "say:Goodbye", "hangup", "finished"]


def test_connect_start_stream_action_carries_everything() -> None:
    xml = doc(
        f'<Connect><Stream url="{AGENT}?tenant=7" name="agent" statusCallback="/events" statusCallbackMethod="GET">'
        '<Parameter name="FirstName" value="Jane"/><Parameter name="Id" value="42"/></Stream></Connect>'
    )
    interpreter = Interpreter(CALL, DOC_URL)
    actions = interpreter.start(parse_document(xml, "text/xml"))
    assert actions == [
        act.StartStream(
            op_id=1,
            url=f"{AGENT}?tenant=7",
            name="agent",
            track="inbound_track",
            bidirectional=True,
            status_callback="https://app.example/events",
            status_callback_method=HttpMethod.GET,
            parameters=(("FirstName", "Jane"), ("Id", "42")),
        )
    ]
    assert interpreter.state is State.CONNECTED


def test_connect_without_anything_after_hangs_up_at_the_end_of_the_document() -> None:
    actions = run(doc(f'<Connect><Stream url="{AGENT}"/></Connect>'), [Ended()])
    assert flow(actions) == [f"connect:{AGENT}", "hangup", "finished"]
    assert actions[-2] == act.Hangup(end_of_document=True)


def test_connect_action_is_requested_with_the_call_parameters_and_its_document_runs() -> None:
    xml = doc(f'<Connect action="/after" method="GET"><Stream url="{AGENT}"/></Connect><Say>not this</Say>')
    actions = run(xml, [Ended(), Loaded(doc("<Say>after</Say>"))])
    fetch = actions[1]
    assert fetch == act.FetchDocument(
        2, "https://app.example/after", HttpMethod.GET, tuple(CALL.items()), act.FetchReason.CONNECT
    )
    assert flow(actions) == [f"connect:{AGENT}", "fetch:GET https://app.example/after", "say:after"]


def test_connect_action_is_requested_after_a_stream_that_never_opened() -> None:
    """StreamEnded with a 319xx code: the session has notified; the document goes on as after a close."""
    actions = run(doc(f'<Connect action="/after"><Stream url="{AGENT}"/></Connect>'), [Ended(31920)])
    assert flow(actions) == [f"connect:{AGENT}", "fetch:POST https://app.example/after"]


def test_dtmf_while_connected_is_left_to_the_stream() -> None:
    actions = run(
        doc(f'<Connect><Stream url="{AGENT}"/></Connect><Say>x</Say>'), [DigitReceived("1"), DigitReceived("*")]
    )
    assert flow(actions) == [f"connect:{AGENT}"]


def test_a_late_stream_ended_with_another_op_id_is_dropped() -> None:
    interpreter = Interpreter(CALL, DOC_URL)
    interpreter.start(parse_document(doc(f'<Connect><Stream url="{AGENT}"/></Connect><Say>x</Say>'), None))
    assert interpreter.feed(StreamEnded(7, "MZ1")) == []
    assert interpreter.state is State.CONNECTED
    assert [show(a) for a in interpreter.feed(StreamEnded(1, "MZ1"))] == ["say:x"]


def test_stream_ended_outside_connect_is_ignored() -> None:
    interpreter = Interpreter(CALL, DOC_URL)
    interpreter.start(parse_document(doc("<Say>x</Say>"), None))
    assert interpreter.feed(StreamEnded(1, "MZ1")) == []


def test_live_redirect_while_connected_stops_the_stream_first() -> None:
    new = Document((Play("https://cdn/new.wav"),))
    actions = run(doc(f'<Connect action="/after"><Stream url="{AGENT}"/></Connect>'), [CallRedirected(document=new)])
    assert flow(actions) == [f"connect:{AGENT}", "stop-connect", "play:https://cdn/new.wav"]


def test_live_redirect_to_a_url_then_the_old_stream_ends() -> None:
    """The StreamEnded of the stopped stream comes after the redirect: it must not run <Connect action>."""
    interpreter = Interpreter(CALL, DOC_URL)
    first = interpreter.start(parse_document(doc(f'<Connect action="/after"><Stream url="{AGENT}"/></Connect>'), None))
    redirected = interpreter.feed(CallRedirected(url="/elsewhere"))
    assert flow(redirected) == ["stop-connect", "fetch:POST https://app.example/elsewhere"]
    assert interpreter.feed(StreamEnded(1, "MZ1")) == []
    actions = drive(interpreter, first + redirected, [Loaded(doc("<Say>elsewhere</Say>"))])
    assert flow(actions)[-1] == "say:elsewhere"


def test_hangup_while_connected_stops_the_stream_and_finishes() -> None:
    actions = run(doc(f'<Connect action="/after"><Stream url="{AGENT}"/></Connect><Say>x</Say>'), [CallHungUp()])
    assert flow(actions) == [f"connect:{AGENT}", "stop-connect", "finished"]


def test_inbound_unanswered_call_is_answered_before_connect() -> None:
    actions = run(doc(f'<Connect><Stream url="{AGENT}"/></Connect>'), call_params=INBOUND)
    assert flow(actions) == ["answer", f"connect:{AGENT}"]


@pytest.mark.parametrize(
    ("doc_url", "stream_url", "expected"),
    [
        ("https://app.example/voice/xml", "/media", "wss://app.example/media"),
        ("https://app.example/voice/xml", "media?x=1&y=2", "wss://app.example/voice/media?x=1&y=2"),
        ("http://127.0.0.1:8000/voice", "/media", "ws://127.0.0.1:8000/media"),
        ("https://app.example/voice", "http://127.0.0.1:8765/agent", "ws://127.0.0.1:8765/agent"),
        ("https://app.example/voice", "https://agent.example/a?k=v", "wss://agent.example/a?k=v"),
        ("https://app.example/voice", "ws://127.0.0.1:8765/agent", "ws://127.0.0.1:8765/agent"),
        ("http://app.example/voice", "WSS://Agent.Example/Media", "wss://Agent.Example/Media"),
        ("https://app.example/voice", "//agent.example/m", "wss://agent.example/m"),
    ],
)
def test_stream_urls_resolve_against_the_document_and_become_websocket_urls(
    doc_url: str, stream_url: str, expected: str
) -> None:
    document = Document((Connect(Stream(stream_url)),))
    [action] = Interpreter(CALL, doc_url).start(document)
    assert isinstance(action, act.StartStream) and action.url == expected


def test_relative_stream_url_without_any_base_is_a_31922_error_and_the_connect_is_skipped() -> None:
    document = Document((Connect(Stream("/media")), Start((Stream("rel"),))))
    interpreter = Interpreter(CALL, None)
    actions = interpreter.start(document)
    message = "cannot resolve <Stream> url '/media' to a ws:// or wss:// URL; skipped"
    assert actions[0] == act.Notify(31922, message, None, act.NotifyLevel.ERROR)
    assert flow(actions) == ["notify:31922", "notify:31922", "hangup", "finished"]


def test_inbound_call_is_not_answered_for_a_stream_that_cannot_start() -> None:
    actions = run(Document((Connect(Stream("/m")),)), call_params=INBOUND, url=None)
    assert "answer" not in flow(actions)


def test_unresolvable_status_callback_is_a_warning_and_the_stream_still_starts() -> None:
    document = Document((Connect(Stream(AGENT, status_callback="/events")),))
    actions = Interpreter(CALL, None).start(document)
    assert actions[0] == act.Notify(
        11100, "cannot resolve <Stream> statusCallback '/events'; no stream callbacks", None, act.NotifyLevel.WARNING
    )
    assert actions[1] == act.StartStream(1, AGENT, bidirectional=True)


def test_connect_counts_as_progress_for_the_redirect_loop_guard() -> None:
    loop = doc(f'<Connect><Stream url="{AGENT}"/></Connect><Redirect>/loop</Redirect>')
    interpreter = Interpreter(CALL, DOC_URL, max_fetches=1)
    actions = interpreter.start(parse_document(loop, None))
    for _ in range(3):
        connect = actions[-1]
        assert isinstance(connect, act.StartStream)
        actions = drive(interpreter, actions, [StreamEnded(connect.op_id, "MZ1")])
        actions = drive(interpreter, actions, [Loaded(loop)])
    assert "notify:11215" not in flow(actions)
    assert flow(actions).count(f"connect:{AGENT}") == 4


def test_start_alone_does_not_count_as_progress_for_the_redirect_loop_guard() -> None:
    loop = doc(f'<Start><Stream url="{AGENT}"/></Start><Redirect>/loop</Redirect>')
    interpreter = Interpreter(CALL, DOC_URL, max_fetches=2)
    actions = drive(interpreter, interpreter.start(parse_document(loop, None)), [Loaded(loop), Loaded(loop)])
    assert "notify:11215" in flow(actions)


# --- <Start><Stream> and <Stop><Stream> ----------------------------------------------------------------


def test_start_forks_each_stream_in_order_and_goes_on_at_once() -> None:
    xml = doc(
        f'<Start><Stream name="in" url="{AGENT}"/><Stream name="both" url="/fork" track="both_tracks"'
        ' statusCallback="https://cb.example/s"><Parameter name="k" value="v"/></Stream></Start><Say>Hello</Say>'
    )
    interpreter = Interpreter(CALL, DOC_URL)
    actions = interpreter.start(parse_document(xml, None))
    assert actions == [
        act.StartStream(0, AGENT, name="in"),
        act.StartStream(
            0,
            "wss://app.example/fork",
            name="both",
            track="both_tracks",
            status_callback="https://cb.example/s",
            parameters=(("k", "v"),),
        ),
        act.Say(1, "Hello", "man", "en-US", 1),
    ]
    assert interpreter.state is State.PLAYING


def test_inbound_unanswered_call_is_answered_before_start() -> None:
    actions = run(doc(f'<Start><Stream url="{AGENT}"/></Start><Say>x</Say>'), call_params=INBOUND)
    assert flow(actions) == ["answer", f"fork:-:inbound_track:{AGENT}", "say:x"]


def test_start_only_document_hangs_up_at_once() -> None:
    """As on Twilio: <Start> goes on at once, and with no verb after it the call ends."""
    actions = run(doc(f'<Start><Stream url="{AGENT}"/></Start>'))
    assert flow(actions) == [f"fork:-:inbound_track:{AGENT}", "hangup", "finished"]


def test_stop_stops_each_named_stream_and_goes_on() -> None:
    xml = doc(
        f'<Start><Stream name="a" url="{AGENT}"/></Start><Stop><Stream name="a"/><Stream name="b"/></Stop><Say>x</Say>'
    )
    actions = run(xml)
    assert flow(actions) == [f"fork:a:inbound_track:{AGENT}", "stop-stream:a", "stop-stream:b", "say:x"]
    assert actions[1] == act.StopStream(name="a", bidirectional=False)


def test_stop_does_not_answer_an_inbound_call() -> None:
    actions = run(doc('<Stop><Stream name="a"/></Stop><Reject/>'), call_params=INBOUND)
    assert flow(actions) == ["stop-stream:a", "reject:rejected", "finished"]


def test_start_and_stop_report_their_unsupported_nouns() -> None:
    xml = doc(
        f'<Start><Siprec name="r"/><Stream url="{AGENT}"/><Transcription/></Start><Stop><Siprec name="r"/></Stop>'
    )
    actions = run(xml)
    assert flow(actions) == [
        f"fork:-:inbound_track:{AGENT}",
        "notify:12200",
        "notify:12200",
        "notify:12200",
        "hangup",
        "finished",
    ]
    assert [a.message for a in actions if isinstance(a, act.Notify)] == [
        "<Siprec> is not supported by Wirexa; skipped",
        "<Transcription> is not supported by Wirexa; skipped",
        "<Siprec> is not supported by Wirexa; skipped",
    ]


def test_connect_with_another_noun_is_reported_and_skipped() -> None:
    actions = run(doc('<Connect action="/a"><Room>r</Room></Connect><Say>x</Say>'))
    assert actions[0] == act.Notify(
        12200, "<Room> is not supported by Wirexa; skipped", DOC_URL, act.NotifyLevel.WARNING
    )
    assert flow(actions)[1:] == ["say:x"]


def test_stream_errors_found_by_the_parser_are_notified_as_errors() -> None:
    actions = run(
        doc('<Connect><Stream url="ftp://x"/></Connect><Start><Stream url="wss://a" track="x"/></Start><Say>y</Say>')
    )
    notes = [a for a in actions if isinstance(a, act.Notify)]
    assert [(n.code, n.level) for n in notes] == [(31922, act.NotifyLevel.ERROR), (31941, act.NotifyLevel.ERROR)]
    assert flow(actions)[2:] == ["say:y"]


def test_start_streams_outlive_a_live_redirect() -> None:
    """Forks belong to the call: a redirect stops the current verb, not the <Start> streams."""
    new = Document((Play("https://cdn/new.wav"),))
    actions = run(doc(f'<Start><Stream name="a" url="{AGENT}"/></Start><Say>x</Say>'), [CallRedirected(document=new)])
    assert flow(actions) == [f"fork:a:inbound_track:{AGENT}", "say:x", "stop-prompts", "play:https://cdn/new.wav"]


def test_a_whole_agent_call() -> None:
    xml = doc(
        f'<Start><Stream name="rec" url="/fork" track="both_tracks"/></Start>'
        "<Say>Connecting you.</Say>"
        f'<Connect action="/done"><Stream url="{AGENT}"><Parameter name="customer" value="42"/></Stream></Connect>'
    )
    after = doc('<Stop><Stream name="rec"/></Stop><Say>Thanks for calling.</Say><Hangup/>')
    actions = run(xml, [Played(), Ended(), Loaded(after), Played()], call_params=INBOUND)
    assert flow(actions) == [
        "answer",
        "fork:rec:both_tracks:wss://app.example/fork",
        "say:Connecting you.",
        f"connect:{AGENT}",
        "fetch:POST https://app.example/done",
        "stop-stream:rec",
        "say:Thanks for calling.",
        "hangup",
        "finished",
    ]
    fetch = actions[4]
    assert isinstance(fetch, act.FetchDocument)
    assert dict(fetch.params)["CallStatus"] == "in-progress"
