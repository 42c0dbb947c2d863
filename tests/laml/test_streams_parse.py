"""parse_document for Media Streams: <Connect><Stream>, <Start><Stream>, <Stop><Stream>, <Parameter>.

Documents are written as users write them, by hand and with twilio-python's VoiceResponse (the
way most agent projects generate their TwiML).
"""

from __future__ import annotations

import pytest
from twilio.twiml.voice_response import VoiceResponse

from wirexa.laml.parse import parse_document
from wirexa.laml.verbs import (
    Connect,
    Document,
    DocumentWarning,
    HttpMethod,
    Say,
    Start,
    Stop,
    Stream,
    Unsupported,
    Verb,
)


def parse(inner: str) -> Document:
    return parse_document(f"<Response>{inner}</Response>", "text/xml")


def only(inner: str) -> Verb:
    document = parse(inner)
    assert len(document.verbs) == 1, document
    return document.verbs[0]


def codes(inner: str) -> list[int]:
    return [warning.code for warning in parse(inner).warnings]


# --- <Connect><Stream> -----------------------------------------------------------------------------


def test_connect_stream_defaults() -> None:
    document = parse('<Connect><Stream url="wss://agent.example/media"/></Connect><Say>after</Say>')
    assert document == Document((Connect(Stream("wss://agent.example/media")), Say("after")))
    connect = document.verbs[0]
    assert isinstance(connect, Connect)
    assert (connect.action, connect.method) == (None, HttpMethod.POST)
    assert connect.stream == Stream("wss://agent.example/media", "", "inbound_track", None, HttpMethod.POST, ())


def test_connect_stream_from_twilio_python() -> None:
    response = VoiceResponse()
    connect = response.connect(action="/after-agent", method="GET")
    stream = connect.stream(
        url="wss://agent.example/media?tenant=7",
        name="agent",
        status_callback="https://app.example/stream-events",
        status_callback_method="GET",
    )
    stream.parameter(name="FirstName", value="Jane")
    stream.parameter(name="Language", value="en-US")
    response.say("The agent hung up.")
    document = parse_document(str(response), "text/xml")
    assert document.warnings == ()
    assert document.verbs == (
        Connect(
            Stream(
                url="wss://agent.example/media?tenant=7",
                name="agent",
                track="inbound_track",
                status_callback="https://app.example/stream-events",
                status_callback_method=HttpMethod.GET,
                parameters=(("FirstName", "Jane"), ("Language", "en-US")),
            ),
            action="/after-agent",
            method=HttpMethod.GET,
        ),
        Say("The agent hung up."),
    )


@pytest.mark.parametrize(
    "url",
    [
        "wss://agent.example/media",
        "ws://127.0.0.1:8765/media",
        "https://agent.example/media",
        "http://127.0.0.1:8765/media",
        "/media",
        "media?x=1&y=2",
        "//agent.example/media",
        "WSS://Agent.Example/Media",
    ],
)
def test_stream_urls_that_are_kept_as_written(url: str) -> None:
    connect = only(f'<Connect><Stream url="{url.replace("&", "&amp;")}"/></Connect>')
    assert isinstance(connect, Connect)
    assert connect.stream.url == url


def test_stream_url_is_stripped_of_surrounding_white_space() -> None:
    connect = only('<Connect><Stream url="  wss://agent.example/media\n"/></Connect>')
    assert isinstance(connect, Connect) and connect.stream.url == "wss://agent.example/media"


@pytest.mark.parametrize(
    ("attrs", "code", "message"),
    [
        ("", 31922, "<Connect><Stream> has no url; skipped"),
        ('url="  "', 31922, "<Connect><Stream> has no url; skipped"),
        (
            'url="ftp://agent.example/media"',
            31922,
            "<Connect><Stream>: url scheme 'ftp' is not supported (wss, ws, https or http); skipped",
        ),
        (
            'url="sip:agent@example.com"',
            31922,
            "<Connect><Stream>: url scheme 'sip' is not supported (wss, ws, https or http); skipped",
        ),
        ('url="wss:///media"', 31923, "<Connect><Stream>: malformed url 'wss:///media'; skipped"),
        ('url="wss://[::1/media"', 31923, "<Connect><Stream>: malformed url 'wss://[::1/media'; skipped"),
        ('url="wss://agent example/m"', 31923, "<Connect><Stream>: malformed url 'wss://agent example/m'; skipped"),
    ],
)
def test_connect_with_a_bad_url_is_skipped_with_an_error(attrs: str, code: int, message: str) -> None:
    document = parse(f"<Connect><Stream {attrs}/></Connect><Say>next</Say>")
    assert document == Document((Say("next"),), (DocumentWarning(code, message, error=True),))


