"""Copying a whole store into another database (`wirexa db copy`): a single box's SQLite file to
PostgreSQL, or back.

Theory of operation. Both databases are opened with open_database, not as Stores (the models are
bound to one database per process; a copy needs two), and nothing else may write the destination
while it runs. The source must be at this wirexa's schema version (`wirexa db migrate` brings it
there) and is read in one snapshot (one read transaction), so a copy taken while `serve` runs is
consistent, without what is written after it starts. The destination is migrated, must be empty
(`force` deletes its rows first), and gets every table in one transaction: a failed copy leaves it
as it was. Tables go in dependency order, each after the tables its foreign keys reference (read
from the destination's catalog); a table that references itself (a subaccount's parent project)
gets its rows parents first. Ids are kept, and PostgreSQL's sequences are moved past the copied
ids (SQLite's AUTOINCREMENT follows the ids inserted by itself). Values go through the models'
fields (SQLite's text timestamps and 0/1 booleans become PostgreSQL's types, and back).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import peewee as pw

from wirexa.errors import StoreError
from wirexa.store import models
from wirexa.store.db import is_sqlite, migrate, open_database, redacted, schema_version
from wirexa.store.migrations import MIGRATIONS

log = logging.getLogger(__name__)

BATCH = 1000  # rows a fetch and an insert


@dataclasses.dataclass(frozen=True, slots=True)
class Copied:
    """What a copy did: rows per table, in the order they were copied."""

    tables: tuple[tuple[str, int], ...]
    schema_version: int


def copy_database(src_url: str, dst_url: str, *, force: bool = False) -> Copied:
    """Copy every row of the store at `src_url` into the database at `dst_url` (see the module
    docstring). Raises StoreError naming what is wrong (versions, a non-empty destination)."""
    if src_url == dst_url:
        raise StoreError("the source and the destination are the same database")
    src, dst = open_database(src_url), open_database(dst_url)
    try:
        latest = max(int(m.VERSION) for m in MIGRATIONS)
        try:
            version = schema_version(src)
        except pw.PeeweeException as exc:
            raise StoreError(f"cannot read {redacted(src_url)}: {exc}") from exc
        if version != latest:
            raise StoreError(
                f"{redacted(src_url)} is at schema version {version}, this wirexa's is {latest}: "
                + ("run `wirexa db migrate` on it first" if version < latest else "use a newer wirexa")
            )
        migrate(dst)
        try:
            # The raw cursors' errors (executemany, the server-side cursor) as peewee's.
            with pw.__exception_wrapper__:  # type: ignore[attr-defined]
                return Copied(_copy(src, dst, force), latest)
        except pw.PeeweeException as exc:
            raise StoreError(f"nothing was copied into {redacted(dst_url)}: {exc}") from exc
    finally:
        _close(src)
        _close(dst)


def _close(db: Any) -> None:
    close_all = getattr(db, "close_all", None)
    if close_all is not None:
        close_all()
    elif not db.is_closed():
        db.close()


def _copy(src: Any, dst: Any, force: bool) -> tuple[tuple[str, int], ...]:
    order = _dependency_order(dst)
    with dst.atomic():
        nonempty = [t for t in order if dst.execute_sql(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone() is not None]
        if nonempty and not force:
            raise StoreError(
                f"the destination holds rows ({', '.join(nonempty)}); --force deletes them and copies over"
            )
        for table in reversed(order):
            dst.execute_sql(f'DELETE FROM "{table}"')
        counts = []
        with _snapshot(src):
            for table in order:
                counts.append((table, _copy_table(src, dst, table)))
        if not is_sqlite(dst):
            for table in order:
                _advance_sequence(dst, table)
    return tuple(counts)


class _snapshot:
    """One read transaction on the source: every table read as of one moment."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.txn = db.atomic()

    def __enter__(self) -> None:
        self.txn.__enter__()
        if not is_sqlite(self.db):
            self.db.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    def __exit__(self, *exc: Any) -> None:
        self.txn.__exit__(*exc)


