"""Pure parts: signature (reference vector + twilio's validator), schedule, callback params."""

from __future__ import annotations

import datetime as dt

import pytest
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from wirexa.store.repo import CallRecord
from wirexa.webhooks import outbox
from wirexa.webhooks.backoff import next_attempt
from wirexa.webhooks.signing import signature

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

VECTOR_PARAMS = [
    ("CallSid", "CA" + "1" * 32),
    ("CallStatus", "ringing"),
    ("From", "+15550002222"),
    ("SequenceNumber", "1"),
    ("To", "+15550001111"),
]


def test_reference_vector() -> None:
    assert (
        signature("secret-token", "https://hooks.example.org/status?leg=a", VECTOR_PARAMS)
        == "bXd0o/kxY+MtLIcfeQa75Jp1i9A="
    )


def test_param_order_does_not_matter() -> None:
    url = "https://hooks.example.org/status?leg=a"
    assert signature("secret-token", url, list(reversed(VECTOR_PARAMS))) == signature(
        "secret-token", url, VECTOR_PARAMS
    )


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/cb", "https://x.example/cb?a=1&b=2"])
def test_twilio_validator_accepts_post_and_get(url: str) -> None:
    params = dict(VECTOR_PARAMS)
    assert RequestValidator("tok").validate(url, params, signature("tok", url, VECTOR_PARAMS))
    get_url = url + ("&" if "?" in url else "?") + "CallStatus=completed"
    assert RequestValidator("tok").validate(get_url, {}, signature("tok", get_url))


def test_repeated_names_sorted_like_twilio_9() -> None:
    params = [("StatusCallbackEvent", "ringing"), ("StatusCallbackEvent", "initiated")]
    url = "https://x.example/cb"
    sig = signature("tok", url, params)
    form = MultiDict(params)  # what Flask/aiohttp hand the validator
    assert RequestValidator("tok").validate(url, form, sig)


NOW = dt.datetime(2026, 3, 6, 12, 0, 0)


@pytest.mark.parametrize(("done", "delay"), [(0, 0), (1, 60), (2, 300), (3, 900)])
def test_schedule(done: int, delay: int) -> None:
    assert next_attempt(done, NOW, (0, 60, 300, 900)) == NOW + dt.timedelta(seconds=delay)


def test_schedule_exhausted() -> None:
    assert next_attempt(4, NOW, (0, 60, 300, 900)) is None


def make_call(**kw: object) -> CallRecord:
    base: dict[str, object] = dict(
        sid="CA" + "a" * 32,
        account_sid="AC1",
        parent_call_sid=None,
        to_number="+15005550006",
        from_number="+15005550100",
        status="completed",
        direction="outbound-api",
        url=None,
        method="POST",
        twiml=None,
        fallback_url=None,
        fallback_method="POST",
        status_callback="http://h/s",
        status_callback_method="POST",
        status_callback_events="",
        send_digits=None,
        timeout_s=60,
        time_limit_s=14400,
        record=False,
        recording_channels="mono",
        recording_track="both",
        recording_status_callback=None,
        recording_status_callback_method="POST",
        recording_status_callback_events="completed",
        trim="trim-silence",
        machine_detection=None,
        machine_detection_timeout_s=30,
        machine_detection_speech_threshold_ms=2400,
        machine_detection_speech_end_threshold_ms=1200,
        machine_detection_silence_timeout_ms=5000,
        async_amd=False,
        async_amd_status_callback=None,
        async_amd_status_callback_method="POST",
        caller_id=None,
        answered_by=None,
        sip_response_code=200,
        start_time=NOW,
        answer_time=NOW,
        end_time=NOW,
        duration_s=49,
        queue_time_ms=0,
        price=None,
        price_unit="USD",
        sequence_number=0,
        owner=None,
        date_created=NOW,
        date_updated=NOW,
    )
    base.update(kw)
    return CallRecord(**base)  # type: ignore[arg-type]


def test_terminal_params_carry_duration_minutes_and_sip_code() -> None:
    params = dict(outbox.call_status_params(make_call(), 3, NOW))
    assert params["CallStatus"] == "completed"
    assert params["CallDuration"] == "49" and params["Duration"] == "1"
    assert params["SipResponseCode"] == "200"
    assert params["SequenceNumber"] == "3"
    assert params["CallbackSource"] == "call-progress-events"
    assert params["Timestamp"] == "Fri, 06 Mar 2026 12:00:00 +0000"
    assert params["ApiVersion"] == "2010-04-01" and params["Direction"] == "outbound-api"


def test_progress_params_have_no_duration() -> None:
    params = dict(outbox.call_status_params(make_call(status="ringing", duration_s=None), 1, NOW))
    assert "CallDuration" not in params and "SipResponseCode" not in params


def test_child_leg_params() -> None:
    params = dict(
        outbox.call_status_params(
            make_call(parent_call_sid="CA" + "b" * 32, direction="outbound-dial", answered_by="human"), 0, NOW
        )
    )
    assert params["ParentCallSid"] == "CA" + "b" * 32 and params["AnsweredBy"] == "human"
