"""The live calls of this engine by CallSid: each session from the moment it is created (the
INVITE is about to leave) until its call is finalized. Loop-only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar


class Live(Protocol):
    @property
    def sid(self) -> str: ...

    @property
    def account_sid(self) -> str: ...


S = TypeVar("S", bound=Live)


class Registry(Generic[S]):
    def __init__(self) -> None:
        self._live: dict[str, S] = {}

    def add(self, session: S) -> None:
        self._live[session.sid] = session

    def discard(self, call_sid: str) -> None:
        self._live.pop(call_sid, None)

    def get(self, call_sid: str) -> S | None:
        return self._live.get(call_sid)

    def __contains__(self, call_sid: str) -> bool:
        return call_sid in self._live

    def __len__(self) -> int:
        return len(self._live)

    def __iter__(self) -> Iterator[S]:
        return iter(list(self._live.values()))

    def count(self, account_sid: str) -> int:
        """Live calls of one project."""
        return sum(1 for s in self._live.values() if s.account_sid == account_sid)
