"""The store tests' database: a migrated SQLite file of the test's own, closed after it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wirexa.store.db import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'w.db'}")
    s.migrate()
    yield s
    s.close()
