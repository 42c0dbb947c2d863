"""The product doc's Flask and FastAPI backends, run unchanged as real servers, driven through
whole calls (fast harness: FakeSip for the network). The same scenarios run over real SIP
through the sandbox in tests/e2e."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.backends import run_backend
from tests.calls.conftest import Flow
from wirexa.store.repo.calls import get_call

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def flask_url() -> Iterator[str]:
    with run_backend("flask") as url:
        yield url


@pytest.fixture(scope="module")
def fastapi_url() -> Iterator[str]:
    with run_backend("fastapi") as url:
        yield url


def press_after_answer(flow: Flow, digits: str, delay: float = 0.3) -> None:
    flow.sip.on_answer["+15005550006"] = lambda sid: asyncio.get_running_loop().call_later(
        delay, flow.sip.press, sid, digits
    )


def spoken(flow: Flow) -> list[str]:
    return [text for text, _, _ in flow.tts.spoken]


@pytest.mark.parametrize("digit", ["1", "2"])
async def test_flask_backend_key(flow: Flow, flask_url: str, digit: str) -> None:
    press_after_answer(flow, digit)
    call = await flow.create(url=flask_url + "/xml", status_callback=flask_url + "/status")
    await flow.wait_status(call.sid, ("completed",), timeout=20)
    assert spoken(flow) == [
        "Hello! This call is being recorded.",
        "Press 1 for sales, 2 for support.",
        f"You pressed {digit}.",
    ]


async def test_flask_backend_no_key_hangs_up(flow: Flow, flask_url: str) -> None:
    call = await flow.create(url=flask_url + "/xml")
    done = await flow.wait_status(call.sid, ("completed",), timeout=20)
    assert spoken(flow) == ["Hello! This call is being recorded.", "Press 1 for sales, 2 for support."]
    assert done.duration_s is not None and done.duration_s >= 4  # the 5 s Gather timeout ran


MENU = "Press 1 for sales. Press 2 for support. Press 9 to be removed from our list."


async def test_fastapi_backend_press_1_transfers_to_sales(flow: Flow, fastapi_url: str) -> None:
    press_after_answer(flow, "1")
    call = await flow.create(url=fastapi_url + "/xml")
    await flow.wait_for(lambda: any(c.dial.parent_call_sid == call.sid for c in flow.sip.calls.values()), timeout=20)
    child_sid = next(s for s, c in flow.sip.calls.items() if c.dial.parent_call_sid == call.sid)
    assert flow.sip.calls[child_sid].dial.to_uri.startswith("sip:+13125550100")
    await flow.wait_for(lambda: flow.sip.calls[child_sid].bridged_to == call.sid)
    flow.sip.remote_hangup(child_sid)
    await flow.wait_status(call.sid, ("completed",), timeout=20)
    assert spoken(flow) == ["Hello, thank you for answering.", MENU, "Connecting you to sales."]
    child = await flow.store.read(get_call, child_sid)
    assert child is not None and child.status == "completed" and child.parent_call_sid == call.sid


@pytest.mark.parametrize(
    ("digit", "reply"),
    [("2", "Our team will contact you. Goodbye."), ("9", "You have been removed from our list. Goodbye.")],
)
async def test_fastapi_backend_keys(flow: Flow, fastapi_url: str, digit: str, reply: str) -> None:
    press_after_answer(flow, digit)
    call = await flow.create(url=fastapi_url + "/xml")
    await flow.wait_status(call.sid, ("completed",), timeout=20)
    assert spoken(flow) == ["Hello, thank you for answering.", MENU, reply]


async def test_fastapi_backend_invalid_key_repeats_menu(flow: Flow, fastapi_url: str) -> None:
    press_after_answer(flow, "5")
    call = await flow.create(url=fastapi_url + "/xml")
    await flow.wait_status(call.sid, ("completed",), timeout=30)
    assert spoken(flow) == [
        "Hello, thank you for answering.",
        MENU,
        "Invalid option. Press 1 for sales, 2 for support.",
    ]


async def test_fastapi_backend_no_key(flow: Flow, fastapi_url: str) -> None:
    call = await flow.create(url=fastapi_url + "/xml")
    await flow.wait_status(call.sid, ("completed",), timeout=30)
    assert spoken(flow) == ["Hello, thank you for answering.", MENU, "We did not receive your selection. Goodbye."]
