"""The cluster tests: the store tests' fixtures (`store`, on SQLite and PostgreSQL) for the
membership's unit tests, and one pair of engines on one PostgreSQL database shared by the
end-to-end modules that leave it as they found it (forwarding, rooms and queues); the modules
that stop or kill an engine start their own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster import nodes_running
from tests.conftest import LiveServer
from tests.pg import PgCluster
from tests.store.conftest import module_pg_url, store  # noqa: F401 - fixtures


@pytest.fixture(scope="session")
def engine_pair(tmp_path_factory: pytest.TempPathFactory, pg: PgCluster) -> Iterator[tuple[str, list[LiveServer]]]:
    """(database URL, [node-1, node-2]): heartbeat 0.5 s, node timeout 3 s (tests/cluster)."""
    url = pg.new_database()
    with nodes_running(tmp_path_factory.mktemp("pair"), url, 2) as nodes:
        yield url, nodes
