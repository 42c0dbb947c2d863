"""parse_document: content types, fatal errors, every verb's defaults, attributes and warnings."""

from __future__ import annotations

import pytest

from wirexa.errors import DocumentError
from wirexa.laml.parse import MAX_DOCUMENT_BYTES, parse_document
from wirexa.laml.verbs import (
    Dial,
    DialRecord,
    DialTarget,
    Document,
    DocumentWarning,
    Gather,
    Hangup,
    HttpMethod,
    Pause,
    Play,
    Record,
    Redirect,
    Reject,
    RejectReason,
    Say,
    Speech,
    TargetKind,
    Trim,
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


# --- content types and fatal errors --------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [None, "text/xml", "application/xml", "text/html", "TEXT/XML; charset=utf-8"],
)
def test_xml_content_types(content_type: str | None) -> None:
    document = parse_document(b"<Response><Hangup/></Response>", content_type)
    assert document == Document((Hangup(),))


def test_text_plain_is_spoken_then_hangup() -> None:
    document = parse_document("  Hello\n  there ", "text/plain; charset=utf-8")
    assert document == Document((Say("Hello there"), Hangup()))


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Hangup/></Response>',
        b"\n  <Response><Hangup/></Response>",
        b"\xef\xbb\xbf<Response><Hangup/></Response>",
    ],
)
def test_text_plain_xml_document_is_twiml(body: bytes) -> None:
    # The product doc's FastAPI backend serves its XML as text/plain (PlainTextResponse).
    assert parse_document(body, "text/plain; charset=utf-8") == Document((Hangup(),))


def test_text_plain_mentioning_markup_later_is_still_spoken() -> None:
    document = parse_document("Say <Response> aloud", "text/plain")
    assert document == Document((Say("Say <Response> aloud"), Hangup()))


def test_empty_text_plain_just_hangs_up() -> None:
    assert parse_document(b"   ", "text/plain") == Document((Hangup(),))


def test_audio_is_played_then_hangup() -> None:
    document = parse_document(b"RIFF....", "audio/wav", url="https://a.example/x.wav")
    assert document == Document((Play("https://a.example/x.wav"), Hangup()))


def test_audio_without_url_is_a_caller_bug() -> None:
    with pytest.raises(ValueError):
        parse_document(b"ID3", "audio/mpeg")


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b"<Response/>", "application/json", 12300),
        (b"<Response/>", "", 12300),
        (b"<Response>", "text/xml", 12100),
        (b"not xml at all", "text/xml", 12100),
        (b"", "text/xml", 12100),
        (b"<Reply><Say>x</Say></Reply>", "text/xml", 12102),
        (b"<response/>", "text/xml", 12102),
        (b"<Response>" + b" " * MAX_DOCUMENT_BYTES + b"</Response>", "text/xml", 11750),
        (
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><Response>&a;</Response>',
            "text/xml",
            12100,
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://evil/x.dtd"><Response/>',
            "text/xml",
            12100,
        ),
        ('<?xml version="1.0" encoding="UTF-16"?><Response/>', "text/xml", 12100),
    ],
)
def test_fatal_errors(body: bytes | str, content_type: str, code: int) -> None:
    with pytest.raises(DocumentError) as info:
        parse_document(body, content_type, url="https://app.example/x")
    assert info.value.code == code
    assert info.value.url == "https://app.example/x"


def test_exactly_64k_is_accepted() -> None:
    head, tail = b"<Response>", b"</Response>"
    body = head + b" " * (MAX_DOCUMENT_BYTES - len(head) - len(tail)) + tail
    assert parse_document(body, "text/xml") == Document(())


def test_declaration_leading_whitespace_and_namespaces_are_tolerated() -> None:
    body = '\n  <?xml version="1.0" encoding="UTF-8"?>\n<Response xmlns="urn:x"><Hangup/></Response>'
    assert parse_document(body, "text/xml").verbs == (Hangup(),)


def test_empty_response() -> None:
    assert parse_document("<Response/>", "text/xml") == Document(())


