"""What a database's schema holds, read from SQLite's or PostgreSQL's catalog alike."""

from __future__ import annotations

from typing import Any

from wirexa.store.db import is_sqlite


def tables(db: Any) -> set[str]:
    """The application's tables (not SQLite's own, not the schema-version table)."""
    if is_sqlite(db):
        rows = db.execute_sql("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    else:
        rows = db.execute_sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows if not r[0].startswith("sqlite_") and r[0] != "wirexa_schema"}


def indexes(db: Any) -> set[str]:
    if is_sqlite(db):
        rows = db.execute_sql("SELECT name FROM sqlite_master WHERE type='index'").fetchall()
    else:
        rows = db.execute_sql("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def definitions(db: Any) -> list[tuple[Any, ...]]:
    """Every table's and index's definition, in a fixed order (equal before and after a no-op)."""
    if is_sqlite(db):
        return list(db.execute_sql("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall())
    columns = db.execute_sql(
        "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name <> 'wirexa_schema' ORDER BY table_name, ordinal_position"
    ).fetchall()
    index_defs = db.execute_sql(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname"
    ).fetchall()
    return list(columns) + list(index_defs)