def _tables(db: Any) -> list[str]:
    if is_sqlite(db):
        rows = db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    else:
        rows = db.execute_sql("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return sorted(r[0] for r in rows.fetchall() if r[0] != "wirexa_schema")


def _references(db: Any, table: str) -> list[tuple[str, str]]:
    """(column, referenced table) of each foreign key of `table`."""
    if is_sqlite(db):
        return [(r[3], r[2]) for r in db.execute_sql(f'PRAGMA foreign_key_list("{table}")').fetchall()]
    rows = db.execute_sql(
        "SELECT a.attname, c.confrelid::regclass::text FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) "
        "WHERE c.contype = 'f' AND c.conrelid = %s::regclass",
        (table,),
    ).fetchall()
    return [(r[0], r[1].strip('"')) for r in rows]


def _dependency_order(db: Any) -> list[str]:
    """The tables, each after those it references (self-references aside)."""
    tables = _tables(db)
    needs = {t: {ref for _, ref in _references(db, t) if ref != t} for t in tables}
    order: list[str] = []
    while needs:
        ready = sorted(t for t, refs in needs.items() if refs <= set(order))
        if not ready:
            raise StoreError(f"foreign keys form a cycle between {', '.join(sorted(needs))}")
        order += ready
        for t in ready:
            del needs[t]
    return order


_MODELS: dict[str, Any] = {m._meta.table_name: m for m in models.Base.__subclasses__()}


def _converters(table: str, columns: Sequence[str]) -> list[Callable[[Any], Any] | None]:
    """Per column, source value -> destination value through the model's field (None: as is)."""
    model: Any = _MODELS.get(table)
    fields = {f.column_name: f for f in model._meta.sorted_fields} if model is not None else {}

    def through(field: Any) -> Callable[[Any], Any]:
        return lambda value: None if value is None else field.db_value(field.python_value(value))

    return [through(fields[c]) if c in fields else None for c in columns]


def _rows(src: Any, table: str) -> tuple[list[str], Iterator[Sequence[Any]]]:
    """The table's column names and its rows in primary-key order, fetched BATCH at a time (a
    server-side cursor on PostgreSQL: a large table is never held whole)."""
    model: Any = _MODELS.get(table)
    order = ""
    if model is not None:
        key = model._meta.primary_key
        names = key.field_names if isinstance(key, pw.CompositeKey) else (key.column_name,)
        order = " ORDER BY " + ", ".join(
            f'"{model._meta.fields[n].column_name if n in model._meta.fields else n}"' for n in names
        )
    sql = f'SELECT * FROM "{table}"{order}'
    if is_sqlite(src):
        cursor = src.execute_sql(sql)
    else:
        cursor = src.connection().cursor(name=f"wirexa_copy_{table}")
        cursor.execute(sql.encode())
    columns = [d[0] for d in cursor.description]

    def batches() -> Iterator[Sequence[Any]]:
        try:
            while rows := cursor.fetchmany(BATCH):
                yield from rows
        finally:
            cursor.close()

    return columns, batches()


def _copy_table(src: Any, dst: Any, table: str) -> int:
    columns, rows = _rows(src, table)
    convert = _converters(table, columns)
    marks = ", ".join([dst.param] * len(columns))
    names = ", ".join(f'"{c}"' for c in columns)
    insert = f'INSERT INTO "{table}" ({names}) VALUES ({marks})'
    parents = [columns.index(column) for column, ref in _references(dst, table) if ref == table]
    stream: Iterator[Sequence[Any]] = rows
    if parents:
        key: Any = _MODELS[table]._meta.primary_key
        stream = _parents_first(rows, columns.index(key.column_name), parents)
    count = 0
    batch: list[tuple[Any, ...]] = []
    cursor = dst.cursor()
    for row in stream:
        batch.append(tuple(row[i] if fn is None else fn(row[i]) for i, fn in enumerate(convert)))
        if len(batch) == BATCH:
            cursor.executemany(insert, batch)
            count, batch = count + len(batch), []
    if batch:
        cursor.executemany(insert, batch)
        count += len(batch)
    log.info("copied %d row(s) of %s", count, table)
    return count


def _parents_first(rows: Iterator[Sequence[Any]], key: int, refs: list[int]) -> Iterator[Sequence[Any]]:
    """A self-referencing table's rows (held in memory: projects, a few) with each row after the
    rows its `refs` columns name (`key`: the primary key's column)."""
    waiting = list(rows)
    done: set[Any] = set()
    while waiting:
        ready = [r for r in waiting if all(r[i] is None or r[i] in done or r[i] == r[key] for i in refs)]
        if not ready:
            raise StoreError("rows reference parents that are not in the table")
        for r in ready:
            done.add(r[key])
            yield r
        ready_ids = {id(r) for r in ready}
        waiting = [r for r in waiting if id(r) not in ready_ids]


def _advance_sequence(db: Any, table: str) -> None:
    """Move the table's id sequence (if it has one) past its largest id."""
    has_id = db.execute_sql(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = %s AND column_name = 'id'",
        (table,),
    ).fetchone()
    seq = db.execute_sql("SELECT pg_get_serial_sequence(%s, 'id')", (f'"{table}"',)).fetchone() if has_id else None
    if seq is None or seq[0] is None:
        return
    db.execute_sql(f'SELECT setval(%s, COALESCE(MAX("id"), 1), MAX("id") IS NOT NULL) FROM "{table}"', (seq[0],))