def test_unknown_verb_is_skipped_with_a_warning() -> None:
    document = parse("<Dance/><Hangup/>")
    assert document.verbs == (Hangup(),)
    assert document.warnings == (DocumentWarning(12200, "unknown verb <Dance> skipped"),)


@pytest.mark.parametrize(
    "name",
    ["Conference", "Pay", "Prompt", "Echo", "Sms", "Refer", "Queue", "Siprec", "Transcription"],
)  # fmt: skip
def test_unsupported_verbs(name: str) -> None:
    assert parse(f"<{name}>x</{name}>") == Document((Unsupported(name),))


# --- Say ---------------------------------------------------------------------------------------


def test_say_defaults() -> None:
    assert only("<Say>Hello</Say>") == Say("Hello", voice="man", language="en-US", loop=1)


def test_say_attributes() -> None:
    verb = only('<Say voice="Polly.Joanna" language="es-ES" loop="0">Hola</Say>')
    assert verb == Say("Hola", voice="Polly.Joanna", language="es-ES", loop=0)


@pytest.mark.parametrize(
    ("xml", "text"),
    [
        ("<Say>\n   Press 1.\n   Press 2.\n  </Say>", "Press 1. Press 2."),
        ('<Say>Hi<break time="1s"/>there</Say>', "Hi there"),
        ("<Say><p>One</p><p>Two</p></Say>", "One Two"),
        ("<Say><s>A</s><s>B</s></Say>", "A B"),
        ('<Say>I <emphasis level="strong">really</emphasis> do</Say>', "I really do"),
        ('<Say><sub alias="World Wide Web">WWW</sub></Say>', "World Wide Web"),
        ('<Say><say-as interpret-as="digits">123</say-as> ok</Say>', "123 ok"),
        ('<Say><prosody rate="slow"><w>x</w></prosody></Say>', "x"),
        ("<Say>a &amp; b</Say>", "a & b"),
    ],
)
def test_say_ssml_is_reduced_to_text(xml: str, text: str) -> None:
    verb = only(xml)
    assert isinstance(verb, Say)
    assert verb.text == text


@pytest.mark.parametrize(
    ("attrs", "loop", "code"),
    [('loop="x"', 1, 13510), ('loop="-1"', 1, 13510), ('loop=" 3 "', 3, None)],
)
def test_say_loop(attrs: str, loop: int, code: int | None) -> None:
    document = parse(f"<Say {attrs}>x</Say>")
    assert document.verbs == (Say("x", loop=loop),)
    assert [w.code for w in document.warnings] == ([code] if code else [])


def test_say_blank_voice_and_language_default() -> None:
    assert only('<Say voice=" " language="">x</Say>') == Say("x")


def test_empty_say_is_skipped() -> None:
    document = parse("<Say>  </Say><Say><break/></Say>")
    assert document.verbs == ()
    assert [w.code for w in document.warnings] == [13520, 13520]


def test_long_say_is_truncated() -> None:
    document = parse(f"<Say>{'a' * 5000}</Say>")
    verb = document.verbs[0]
    assert isinstance(verb, Say)
    assert len(verb.text) == 4096
    assert [w.code for w in document.warnings] == [13520]


# --- Play / Pause ------------------------------------------------------------------------------


def test_play_defaults_and_attributes() -> None:
    assert only("<Play> https://a/x.wav </Play>") == Play("https://a/x.wav", loop=1)
    assert only('<Play loop="0">/x.mp3</Play>') == Play("/x.mp3", loop=0)
    assert only('<Play digits="ww12#"/>') == Play(None, digits="ww12#")


@pytest.mark.parametrize(
    ("xml", "verbs", "warning_codes"),
    [
        ('<Play loop="many">u</Play>', (Play("u"),), [13410]),
        ('<Play digits="12x"/>', (), [12200, 12200]),
        ('<Play digits="1">https://a/x.wav</Play>', (Play(None, digits="1"),), [12200]),
        ("<Play/>", (), [12200]),
        ("<Play>u<Say>x</Say></Play>", (Play("u"),), [12200]),
        ('<Play volume="3">u</Play>', (Play("u"),), [12200]),
    ],
)
def test_play_problems(xml: str, verbs: tuple[Verb, ...], warning_codes: list[int]) -> None:
    document = parse(xml)
    assert document.verbs == verbs
    assert [w.code for w in document.warnings] == warning_codes


