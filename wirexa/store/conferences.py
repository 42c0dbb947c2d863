"""The conference rooms' rows over the Store (calls.conference.ConferenceRows): each call is one
store write."""

from __future__ import annotations

from typing import Any

from wirexa.store.db import Store
from wirexa.store.repo.conferences import ConferenceRecord, ParticipantRecord, put_conference, put_participant


class StoreConferences:
    """Implements calls.conference.ConferenceRows. Loop-only."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def room(self, **fields: Any) -> None:
        await self.store.write(put_conference, ConferenceRecord(**fields))

    async def participant(self, **fields: Any) -> None:
        await self.store.write(put_participant, ParticipantRecord(**fields))