@pytest.mark.parametrize("track", ["outbound_track", "both_tracks", "everything"])
def test_connect_accepts_only_the_inbound_track(track: str) -> None:
    document = parse(f'<Connect><Stream url="wss://a/m" track="{track}"/></Connect><Say>next</Say>')
    message = f"<Connect><Stream>: track {track!r} is not supported here (inbound_track); skipped"
    assert document == Document((Say("next"),), (DocumentWarning(31941, message, error=True),))


def test_connect_with_explicit_inbound_track() -> None:
    assert only('<Connect><Stream url="wss://a/m" track="inbound_track"/></Connect>') == Connect(Stream("wss://a/m"))


def test_connect_with_bad_url_and_bad_track_reports_both() -> None:
    assert codes('<Connect><Stream url="ftp://a" track="both_tracks"/></Connect>') == [31922, 31941]


@pytest.mark.parametrize(
    "noun", ["Room", "Conversation", "VirtualAgent", "Autopilot", "ConversationRelay", "AiSession", "Assistant"]
)
def test_connect_with_another_noun_is_unsupported(noun: str) -> None:
    document = parse(f'<Connect action="/next"><{noun} url="wss://x">y</{noun}></Connect><Say>next</Say>')
    assert document == Document((Unsupported(noun), Say("next")))


def test_connect_from_twilio_python_with_conversation_relay_is_unsupported() -> None:
    response = VoiceResponse()
    response.connect().conversation_relay(url="wss://relay.example/ws")
    assert parse_document(str(response), "text/xml") == Document((Unsupported("ConversationRelay"),))


def test_connect_uses_the_first_stream_and_warns_about_the_rest() -> None:
    document = parse('<Connect><Stream url="wss://a/1"/><Stream url="wss://a/2"/><Room>r</Room></Connect>')
    assert document.verbs == (Connect(Stream("wss://a/1")),)
    assert document.warnings == (
        DocumentWarning(12200, "<Connect> takes one noun; the extra <Stream> ignored"),
        DocumentWarning(12200, "<Connect> takes one noun; the extra <Room> ignored"),
    )


def test_empty_connect_is_skipped_with_a_warning() -> None:
    document = parse("<Connect/><Say>next</Say>")
    assert document == Document((Say("next"),), (DocumentWarning(12200, "<Connect> has no noun; skipped"),))


def test_connect_bad_method_falls_back_to_post() -> None:
    document = parse('<Connect action="/a" method="PUT"><Stream url="wss://a/m"/></Connect>')
    assert document.verbs == (Connect(Stream("wss://a/m"), "/a", HttpMethod.POST),)
    assert document.warnings == (DocumentWarning(12200, "<Connect>: invalid method 'PUT'; using 'POST'"),)


def test_connect_unknown_attribute_warns_as_for_other_verbs() -> None:
    document = parse('<Connect foo="1"><Stream url="wss://a/m" bar="2"/></Connect>')
    assert document.verbs == (Connect(Stream("wss://a/m")),)
    assert document.warnings == (
        DocumentWarning(12200, "<Connect>: unknown attribute 'foo' ignored"),
        DocumentWarning(12200, "<Stream>: unknown attribute 'bar' ignored"),
    )


# --- <Stream> attributes and <Parameter> -------------------------------------------------------


def test_status_callback_method() -> None:
    stream = Stream("wss://a/m", status_callback="/cb", status_callback_method=HttpMethod.GET)
    assert only('<Connect><Stream url="wss://a/m" statusCallback="/cb" statusCallbackMethod="get"/></Connect>') == (
        Connect(stream)
    )
    document = parse('<Connect><Stream url="wss://a/m" statusCallbackMethod="PATCH"/></Connect>')
    assert document.verbs == (Connect(Stream("wss://a/m")),)
    assert document.warnings == (
        DocumentWarning(12200, "<Stream>: invalid statusCallbackMethod 'PATCH'; using 'POST'"),
    )


def test_parameters_keep_document_order_and_exact_values() -> None:
    connect = only(
        '<Connect><Stream url="wss://a/m">'
        '<Parameter name="b" value="2"/><Parameter name="a" value=" spaced &amp; escaped "/>'
        '<Parameter name="empty"/></Stream></Connect>'
    )
    assert isinstance(connect, Connect)
    assert connect.stream.parameters == (("b", "2"), ("a", " spaced & escaped "), ("empty", ""))


def test_parameter_at_the_500_character_limit_is_dropped_with_a_warning() -> None:
    fits = "x" * (499 - len("key"))
    too_long = "y" * (500 - len("big"))
    document = parse(
        f'<Connect><Stream url="wss://a/m"><Parameter name="key" value="{fits}"/>'
        f'<Parameter name="big" value="{too_long}"/><Parameter name="after" value="1"/></Stream></Connect>'
    )
    assert document.verbs == (Connect(Stream("wss://a/m", parameters=(("key", fits), ("after", "1")))),)
    assert document.warnings == (
        DocumentWarning(
            12200, "<Parameter name='big'>: name and value are 500 characters; they must be under 500; skipped"
        ),
    )