@pytest.mark.parametrize(
    ("xml", "length_s", "warning_codes"),
    [
        ("<Pause/>", 1, []),
        ('<Pause length="2"/>', 2, []),
        ('<Pause length="0"/>', 0, []),
        ('<Pause length="-2"/>', 1, [13910]),
        ('<Pause length="1.5"/>', 1, [13910]),
    ],
)
def test_pause(xml: str, length_s: int, warning_codes: list[int]) -> None:
    document = parse(xml)
    assert document.verbs == (Pause(length_s),)
    assert [w.code for w in document.warnings] == warning_codes


# --- Gather ------------------------------------------------------------------------------------


def test_gather_defaults() -> None:
    assert only("<Gather/>") == Gather(
        input=("dtmf",),
        action=None,
        method=HttpMethod.POST,
        timeout_s=5,
        finish_on_key="#",
        num_digits=None,
        action_on_empty_result=False,
        barge_in=True,
        children=(),
    )


def test_gather_attributes_and_children() -> None:
    xml = (
        '<Gather input="dtmf speech" action="/menu" method="get" timeout="7" finishOnKey="*"'
        ' numDigits="4" actionOnEmptyResult="TRUE" bargeIn="False" language="fr-FR"'
        ' hints="a,b" speechTimeout="auto">'
        '<Say>Menu</Say><Play>/m.wav</Play><Pause length="2"/></Gather>'
    )
    document = parse(xml)
    assert document.warnings == ()
    assert document.verbs == (
        Gather(
            input=("dtmf", "speech"),
            speech=Speech(speech_timeout_s=None, language="fr-FR", hints=("a", "b")),
            action="/menu",
            method=HttpMethod.GET,
            timeout_s=7,
            finish_on_key="*",
            num_digits=4,
            action_on_empty_result=True,
            barge_in=False,
            children=(Say("Menu"), Play("/m.wav"), Pause(2)),
        ),
    )


def test_gather_empty_finish_on_key_means_none() -> None:
    assert only('<Gather finishOnKey=""/>') == Gather(finish_on_key="")


@pytest.mark.parametrize(
    ("attrs", "field", "value", "code"),
    [
        ('finishOnKey="x"', "finish_on_key", "#", 13310),
        ('finishOnKey="12"', "finish_on_key", "#", 13310),
        ('method="PUT"', "method", HttpMethod.POST, 13312),
        ('timeout="soon"', "timeout_s", 5, 13313),
        ('timeout="0"', "timeout_s", 5, 13313),
        ('numDigits="0"', "num_digits", None, 13314),
        ('numDigits="two"', "num_digits", None, 13314),
        ('actionOnEmptyResult="yes"', "action_on_empty_result", False, 13338),
        ('bargeIn="1"', "barge_in", True, 12200),
        ('input="speech"', "input", ("speech",), None),
        ('input="voice"', "input", ("dtmf",), 12200),
        ('input="speech dtmf typing"', "input", ("speech", "dtmf"), 12200),
        ('speechTimeout="3"', "speech", None, 12200),  # a dtmf <Gather>: speech attributes do nothing
        ('hints="a"', "speech", None, 12200),
        ('debug="true"', "action", None, 12200),
        ('action="  "', "action", None, None),
        ('colour="red"', "action", None, 12200),
    ],
)
def test_gather_attribute_problems(attrs: str, field: str, value: object, code: int | None) -> None:
    document = parse(f"<Gather {attrs}/>")
    assert getattr(document.verbs[0], field) == value
    assert [w.code for w in document.warnings] == ([code] if code else [])


