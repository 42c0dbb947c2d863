"""The queues' rows over the Store (calls.queues.QueueRows): <Enqueue> finds or creates its
queue by name, <Dial><Queue> finds one; a queue with a live part here holds its name among the
engines (homes, kind "queue", by QU sid). Loop-side; each call is one store read or write."""

from __future__ import annotations

from wirexa.store.db import Store
from wirexa.store.repo import nodes
from wirexa.store.repo.queues import QueueRecord, queue_by_name, queue_named


class StoreQueues:
    """Implements calls.queues.QueueRows. Loop-only."""

    def __init__(self, store: Store, node_id: str = "") -> None:
        """`node_id`: this engine's (the homes of its queues: store/repo/nodes.py)."""
        self.store = store
        self.node_id = node_id

    async def named(self, account_sid: str, name: str, max_size: int | None) -> QueueRecord:
        found: QueueRecord | None = await self.store.lookup(queue_by_name, account_sid, name)
        if found is not None:
            return found
        return await self.store.write(queue_named, account_sid, name, max_size)  # type: ignore[no-any-return]

    async def by_name(self, account_sid: str, name: str) -> QueueRecord | None:
        return await self.store.lookup(queue_by_name, account_sid, name)  # type: ignore[no-any-return]

    async def take_home(self, account_sid: str, name: str, sid: str) -> str | None:
        return await self.store.write(nodes.take_home, "queue", account_sid, name, sid, self.node_id)  # type: ignore[no-any-return]

    async def leave_home(self, account_sid: str, name: str, sid: str) -> None:
        await self.store.write(nodes.leave_home, "queue", account_sid, name, sid, self.node_id)
