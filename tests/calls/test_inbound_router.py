"""The inbound router (calls/inbound.py): an INVITE a worker holds becomes a call of the project
that has the number (From/To/ForwardedFrom as Twilio reports them), or is refused: 404 for a
number nobody has, 503 with a notification when the project may not take calls; a desk phone's
call runs the phones' URL; <Reject> refuses with 486 / 603 and Twilio's status; a caller who hung
up before the engine took the INVITE leaves a `canceled` call."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from tests.calls.conftest import Flow
from wirexa.calls import inbound
from wirexa.calls.inbound import InboundRouter, Numbering
from wirexa.calls.ports import InboundInvite
from wirexa.calls.records import CallRecord, InboundRoute
from wirexa.store.repo.calls import get_call
from wirexa.store.repo.flags import CALLS_STOPPED, set_flag
from wirexa.store.repo.notifications import page_notifications
from wirexa.store.repo.projects import update_project

_IDS = itertools.count(1)


def invite(to: str = "+15005550100", frm: str = "+14155550123", **headers: str) -> InboundInvite:
    return InboundInvite(
        f"in-{next(_IDS)}",
        f'"Caller" <sip:{frm}@carrier.example>;tag=abc',
        f"<sip:{to}@wirexa.example>",
        "192.0.2.10:5060",
        f"sip:{to}@127.0.0.1:5060",
        tuple((name.replace("_", "-"), value) for name, value in headers.items()),
    )


async def held(flow: Flow, router: InboundRouter, inv: InboundInvite) -> CallRecord | None:
    """A worker holds `inv` (FakeSip), and the router routes it."""
    flow.sip.held[inv.dialog_id] = inv
    return await router.route(inv)


@dataclasses.dataclass
class Directory:
    numbers: dict[str, InboundRoute]
    phones: dict[str, InboundRoute]

    async def number_route(self, phone_number: str) -> InboundRoute | None:
        return self.numbers.get(phone_number)

    async def phone_route(self, username: str) -> InboundRoute | None:
        return self.phones.get(username)


@pytest.fixture
def router(flow: Flow) -> InboundRouter:
    voice = flow.backend.url("/voice")
    directory = Directory(
        {"+15005550100": InboundRoute(flow.project.sid, voice, phone_number_sid="PN" + "1" * 32)},
        {"alice": InboundRoute(flow.project.sid, flow.backend.url("/phones"))},
    )
    r = InboundRouter(
        Numbering(), directory, flow.dispatcher.store, flow.dispatcher.admission, flow.dispatcher, flow.sip
    )
    r.attach()
    return r


def test_numbers_become_e164_with_the_trunks_rules() -> None:
    us = Numbering()
    assert inbound.to_e164("+14155550123", us) == "+14155550123"
    assert inbound.to_e164("4155550123", us) == "+14155550123"
    assert inbound.to_e164("14155550123", us) == "+14155550123"
    assert inbound.to_e164("0044207946000", us) == "+44207946000"
    assert inbound.to_e164("1001", us) == "1001"  # an extension stays as it came
    uk = Numbering(country_code="44", dial_prefix="9")
    assert inbound.to_e164("902079460000", uk) == "+442079460000"
    assert inbound.uri_user('"A B" <sip:+1415@h;user=phone>;tag=x') == "+1415"
    assert inbound.uri_user("<tel:+14155550123>") == "+14155550123"


def test_the_caller_is_the_asserted_identity_or_anonymous() -> None:
    us = Numbering()
    assert inbound.caller_number(invite(), us) == "+14155550123"
    pai = invite(P_Asserted_Identity="<sip:+12125550000@carrier.example>")
    assert inbound.caller_number(pai, us) == "+12125550000"
    assert inbound.caller_number(invite(frm="anonymous"), us) == "anonymous"
    assert inbound.caller_number(invite(Privacy="id"), us) == "anonymous"
    diverted = invite(Diversion="<sip:+13105550000@carrier.example>;reason=unconditional")
    assert inbound.forwarded_from(diverted, us) == "+13105550000"
    assert inbound.called_number(invite(to="4155550100"), us) == "+14155550100"
    to_header = dataclasses.replace(invite(), request_uri="sip:trunk-id@127.0.0.1")
    assert inbound.called_number(to_header, Numbering(number_from="to")) == "+15005550100"
    assert inbound.sender_of(invite(X_Wirexa_Auth="phone=alice")) == inbound.Sender("phone", "alice")
    assert inbound.sender_of(invite(X_Wirexa_Auth="sandbox")).kind == "sandbox"


async def test_a_number_of_the_project_rings_runs_its_url_and_answers(flow: Flow, router: InboundRouter) -> None:
    flow.backend.docs["/voice"] = "<Response><Say>Thanks for calling</Say></Response>"
    inv = invite(Diversion="<sip:+13105550000@carrier.example>")
    call = await held(flow, router, inv)
    assert call is not None and call.direction == "inbound" and call.status == "ringing"
    assert (call.from_number, call.to_number, call.forwarded_from) == ("+14155550123", "+15005550100", "+13105550000")
    assert call.phone_number_sid == "PN" + "1" * 32
    assert flow.sip.accepted[inv.dialog_id] == call.sid
    await flow.wait_status(call.sid, ("completed",))
    [params] = flow.backend.requests_to("/voice")
    assert params["CallStatus"] == "ringing" and params["Direction"] == "inbound"
    assert (params["Caller"], params["Called"], params["ForwardedFrom"]) == (
        "+14155550123",
        "+15005550100",
        "+13105550000",
    )
    assert flow.sip.calls[call.sid].answered


async def test_unknown_numbers_get_404_and_a_stopped_engine_503_with_a_notification(
    flow: Flow, router: InboundRouter
) -> None:
    unknown = invite(to="+15005550199")
    assert await held(flow, router, unknown) is None
    assert flow.sip.refused[unknown.dialog_id][0] == 404
    await flow.store.write(lambda: set_flag(CALLS_STOPPED, "1"))
    stopped = invite()
    assert await held(flow, router, stopped) is None
    assert flow.sip.refused[stopped.dialog_id][0] == 503
    notes, _ = await flow.store.read(lambda: page_notifications(flow.project.sid, 50))
    assert any("refused" in n.message_text for n in notes)


async def test_a_project_or_engine_at_its_concurrency_cap_refuses_503(flow: Flow, router: InboundRouter) -> None:
    await flow.store.write(lambda: update_project(flow.project.sid, max_concurrent=0))
    inv = invite()
    assert await held(flow, router, inv) is None
    assert flow.sip.refused[inv.dialog_id][0] == 503
    await flow.store.write(lambda: update_project(flow.project.sid, max_concurrent=None))
    flow.dispatcher.settings = dataclasses.replace(flow.dispatcher.settings, calls_max_concurrent=0)
    full = invite()
    assert await held(flow, router, full) is None
    assert flow.sip.refused[full.dialog_id] == (503, "the engine's limit of 0 concurrent calls is reached")


async def test_a_desk_phone_runs_the_phones_url_with_sip_from_and_to(flow: Flow, router: InboundRouter) -> None:
    flow.backend.docs["/phones"] = "<Response><Hangup/></Response>"
    inv = dataclasses.replace(invite(X_Wirexa_Auth="phone=alice"), request_uri="sip:1001@127.0.0.1:5060")
    call = await held(flow, router, inv)
    assert call is not None and (call.from_number, call.to_number) == ("sip:alice@wirexa", "sip:1001@wirexa")
    await flow.wait_status(call.sid, ("completed", "no-answer", "canceled"))
    [params] = flow.backend.requests_to("/phones")
    assert params["From"] == "sip:alice@wirexa"
    stranger = invite(X_Wirexa_Auth="phone=bob")
    assert await held(flow, router, stranger) is None and flow.sip.refused[stranger.dialog_id][0] == 404


@pytest.mark.parametrize(("reason", "code", "status"), [("busy", 486, "busy"), ("rejected", 603, "no-answer")])
async def test_reject_refuses_the_unanswered_call_with_twilios_status(
    flow: Flow, router: InboundRouter, reason: str, code: int, status: str
) -> None:
    flow.backend.docs["/voice"] = f'<Response><Reject reason="{reason}"/></Response>'
    call = await held(flow, router, invite())
    assert call is not None
    done = await flow.wait_status(call.sid, (status,))
    assert done.sip_response_code == code and done.answer_time is None
    assert not flow.sip.calls[call.sid].answered


async def test_a_caller_gone_before_the_accept_leaves_a_canceled_call(flow: Flow, router: InboundRouter) -> None:
    flow.backend.docs["/voice"] = "<Response><Say>never heard</Say></Response>"
    inv = invite()
    flow.sip.gone.add(inv.dialog_id)
    call = await held(flow, router, inv)
    assert call is not None
    done = await flow.wait_status(call.sid, ("canceled",))
    assert done.end_time is not None
    stored = await flow.store.read(get_call, call.sid)
    assert stored is not None and stored.status == "canceled"


async def hang_up(flow: Flow, sid: str) -> None:
    """The caller hangs up once the call is answered."""
    await flow.wait_status(sid, ("in-progress",))
    session = flow.dispatcher.sessions.get(sid)
    assert session is not None
    await session.hangup()
    await flow.wait_status(sid, ("completed",))


class Phones:
    def __init__(self, contacts: dict[str, list[str]]) -> None:
        self.contacts = contacts

    def reach(self, username: str) -> list[str]:
        return self.contacts.get(username, [])


async def test_dial_client_rings_every_registered_contact_with_the_callers_number(
    flow: Flow, router: InboundRouter
) -> None:
    phones = Phones({"alice": ["sip:alice@127.0.0.1:5098", "sip:alice@127.0.0.1:5099;transport=tcp"]})
    flow.dispatcher.deps = dataclasses.replace(flow.dispatcher.deps, phones=phones, caller_ids=frozenset())
    flow.backend.docs["/voice"] = (
        "<Response><Dial><Client>alice</Client><Sip>sip:bob@wirexa</Sip><Sip>sip:carol@pbx.example</Sip></Dial></Response>"
    )
    call = await held(flow, router, invite())
    assert call is not None
    await flow.wait_for(lambda: len(flow.sip.calls) >= 4)
    legs = {c.dial.to_uri: c.dial.from_uri for sid, c in flow.sip.calls.items() if sid != call.sid}
    # alice's two contacts, carol's URI as given; bob has no registration: left out, noticed
    assert sorted(legs) == [
        "sip:alice@127.0.0.1:5098",
        "sip:alice@127.0.0.1:5099;transport=tcp",
        "sip:carol@pbx.example",
    ]
    assert set(legs.values()) == {"sip:+14155550123@wirexa.invalid"}  # the inbound caller's number
    await hang_up(flow, call.sid)
    notes, _ = await flow.store.read(lambda: page_notifications(flow.project.sid, 50, call_sid=call.sid))
    assert any("bob is not registered" in n.message_text for n in notes)


async def test_a_forwarded_call_shows_the_number_called_when_the_caller_may_not_be_shown(
    flow: Flow, router: InboundRouter
) -> None:
    flow.dispatcher.deps = dataclasses.replace(flow.dispatcher.deps, caller_ids=frozenset({"+15005550100"}))
    flow.backend.docs["/voice"] = "<Response><Dial>+15005550006</Dial></Response>"
    call = await held(flow, router, invite())  # +14155550123 is not an allowed caller id
    assert call is not None
    await flow.wait_for(lambda: len(flow.sip.calls) >= 2)
    [leg] = [c for sid, c in flow.sip.calls.items() if sid != call.sid]
    assert leg.dial.from_uri == "sip:+15005550100@wirexa.invalid"
    await hang_up(flow, call.sid)


async def test_an_invites_x_headers_reach_the_voice_url_as_sipheader_params(flow: Flow, router: InboundRouter) -> None:
    flow.backend.docs["/voice"] = "<Response><Hangup/></Response>"
    call = await held(flow, router, invite(X_Customer_Id="42", X_Wirexa_Auth="carrier"))
    assert call is not None
    await flow.wait_status(call.sid, ("completed", "canceled", "no-answer"))
    [params] = flow.backend.requests_to("/voice")
    assert params["SipHeader_X-Customer-Id"] == "42"
    assert not any(key.startswith("SipHeader_X-Wirexa") for key in params)


async def test_a_call_created_to_a_desk_phone_rings_its_latest_contact(flow: Flow) -> None:
    phones = Phones({"alice": ["sip:alice@127.0.0.1:5098", "sip:alice@127.0.0.1:5099"]})
    flow.dispatcher.deps = dataclasses.replace(flow.dispatcher.deps, phones=phones)
    flow.backend.docs["/hi"] = "<Response><Hangup/></Response>"
    call = await flow.create(to="client:alice", url=flow.backend.url("/hi"))
    await flow.wait_status(call.sid, ("completed",))
    assert flow.sip.calls[call.sid].dial.to_uri == "sip:alice@127.0.0.1:5099"
    nobody = await flow.create(to="sip:bob@wirexa", url=flow.backend.url("/hi"))
    done = await flow.wait_status(nobody.sid, ("failed",))
    assert nobody.sid not in flow.sip.calls and done.end_time is not None
    notes, _ = await flow.store.read(lambda: page_notifications(flow.project.sid, 50, call_sid=nobody.sid))
    assert [n.message_text for n in notes] == ["sip:bob@wirexa is not registered"]