def test_parameter_without_a_name_is_dropped_with_a_warning() -> None:
    document = parse(
        '<Start><Stream url="wss://a/m"><Parameter value="v"/><Parameter name=" " value="w"/></Stream></Start>'
    )
    assert document.verbs == (Start((Stream("wss://a/m"),)),)
    assert document.warnings == (DocumentWarning(12200, "<Parameter> has no name; skipped"),) * 2


def test_repeated_parameter_name_is_kept_and_warned() -> None:
    document = parse(
        '<Start><Stream url="wss://a/m"><Parameter name="k" value="1"/><Parameter name="k" value="2"/></Stream></Start>'
    )
    assert document.verbs == (Start((Stream("wss://a/m", parameters=(("k", "1"), ("k", "2"))),)),)
    assert codes('<Start><Stream url="wss://a/m"><Parameter name="k"/><Parameter name="k"/></Stream></Start>') == [
        12200
    ]


def test_parameter_unknown_attribute_and_other_children_of_stream_warn() -> None:
    document = parse(
        '<Start><Stream url="wss://a/m"><Parameter name="k" value="v" x="1"/><Say>no</Say></Stream></Start>'
    )
    assert document.verbs == (Start((Stream("wss://a/m", parameters=(("k", "v"),)),)),)
    assert document.warnings == (
        DocumentWarning(12200, "<Parameter>: unknown attribute 'x' ignored"),
        DocumentWarning(12200, "<Stream>: nested <Say> ignored"),
    )


def test_connector_name_is_warned_not_silently_dropped() -> None:
    response = VoiceResponse()
    response.connect().stream(url="wss://a/m", connector_name="my-connector")
    document = parse_document(str(response), "text/xml")
    assert document.verbs == (Connect(Stream("wss://a/m")),)
    assert document.warnings == (
        DocumentWarning(
            12200,
            "<Connect><Stream>: connectorName 'my-connector' ignored (Stream Connectors are Twilio's); the url is used",
        ),
    )


def test_connector_name_without_url_is_skipped() -> None:
    assert codes('<Connect><Stream connectorName="c"/></Connect>') == [12200, 31922]


def test_audio_format_and_sample_rate_only_as_wirexa_streams() -> None:
    assert codes('<Start><Stream url="wss://a/m" audioFormat="audio/x-mulaw" sampleRate="8000"/></Start>') == []
    document = parse('<Start><Stream url="wss://a/m" audioFormat="audio/l16" sampleRate="16000"/></Start>')
    assert document.verbs == (Start((Stream("wss://a/m"),)),)
    assert document.warnings == (
        DocumentWarning(12200, "<Start><Stream>: audioFormat 'audio/l16' is not supported; audio/x-mulaw is streamed"),
        DocumentWarning(12200, "<Start><Stream>: sampleRate '16000' is not supported; 8000 Hz is streamed"),
    )


# --- <Start><Stream> -----------------------------------------------------------------------------


def test_start_streams_from_twilio_python() -> None:
    response = VoiceResponse()
    start = response.start()
    start.stream(url="wss://fork.example/in", name="in", track="inbound_track")
    both = start.stream(url="/fork", name="both", track="both_tracks", status_callback="/events")
    both.parameter(name="Campaign", value="spring")
    response.say("Hello")
    document = parse_document(str(response), "text/xml")
    assert document.warnings == ()
    assert document.verbs == (
        Start(
            (
                Stream("wss://fork.example/in", name="in"),
                Stream("/fork", "both", "both_tracks", "/events", parameters=(("Campaign", "spring"),)),
            )
        ),
        Say("Hello"),
    )


@pytest.mark.parametrize("track", ["inbound_track", "outbound_track", "both_tracks", "BOTH_TRACKS"])
def test_start_accepts_every_track(track: str) -> None:
    start = only(f'<Start><Stream url="wss://a/m" track="{track}"/></Start>')
    assert isinstance(start, Start) and start.streams[0].track == track.lower()


def test_start_skips_only_the_stream_with_a_bad_track_or_url() -> None:
    document = parse(
        '<Start><Stream name="a" url="wss://a/1" track="both"/><Stream name="b" url="wss://a/2"/>'
        '<Stream name="c" url="mailto:x@y"/></Start>'
    )
    assert document.verbs == (Start((Stream("wss://a/2", name="b"),)),)
    assert document.warnings == (
        DocumentWarning(
            31941,
            "<Start><Stream>: track 'both' is not supported here (inbound_track, outbound_track or both_tracks); skipped",
            error=True,
        ),
        DocumentWarning(
            31922,
            "<Start><Stream>: url scheme 'mailto' is not supported (wss, ws, https or http); skipped",
            error=True,
        ),
    )


