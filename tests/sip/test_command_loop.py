"""How long a pjsua2 process's main thread waits in libHandleEvents (endpoint.CommandLoop.poll_ms):
pure arithmetic over the owner's busy flag and next due moment, with a stand-in Endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from wirexa.sip.endpoint import ACTIVE_POLL_MS, IDLE_POLL_MS, LINGER_S, CommandLoop


@dataclass
class TransportInfo:
    typeName: str = "UDP"  # noqa: N815 - pjsua2's attribute names
    localName: str = "127.0.0.1:5999"  # noqa: N815


class FakeEndpoint:
    def transportEnum(self) -> list[int]:  # noqa: N802
        return [0]

    def transportGetInfo(self, tid: int) -> TransportInfo:  # noqa: N802
        return TransportInfo()


MADE: list[CommandLoop] = []


@pytest.fixture(autouse=True)
def close_wake_sockets() -> Iterator[None]:
    yield
    while MADE:
        sock = MADE.pop()._wake_sock
        if sock is not None:
            sock.close()


def loop(busy: bool, due: float | None, active_ms: int = 100) -> CommandLoop:
    def nothing(*_: Any) -> None:
        return None

    cl = CommandLoop(FakeEndpoint(), nothing, nothing, active_ms=active_ms, busy=lambda: busy, due=lambda: due)
    MADE.append(cl)
    return cl


@pytest.mark.parametrize(
    ("busy", "due_in", "expected"),
    [
        (True, None, 100),  # calls up, nothing due: the owner's poll period
        (True, 0.030, 30),  # a prompt ends in 30 ms: woken then, not 70 ms late
        (True, 0.0301, 31),  # rounded up: never woken before it is due
        (True, 5.0, 100),  # far off: still the poll period (DTMF callbacks, Record's silence)
        (True, -0.5, 5),  # past due after a tick: poll briskly, never spin at 0
    ],
)
def test_busy_waits_until_due_at_most_the_poll_period(busy: bool, due_in: float | None, expected: int) -> None:
    now = 1000.0
    cl = loop(busy, None if due_in is None else now + due_in)
    assert cl.poll_ms(now) == expected


def test_idle_waits_long_unless_something_is_due() -> None:
    cl = loop(False, None)
    started = cl._busy_until - LINGER_S
    assert cl.poll_ms(started + 1) == 100  # still within LINGER_S of start-up (or the last command)
    assert cl.poll_ms(started + LINGER_S + 10) == IDLE_POLL_MS
    cl = loop(False, started + LINGER_S + 10.4)  # a closing recording's deadline
    assert cl.poll_ms(started + LINGER_S + 10) in (400, 401)  # 0.4 s, rounded up (floating point)


def test_without_due_the_default_period_applies() -> None:
    cl = CommandLoop(FakeEndpoint(), lambda _c: None, lambda _t: None, busy=lambda: True)
    MADE.append(cl)
    assert cl.poll_ms(1000.0) == ACTIVE_POLL_MS == 20
