"""The conference rooms' rows over the Store (calls.conference.ConferenceRows): each call is one
store write."""

from __future__ import annotations

from typing import Any

from wirexa.store.db import Store
from wirexa.store.repo import nodes
from wirexa.store.repo.conferences import ConferenceRecord, ParticipantRecord, put_conference, put_participant


class StoreConferences:
    """Implements calls.conference.ConferenceRows. Loop-only."""

    def __init__(self, store: Store, node_id: str = "") -> None:
        """`node_id`: this engine's (the homes of its rooms: store/repo/nodes.py)."""
        self.store = store
        self.node_id = node_id

    async def room(self, **fields: Any) -> None:
        await self.store.write(put_conference, ConferenceRecord(**fields))

    async def take_home(self, account_sid: str, name: str, sid: str) -> str | None:
        return await self.store.write(nodes.take_home, "conference", account_sid, name, sid, self.node_id)  # type: ignore[no-any-return]

    async def leave_home(self, account_sid: str, name: str, sid: str) -> None:
        await self.store.write(nodes.leave_home, "conference", account_sid, name, sid, self.node_id)

    async def participant(self, **fields: Any) -> None:
        await self.store.write(put_participant, ParticipantRecord(**fields))
