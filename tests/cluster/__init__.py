"""Several `wirexa serve` engines on one PostgreSQL database (issue 27): the tests' and benches'
harness. Each engine is a LiveServer (tests/conftest.py) with its own data dir, ports, sandbox
and `[cluster] node_id`; they share the database (WIREXA_DATABASE_URL) and, when asked, one
recordings directory. `wirexa init` on the shared database finds the first engine's project, so
every engine answers with the same AccountSid and Auth Token.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from tests.conftest import LiveServer, make_live_server


def start_nodes(
    tmp: Path,
    database_url: str,
    count: int,
    *,
    extra_env: dict[str, str] | None = None,
    shared_recordings: Path | None = None,
    sandbox_toml: str = "",
    heartbeat_s: float = 0.5,
    node_timeout_s: float = 3.0,
) -> list[LiveServer]:
    """Start `count` engines named node-1, node-2, ... on `database_url` (heartbeat and timeout
    short for tests: a dead node is found in seconds). Stops the ones started if one fails."""
    nodes: list[LiveServer] = []
    try:
        for i in range(1, count + 1):
            nodes.append(
                start_node(
                    tmp / f"node-{i}",
                    database_url,
                    f"node-{i}",
                    extra_env=extra_env,
                    shared_recordings=shared_recordings,
                    sandbox_toml=sandbox_toml,
                    heartbeat_s=heartbeat_s,
                    node_timeout_s=node_timeout_s,
                )
            )
    except BaseException:
        for node in nodes:
            node.stop()
        raise
    return nodes


def start_node(
    data_dir: Path,
    database_url: str,
    node_id: str,
    *,
    extra_env: dict[str, str] | None = None,
    shared_recordings: Path | None = None,
    sandbox_toml: str = "",
    heartbeat_s: float = 0.5,
    node_timeout_s: float = 3.0,
) -> LiveServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "WIREXA_DATABASE_URL": database_url,
        "WIREXA_CLUSTER_NODE_ID": node_id,
        "WIREXA_CLUSTER_HEARTBEAT_S": str(heartbeat_s),
        "WIREXA_CLUSTER_NODE_TIMEOUT_S": str(node_timeout_s),
    }
    if shared_recordings is not None:
        env["WIREXA_RECORDINGS_DIR"] = str(shared_recordings)
    env.update(extra_env or {})
    return make_live_server(data_dir, env, sandbox_toml=sandbox_toml)


@contextlib.contextmanager
def nodes_running(*args: Any, **kwargs: Any) -> Iterator[list[LiveServer]]:
    """start_nodes(...) as a context manager: every engine stopped (or killed) at the end."""
    nodes = start_nodes(*args, **kwargs)
    try:
        yield nodes
    finally:
        for node in nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.stop()


def query(database_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of one SQL statement on the shared database (what the tests check the engines by)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description is not None else []


def wait_for(check: Any, timeout_s: float, what: str, every_s: float = 0.2) -> Any:
    """Poll `check()` until it returns a truthy value (returned) or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(every_s)
