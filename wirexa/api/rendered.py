"""Rendered JSON kept for reuse, keyed by what it was rendered from.

A list page is 50 calls; rendering them (50 dicts of 30 keys, 200 timestamps, json.dumps) costs
several times the SQLite query, and dashboards poll the same first page over and over. Two caches:
- rows: a call's JSON by (sid, date_updated, prefix). A call row changes date_updated on every
  write (store.repo.calls.update_call), so that key never serves stale JSON; the prefix is in the key because
  every uri in the body repeats it.
- pages: a whole list response by (request path and query, the page's (sid, date_updated) rows,
  more-follows flag): served only when the store still lists exactly those row versions.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class RenderedCache:
    """An LRU of rendered JSON bytes, bounded in bytes; used on the event loop only."""

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()

    def has(self, key: Hashable) -> bool:
        return key in self._items

    def get(self, key: Hashable) -> bytes | None:
        body = self._items.get(key)
        if body is not None:
            self._items.move_to_end(key)
        return body

    def put(self, key: Hashable, body: bytes) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self.size -= len(old)
        self._items[key] = body
        self.size += len(body)
        while self.size > self.max_bytes and self._items:
            self.size -= len(self._items.popitem(last=False)[1])

    def render(self, key: Hashable, make: Callable[[], dict[str, Any]]) -> bytes:
        body = self.get(key)
        if body is None:
            body = dumps(make())
            self.put(key, body)
        return body

    def __len__(self) -> int:
        return len(self._items)


def dumps(obj: object) -> bytes:
    """JSON as aiohttp's json_response writes it (json.dumps defaults), encoded."""
    return json.dumps(obj).encode()


def envelope(key: str, items: list[bytes], meta: dict[str, Any]) -> bytes:
    """The list envelope {key: [items...], **meta} with the items already rendered."""
    rest = dumps(meta)
    head = b'{"' + key.encode() + b'": [' + b", ".join(items) + b"]"
    return head + (b", " + rest[1:] if len(rest) > 2 else b"}")
