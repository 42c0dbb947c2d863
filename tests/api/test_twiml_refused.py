"""A Twiml parameter that does not parse is refused at create and update (defects issue item 4):
it used to be accepted (201), rang the callee for nothing and ended with a 12100 notification.
Now 400 / 21205 names the parse error, in the words of the notification the call would have
got (the session stores DocumentError.message from the same parse_document); no call is made.
A document that parses but holds verbs Wirexa does not know is still accepted: those are
run-time notices (12200), not parse errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.api.conftest import Api, SchemaCheck
from tests.api.test_calls_api import RecordingController, error_of, seed, update
from tests.conftest import start_api
from wirexa.errors import DocumentError
from wirexa.laml.parse import parse_document
from wirexa.store.repo import CallRecord
from wirexa.store.repo.calls import CallFilter, get_call, list_calls

BAD = [
    "<Response><Say>x</Response>",  # the issue's: mismatched tag (12100)
    "<Response><Say>x</Say>",  # unclosed (12100)
    "Say hello",  # not XML at all (12100)
    '<!DOCTYPE r [<!ENTITY a "a">]><Response/>',  # a DTD (12100, defusedxml)
    "<Play>http://h/a.wav</Play>",  # root is not <Response> (12102): it can never run either
]


def notification_text(twiml: str) -> tuple[int, str]:
    """What the call session would store as the call's notification for this Twiml."""
    with pytest.raises(DocumentError) as refused:
        parse_document(twiml, "text/xml")
    return refused.value.code, refused.value.message


def client_for(api: Api) -> Client:
    base_url = str(api.client.make_url("")).rstrip("/")
    assert base_url.startswith("http://127.0.0.1:")
    client = Client(api.project.sid, api.project.auth_token, edge=None, region=None)
    client.api.base_url = base_url  # loopback only, never the real Twilio
    return client


def calls_of(api: Api) -> list[CallRecord]:
    return api.store.read_sync(list_calls, CallFilter(account_sid=api.project.sid), 100)[0]


async def test_create_with_twiml_that_does_not_parse_is_400(api: Api, api_check: SchemaCheck) -> None:
    client = client_for(api)

    def drive(twiml: str) -> TwilioRestException:
        with pytest.raises(TwilioRestException) as refused:
            client.calls.create(to="+15005550006", from_="+15005550100", twiml=twiml)
        return refused.value

    for twiml in BAD:
        exc = await asyncio.to_thread(drive, twiml)
        code, text = notification_text(twiml)
        assert (exc.status, exc.code) == (400, 21205), (twiml, exc.status, exc.code, exc.msg)
        assert exc.msg == f"Unable to create record: Twiml is not valid TwiML ({code}): {text}", twiml
    assert calls_of(api) == []  # nothing was created, nothing rings
    assert "mismatched tag" in notification_text(BAD[0])[1]


async def test_twiml_with_unknown_verbs_is_still_accepted(api: Api) -> None:
    client = client_for(api)
    twiml = "<Response><Frobnicate/><Say foo='1'>x</Say><Stream url='wss://h'/></Response>"
    document = parse_document(twiml, "text/xml")
    assert document.warnings  # 12200 notices at run time, not a parse error
    created = await asyncio.to_thread(lambda: client.calls.create(to="+15005550006", from_="+15005550100", twiml=twiml))
    assert created.status == "queued"
    stored = api.store.read_sync(get_call, created.sid)
    assert stored is not None and stored.twiml == twiml
    # With a Url, Twiml is ignored on create (reference §6), so it is not checked either.
    both = await api.create(Twiml=BAD[0])
    assert both.status == 201


async def test_update_with_twiml_that_does_not_parse_is_400(api: Api, api_check: SchemaCheck) -> None:
    controller = RecordingController(api.services.calls.store)
    ctl = await start_api(api.store, api.settings, api.project, controller=controller, check=api_check)
    try:
        client = client_for(ctl)
        queued = await (await ctl.create()).json()
        live = seed(ctl, 1, status="in-progress", end=None)[0]

        def drive(sid: str, twiml: str) -> TwilioRestException:
            with pytest.raises(TwilioRestException) as refused:
                client.calls(sid).update(twiml=twiml)
            return refused.value

        for sid in (queued["sid"], live.sid):
            for twiml in BAD:
                exc = await asyncio.to_thread(drive, sid, twiml)
                code, text = notification_text(twiml)
                assert (exc.status, exc.code) == (400, 21205), (twiml, exc.status, exc.code, exc.msg)
                assert exc.msg == f"Unable to update record: Twiml is not valid TwiML ({code}): {text}"
        assert controller.redirects == []  # the live call was not redirected to it
        stored = ctl.store.read_sync(get_call, queued["sid"])
        assert stored is not None
        assert (stored.url, stored.twiml) == ("http://127.0.0.1:9/xml", None)  # the queued one kept its own
        # The raw answer: Twilio's error body, the message naming the parse error.
        body: Any = await error_of(await update(ctl, live.sid, Twiml=BAD[0]), 400, 21205)
        assert "document parse failure: mismatched tag" in body["message"]
        # A document that parses still redirects the live call.
        good = "<Response><Hangup/></Response>"
        assert (await update(ctl, live.sid, Twiml=good)).status == 200
        assert controller.redirects == [(live.sid, None, "POST", good)]
    finally:
        await ctl.client.close()