@pytest.mark.parametrize(
    ("attrs", "field", "value", "code"),
    [
        ('speechTimeout="auto"', "speech_timeout_s", None, None),
        ("", "speech_timeout_s", 7, None),  # defaults to timeout
        ('speechTimeout="2"', "speech_timeout_s", 2, None),
        ('speechTimeout="soon"', "speech_timeout_s", 7, 13327),
        ('speechTimeout="0"', "speech_timeout_s", 7, 13327),
        ('maxSpeechTime="90"', "max_speech_time_s", 60, 13328),
        ('maxSpeechTime="x"', "max_speech_time_s", 60, 13328),
        ('hints=" yes , no ,, sales "', "hints", ("yes", "no", "sales"), None),
        ('hints="' + "x" * 101 + '"', "hints", ("x" * 100,), 13330),
        ('language="en"', "language", "en-US", 13331),
        ('language="de-DE"', "language", "de-DE", None),
        ('speechModel="phone_call"', "model", "phone_call", None),
        ('speechModel="whisper"', "model", "default", 13334),
        ('enhanced="maybe"', "enhanced", False, 13339),
        ('profanityFilter="false"', "profanity_filter", False, None),
        ('partialResultCallback="/p" partialResultCallbackMethod="GET"', "partial_result_callback", "/p", None),
        ('partialResultCallbackMethod="PUT"', "partial_result_callback_method", HttpMethod.POST, 13312),
    ],
)
def test_gather_speech_attributes(attrs: str, field: str, value: object, code: int | None) -> None:
    document = parse(f'<Gather input="speech" timeout="7" {attrs}/>')
    speech = document.verbs[0].speech  # type: ignore[union-attr]
    assert getattr(speech, field) == value
    assert [w.code for w in document.warnings] == ([code] if code else [])


def test_the_speech_models_are_the_recognizers_models() -> None:
    from wirexa.laml.verbs import SPEECH_MODELS
    from wirexa.media.stt import base

    assert base.SPEECH_MODELS == SPEECH_MODELS


def test_gather_bad_nested_verbs_are_skipped() -> None:
    document = parse("<Gather><Say>a</Say><Dial>+15551234</Dial><Record/><Play>b</Play></Gather>")
    assert document.verbs == (Gather(children=(Say("a"), Play("b"))),)
    assert [w.code for w in document.warnings] == [13320, 13320]


# --- Record ------------------------------------------------------------------------------------


def test_record_defaults() -> None:
    assert only("<Record/>") == Record(
        action=None,
        method=HttpMethod.POST,
        timeout_s=5,
        finish_on_key="1234567890*#",
        max_length_s=3600,
        play_beep=True,
        trim=Trim.TRIM_SILENCE,
        recording_status_callback=None,
        recording_status_callback_method=HttpMethod.POST,
        recording_status_callback_event=("completed",),
    )


def test_record_attributes() -> None:
    xml = (
        '<Record action="/done" method="GET" timeout="0" finishOnKey="#*" maxLength="60"'
        ' playBeep="false" trim="do-not-trim" recordingStatusCallback="/rs"'
        ' recordingStatusCallbackMethod="get" recordingStatusCallbackEvent="in-progress completed"'
        ' transcribe="false"/>'
    )
    document = parse(xml)
    assert document.warnings == ()
    assert document.verbs == (
        Record(
            action="/done",
            method=HttpMethod.GET,
            timeout_s=0,
            finish_on_key="#*",
            max_length_s=60,
            play_beep=False,
            trim=Trim.DO_NOT_TRIM,
            recording_status_callback="/rs",
            recording_status_callback_method=HttpMethod.GET,
            recording_status_callback_event=("in-progress", "completed"),
        ),
    )


def test_record_product_doc_silence_alias() -> None:
    assert only('<Record maxLength="60" silence="3"/>') == Record(timeout_s=3, max_length_s=60)
    assert only('<Record timeout="4" silence="3"/>') == Record(timeout_s=4)


@pytest.mark.parametrize(
    ("attrs", "field", "value", "code"),
    [
        ('method="DELETE"', "method", HttpMethod.POST, 13610),
        ('timeout="-1"', "timeout_s", 5, 13611),
        ('maxLength="0"', "max_length_s", 3600, 13612),
        ('maxLength="x"', "max_length_s", 3600, 13612),
        ('maxLength="100000"', "max_length_s", 86400, 13612),
        ('finishOnKey="abc"', "finish_on_key", "1234567890*#", 13613),
        ('playBeep="maybe"', "play_beep", True, 13616),
        ('trim="sometimes"', "trim", Trim.TRIM_SILENCE, 12200),
        ('recordingStatusCallbackEvent="done"', "recording_status_callback_event",
         ("completed",), 12200),
        ('recordingStatusCallbackEvent=" "', "recording_status_callback_event",
         ("completed",), 12200),
    ],
)  # fmt: skip
def test_record_attribute_problems(attrs: str, field: str, value: object, code: int) -> None:
    document = parse(f"<Record {attrs}/>")
    assert getattr(document.verbs[0], field) == value
    assert [w.code for w in document.warnings] == [code]


