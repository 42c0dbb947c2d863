"""Helpers for the tests of the nodes table (tests/store/test_nodes_store.py, tests/cluster)."""

from __future__ import annotations

import datetime as dt

from wirexa.store.db import Store
from wirexa.store.models import Node
from wirexa.store.repo import nodes


def node_row(store: Store, node_id: str) -> nodes.NodeRecord:
    row = store.read_sync(nodes.get_node, node_id)
    assert row is not None
    return row


def age_heartbeat(store: Store, node_id: str, seconds: float) -> None:
    """Make a node's heartbeat `seconds` old."""
    store.write_sync(
        lambda: (
            Node.update(heartbeat_at=nodes.db_now() - dt.timedelta(seconds=seconds))
            .where(Node.node_id == node_id)
            .execute()
        )
    )