def test_start_with_no_usable_stream_is_skipped() -> None:
    assert parse('<Start><Stream url="ftp://x"/></Start>').verbs == ()
    document = parse("<Start/>")
    assert document == Document((), (DocumentWarning(12200, "<Start> has no noun; skipped"),))


def test_start_action_and_method_are_warned_not_silently_dropped() -> None:
    response = VoiceResponse()
    response.start(action="/started", method="GET").stream(url="wss://a/m")
    document = parse_document(str(response), "text/xml")
    assert document.verbs == (Start((Stream("wss://a/m"),), action="/started", method=HttpMethod.GET),)
    assert document.warnings == (
        DocumentWarning(12200, "<Start action='/started'>: not used by Wirexa (<Start> goes on at once); ignored"),
        DocumentWarning(12200, "<Start method='GET'>: not used by Wirexa (<Start> goes on at once); ignored"),
    )


def test_start_other_nouns_are_reported_when_run_and_the_streams_still_start() -> None:
    response = VoiceResponse()
    start = response.start()
    start.siprec(name="rec", connector_name="c")
    start.stream(url="wss://a/m")
    start.transcription(name="t")
    document = parse_document(str(response), "text/xml")
    assert document == Document((Start((Stream("wss://a/m"),), unsupported=("Siprec", "Transcription")),))


def test_start_with_only_other_nouns_keeps_them_for_the_report() -> None:
    assert only("<Start><Recording/></Start>") == Start((), unsupported=("Recording",))


# --- <Stop><Stream> ------------------------------------------------------------------------------


def test_stop_streams_by_name_from_twilio_python() -> None:
    response = VoiceResponse()
    stop = response.stop()
    stop.stream(name="in")
    stop.stream(name="MZ" + "0" * 32)
    document = parse_document(str(response), "text/xml")
    assert document == Document((Stop(("in", "MZ" + "0" * 32)),))


def test_stop_stream_without_a_name_is_skipped_with_a_warning() -> None:
    document = parse('<Stop><Stream/><Stream name="  "/></Stop><Say>x</Say>')
    warning = DocumentWarning(12200, "<Stop><Stream> has no name: nothing to stop; skipped")
    assert document == Document((Say("x"),), (warning, warning))


def test_stop_stream_other_attributes_are_warned() -> None:
    document = parse('<Stop><Stream name="in" url="wss://a/m"/></Stop>')
    assert document.verbs == (Stop(("in",)),)
    assert document.warnings == (
        DocumentWarning(12200, "<Stop><Stream>: attribute 'url' ignored (a stream is stopped by its name)"),
    )


def test_stop_other_nouns_and_empty_stop() -> None:
    assert only('<Stop><Siprec name="rec"/><Stream name="s"/></Stop>') == Stop(("s",), ("Siprec",))
    assert parse("<Stop/>") == Document((), (DocumentWarning(12200, "<Stop> has no noun; skipped"),))
    assert codes('<Stop foo="1"><Stream name="s"/></Stop>') == [12200]


# --- nouns out of place ----------------------------------------------------------------------------


@pytest.mark.parametrize("noun", ['<Stream url="wss://a/m"/>', '<Parameter name="a" value="b"/>'])
def test_stream_nouns_at_the_top_level_are_skipped_with_a_warning(noun: str) -> None:
    document = parse(f"{noun}<Say>x</Say>")
    name = noun[1:].split()[0]
    assert document == Document(
        (Say("x"),), (DocumentWarning(12200, f"<{name}> outside <Start>/<Connect>/<Stop> skipped"),)
    )


def test_a_whole_agent_document() -> None:
    """What an AI voice agent's webhook typically answers."""
    body = """<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Start>
    <Stream name="recorder" url="wss://rec.example/fork" track="both_tracks"/>
  </Start>
  <Say>Connecting you to our assistant.</Say>
  <Connect action="https://app.example/agent-done">
    <Stream url="wss://agent.example/media">
      <Parameter name="customer" value="42"/>
    </Stream>
  </Connect>
  <Stop><Stream name="recorder"/></Stop>
</Response>"""
    document = parse_document(body, "text/xml; charset=utf-8")
    assert document == Document(
        (
            Start((Stream("wss://rec.example/fork", "recorder", "both_tracks"),)),
            Say("Connecting you to our assistant."),
            Connect(
                Stream("wss://agent.example/media", parameters=(("customer", "42"),)), "https://app.example/agent-done"
            ),
            Stop(("recorder",)),
        )
    )