def test_record_ignores_children() -> None:
    assert codes("<Record><Say>x</Say></Record>") == [12200]


# --- Dial / Transfer ---------------------------------------------------------------------------


def test_dial_defaults_with_bare_number() -> None:
    assert only("<Dial> +1 (312) 555-0100 </Dial>") == Dial(
        targets=(DialTarget(TargetKind.NUMBER, "+13125550100"),),
        action=None,
        method=HttpMethod.POST,
        timeout_s=30,
        caller_id=None,
        time_limit_s=14400,
        hangup_on_star=False,
        record=DialRecord.DO_NOT_RECORD,
        answer_on_bridge=False,
    )


def test_transfer_is_a_dial() -> None:
    assert only('<Transfer timeout="30">+13125550100</Transfer>') == Dial(
        targets=(DialTarget(TargetKind.NUMBER, "+13125550100"),), timeout_s=30
    )


def test_dial_attributes_and_nouns() -> None:
    xml = (
        '<Dial action="/after" method="GET" timeout="20" callerId=" +18005550100 " timeLimit="60"'
        ' hangupOnStar="True" record="record-from-ringing-dual" answerOnBridge="true"'
        ' recordingStatusCallback="/rs" recordingStatusCallbackEvent="completed absent"'
        ' ringTone="us">'
        '<Number sendDigits="ww1234#" url="/whisper" method="GET" statusCallback="/st"'
        ' statusCallbackEvent="initiated ringing answered completed" statusCallbackMethod="GET">'
        "+15551230000</Number>"
        '<Sip username="u" password="p">sip:alice@pbx.example;transport=tls</Sip>'
        "<Client>bob</Client>"
        "<Client><Identity>carol</Identity><Parameter name='a' value='b'/></Client>"
        "</Dial>"
    )
    document = parse(xml)
    assert document.warnings == ()
    assert document.verbs == (
        Dial(
            targets=(
                DialTarget(
                    TargetKind.NUMBER,
                    "+15551230000",
                    send_digits="ww1234#",
                    url="/whisper",
                    method=HttpMethod.GET,
                    status_callback="/st",
                    status_callback_method=HttpMethod.GET,
                    status_callback_event=("initiated", "ringing", "answered", "completed"),
                ),
                DialTarget(
                    TargetKind.SIP,
                    "sip:alice@pbx.example;transport=tls",
                    username="u",
                    password="p",
                ),
                DialTarget(TargetKind.CLIENT, "bob"),
                DialTarget(TargetKind.CLIENT, "carol"),
            ),
            action="/after",
            method=HttpMethod.GET,
            timeout_s=20,
            caller_id="+18005550100",
            time_limit_s=60,
            hangup_on_star=True,
            record=DialRecord.RECORD_FROM_RINGING_DUAL,
            answer_on_bridge=True,
            recording_status_callback="/rs",
            recording_status_callback_event=("completed", "absent"),
        ),
    )


@pytest.mark.parametrize(
    ("value", "record"),
    [
        ("true", DialRecord.RECORD_FROM_ANSWER),
        ("True", DialRecord.RECORD_FROM_ANSWER),
        ("false", DialRecord.DO_NOT_RECORD),
        ("record-from-answer", DialRecord.RECORD_FROM_ANSWER),
    ],
)
def test_dial_record_values(value: str, record: DialRecord) -> None:
    verb = only(f'<Dial record="{value}">+15551234</Dial>')
    assert isinstance(verb, Dial)
    assert verb.record is record


