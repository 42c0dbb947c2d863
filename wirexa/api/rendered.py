"""Rendered resources kept for reuse: a call's JSON bytes by (sid, date_updated, prefix).

A list page is 50 calls; rendering them (50 dicts of 30 keys, 200 timestamps, json.dumps) costs
several times the SQLite query, and dashboards poll the same first page over and over. A call row
changes date_updated on every write (repo.update_call), so a (sid, date_updated) key never serves
stale JSON; the prefix is part of the key because every uri in the body repeats it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

Key = tuple[str, Any, str]


class RenderedCache:
    """A bounded LRU of rendered JSON bytes. Used on the event loop; `has` may also be called from
    a store reader thread (a dict lookup, atomic under the GIL)."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[Key, bytes] = OrderedDict()

    def has(self, key: Key) -> bool:
        return key in self._items

    def get(self, key: Key) -> bytes | None:
        body = self._items.get(key)
        if body is not None:
            self._items.move_to_end(key)
        return body

    def put(self, key: Key, body: bytes) -> None:
        self._items[key] = body
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def render(self, key: Key, make: Callable[[], dict[str, Any]]) -> bytes:
        body = self.get(key)
        if body is None:
            body = dumps(make())
            self.put(key, body)
        return body

    def __len__(self) -> int:
        return len(self._items)


def dumps(obj: Any) -> bytes:
    """JSON as aiohttp's json_response writes it (json.dumps defaults), encoded."""
    return json.dumps(obj).encode()


def envelope(key: str, items: list[bytes], meta: dict[str, Any]) -> bytes:
    """The list envelope {key: [items...], **meta} with the items already rendered."""
    rest = dumps(meta)
    head = b'{"' + key.encode() + b'": [' + b", ".join(items) + b"]"
    return head + (b", " + rest[1:] if len(rest) > 2 else b"}")
