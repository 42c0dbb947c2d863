"""The store tests' database, on both backends: a SQLite file of the test's own, and on the
session's PostgreSQL server (tests/pg.py) a migrated database of the test module's own, emptied
(TRUNCATE, ids restarted) before each test: that costs a fifth of a new database per test.
`db_url` is an empty, unmigrated database's URL; `store` a migrated Store, closed after the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg import PgCluster
from tests.store import schema
from wirexa.store.db import Store

# The PostgreSQL variants are `slow` (a server process): the whole suite runs them, the fast
# inner loop (-m "not sip and not slow") keeps to SQLite.
BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.slow))


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'w.db'}"
    cluster: PgCluster = request.getfixturevalue("pg")
    return cluster.new_database()


@pytest.fixture(scope="module")
def module_pg_url(pg: PgCluster) -> str:
    """The module's migrated PostgreSQL database."""
    url = pg.new_database()
    s = Store(url)
    s.migrate()
    s.close()
    return url


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'w.db'}")
        s.migrate()
    else:
        s = Store(request.getfixturevalue("module_pg_url"))
        s.migrate()  # a test before this one may have left it behind (a migration test): a no-op else
        s.write_sync(lambda: s.db.execute_sql(f"TRUNCATE {', '.join(sorted(schema.tables(s.db)))} RESTART IDENTITY"))
    yield s
    s.close()
