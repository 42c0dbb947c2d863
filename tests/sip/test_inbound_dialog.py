"""Dialogs both ways, on the SIP side: a carrier's INVITE (SIPp) reaches a worker, which holds it and
reports it; the engine takes it with a CallSid it minted (accept: the caller hears 180), answers it
when its document asks (answer: 200, the caller's ACK confirms it), and the call then lives and ends
like any other (the carrier's BYE)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.sip.conftest import make_settings, running
from tests.sip.test_exposure import invite
from wirexa.calls.ports import CallAnswered, CallRinging, CallSid, InboundInvite
from wirexa.errors import SipError

pytestmark = pytest.mark.sip


async def test_an_invite_taken_with_an_engine_sid_rings_answers_and_ends(tmp_path: Path, sipp: object) -> None:
    settings = make_settings(tmp_path)
    async with running(settings, tmp_path) as h:
        held: list[InboundInvite] = []
        h.bridge.set_incoming_handler(held.append)
        worker = f"127.0.0.1:{settings.sip_port_base}"
        carrier = sipp("uac_inbound.xml", settings.sip_port_base + 150, worker)  # type: ignore[operator]
        for _ in range(100):
            if held:
                break
            await asyncio.sleep(0.05)
        [incoming] = held
        assert incoming.from_uri.startswith("<sip:+14155550123@") and "+15005550100@" in incoming.to_uri
        assert incoming.source.startswith("127.0.0.1:")
        sid = CallSid(f"CA{os.getpid():08x}{'1' * 24}")  # what the engine mints for it
        await h.bridge.accept(incoming.dialog_id, sid)
        assert (await h.wait(sid, CallRinging)).sip_code == 180
        await h.bridge.answer(sid)
        await h.wait(sid, CallAnswered)
        ended = await h.ended(sid)  # the carrier hangs up after a second
        assert (ended.reason, ended.hangup_by) == ("completed", "remote")
        assert await asyncio.to_thread(carrier.wait, 15) == 0  # it saw 180, 200 and the BYE's 200


async def test_the_engine_refuses_a_held_invite_with_its_code(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with running(settings, tmp_path) as h:

        def refuse_busy(incoming: InboundInvite) -> None:
            asyncio.get_running_loop().create_task(h.bridge.refuse(incoming.dialog_id, 486, "test: busy"))

        h.bridge.set_incoming_handler(refuse_busy)
        heads = await asyncio.to_thread(invite, settings.sip_port_base, "127.0.0.1")
        assert heads == ["SIP/2.0 100 Trying", "SIP/2.0 486 Busy Here"]
        with pytest.raises(SipError, match="no worker holds"):  # a dialog no worker holds (any more)
            await h.bridge.accept("in-0-999", CallSid(f"CA{os.getpid():08x}{'2' * 24}"))