@pytest.mark.parametrize(
    ("attrs", "field", "value", "code"),
    [
        ('method="PATCH"', "method", HttpMethod.POST, 13210),
        ('timeout="x"', "timeout_s", 30, 13212),
        ('timeout="601"', "timeout_s", 600, 13212),
        ('hangupOnStar="y"', "hangup_on_star", False, 13213),
        ('callerId=" "', "caller_id", None, 13214),
        ('timeLimit="0"', "time_limit_s", 14400, 13216),
        ('record="always"', "record", DialRecord.DO_NOT_RECORD, 13217),
        ('answerOnBridge="x"', "answer_on_bridge", False, 12200),
        ('color="x"', "timeout_s", 30, 12200),
    ],
)
def test_dial_attribute_problems(attrs: str, field: str, value: object, code: int) -> None:
    document = parse(f"<Dial {attrs}>+15551234</Dial>")
    assert getattr(document.verbs[0], field) == value
    assert [w.code for w in document.warnings] == [code]


@pytest.mark.parametrize(
    ("inner", "targets", "warning_codes"),
    [
        ("call me", (), [13223]),
        ("<Number>abc</Number>", (), [13223]),
        ("<Sip> </Sip>", (), [13223]),
        ("<Client/>", (), [13223]),
        ('<Number sendDigits="12x">+15551234</Number>',
         (DialTarget(TargetKind.NUMBER, "+15551234"),), [13222]),
        ('<Number method="PUT">+15551234</Number>',
         (DialTarget(TargetKind.NUMBER, "+15551234"),), [13221]),
        ('<Number statusCallbackEvent="hungup">+15551234</Number>',
         (DialTarget(TargetKind.NUMBER, "+15551234"),), [12200]),
        ('<Number bogus="1">+15551234</Number>',
         (DialTarget(TargetKind.NUMBER, "+15551234"),), [12200]),
        ("<Say>x</Say><Number>+15551234</Number>",
         (DialTarget(TargetKind.NUMBER, "+15551234"),), [13215]),
    ],
)  # fmt: skip
def test_dial_target_problems(inner: str, targets: tuple[DialTarget, ...], warning_codes: list[int]) -> None:
    document = parse(f"<Dial>{inner}</Dial>")
    verb = document.verbs[0]
    assert isinstance(verb, Dial)
    assert verb.targets == targets
    assert [w.code for w in document.warnings] == warning_codes


def test_dial_into_conference() -> None:  # tests/laml/test_conference_laml.py has the rest
    (dial,) = parse("<Dial><Conference>room</Conference></Dial>").verbs
    assert isinstance(dial, Dial) and dial.targets == () and dial.conference is not None


# --- Redirect / Hangup / Reject ------------------------------------------------------------------


def test_redirect() -> None:
    assert only("<Redirect> /next </Redirect>") == Redirect("/next", HttpMethod.POST)
    assert only('<Redirect method="get">/n</Redirect>') == Redirect("/n", HttpMethod.GET)


def test_redirect_problems() -> None:
    document = parse('<Redirect method="PUT">/n</Redirect><Redirect> </Redirect>')
    assert document.verbs == (Redirect("/n"),)
    assert [w.code for w in document.warnings] == [13710, 12200]


def test_hangup_allows_parameters_and_flags_attributes() -> None:
    assert parse('<Hangup><Parameter name="a" value="b"/></Hangup>') == Document((Hangup(),))
    assert codes('<Hangup now="1"/>') == [12200]


@pytest.mark.parametrize(
    ("xml", "reason", "warning_codes"),
    [
        ("<Reject/>", RejectReason.REJECTED, []),
        ('<Reject reason="busy"/>', RejectReason.BUSY, []),
        ('<Reject reason="BUSY"/>', RejectReason.BUSY, []),
        ('<Reject reason="nope"/>', RejectReason.REJECTED, [12200]),
    ],
)
def test_reject(xml: str, reason: RejectReason, warning_codes: list[int]) -> None:
    document = parse(xml)
    assert document.verbs == (Reject(reason),)
    assert [w.code for w in document.warnings] == warning_codes


def test_namespaced_attributes_are_not_flagged() -> None:
    assert codes('<Say xmlns:x="urn:x" x:id="1">Hi</Say>') == []
