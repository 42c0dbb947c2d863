"""The on-disk render cache: one WAV per (provider, voice, language, text), bounded in bytes, LRU.

Loop-only. The index (path -> size, least recently used first) is built from the directory on
first use, oldest modification time first, so the order survives restarts: a hit bumps the
file's mtime as well as its place in the index. After each new file, the least recently used
files are deleted until the total is within `max_bytes`; the newest file is never deleted, so
a text longer than the whole bound still plays once. A path handed out may be evicted later;
callers play it right away (a deleted file stays readable for whoever has it open).
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from pathlib import Path

log = logging.getLogger(__name__)


class LruCache:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._index: OrderedDict[Path, int] | None = None

    def path_for(self, key: str) -> Path:
        return self.directory / f"{key}.wav"

    @property
    def total_bytes(self) -> int:
        return sum(self._load().values())

    def get(self, key: str) -> Path | None:
        """The cached file for `key` (now the most recently used), or None."""
        path = self.path_for(key)
        index = self._load()
        if not path.exists():
            index.pop(path, None)
            return None
        try:
            os.utime(path)
        except OSError:
            pass
        if path not in index:
            index[path] = path.stat().st_size
        index.move_to_end(path)
        return path

    def put(self, tmp: Path, key: str) -> Path:
        """Move a finished render into the cache, then evict down to the bound."""
        path = self.path_for(key)
        tmp.replace(path)
        index = self._load()
        index[path] = path.stat().st_size
        index.move_to_end(path)
        self._evict(keep=path)
        return path

    def _evict(self, keep: Path) -> None:
        if self.max_bytes <= 0:
            return
        index = self._load()
        total = sum(index.values())
        for path in list(index):
            if total <= self.max_bytes:
                break
            if path == keep:
                continue
            total -= index.pop(path)
            path.unlink(missing_ok=True)
            log.debug("tts cache evicted %s", path.name)

    def _load(self) -> OrderedDict[Path, int]:
        if self._index is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            for p in self.directory.glob("*.tmp.pcm"):  # streams (chain.py) a crash left behind
                try:
                    if time.time() - p.stat().st_mtime > 3600:
                        p.unlink(missing_ok=True)
                except OSError:
                    continue
            entries = []
            for p in self.directory.glob("*.wav"):
                try:
                    st = p.stat()
                except OSError:
                    continue
                if ".tmp." in p.name:
                    # A render in progress (maybe another process's) or cut short by a crash.
                    if time.time() - st.st_mtime > 3600:
                        p.unlink(missing_ok=True)
                    continue
                entries.append((st.st_mtime, p, st.st_size))
            entries.sort()
            self._index = OrderedDict((p, size) for _, p, size in entries)
        return self._index
