"""Database connection, pragmas, migrations, and the Store: one writer thread plus readers.

Theory of operation. SQLite allows one writer at a time; instead of letting every thread fight
for the lock, all writes of this process go through one dedicated thread (a single-worker
executor) that owns its own connection, and each write function runs inside one transaction.
Reads run on a small executor pool, each thread with its own connection (peewee connections
are thread-local), and see the last committed state (WAL). The event loop never touches the
database directly: `await store.write(fn, *args)` / `await store.read(fn, *args)`; the one
exception is `await store.lookup(fn, *args)`, a bounded read (by primary key, or a page of an
index) that on SQLite runs inline. A cancelled
awaiter does not cancel the write: it still commits, the result is dropped (as datasette does).
CLI commands, which have no loop, call `store.write_sync`/`store.read_sync`.

PostgreSQL (database_url = "postgresql://...", psycopg 3) runs the same code: the same
migrations (made the dialect's by dialect_ddl), the same compiled SQL (store/sql.py) and the same
writer thread, each thread on its own connection (close() closes them all). The writer stays
one thread there too: it keeps a process's writes in the order they were made; lookups go to a
reader thread, since they cross the network.

One Store per process: the peewee models are bound through a module-level proxy.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any, ParamSpec, TypeVar

import peewee as pw
import psycopg
from playhouse.db_url import parse as parse_db_url

from wirexa.errors import StoreError
from wirexa.store.migrations import MIGRATIONS
from wirexa.store.models import database_proxy

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# What a database call may raise: peewee's errors, and psycopg's own where peewee does not wrap
# them (a rollback on a connection the server closed). peewee imports psycopg already.
DRIVER_ERRORS: tuple[type[Exception], ...] = (pw.PeeweeException, psycopg.Error)

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 10_000,
    "synchronous": "normal",
}


def redacted(url: str) -> str:
    """`url` with its password as *** (what messages and logs print of a database URL)."""
    scheme, sep, rest = url.partition("://")
    auth, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in auth or scheme == "sqlite":
        return url
    return f"{scheme}://{auth.split(':', 1)[0]}:***@{host}"


def open_database(url: str) -> Any:
    """Open a peewee Database for a URL: sqlite:///path or postgresql://user:pass@host:port/db
    (postgres:// too; query parameters such as ?sslmode=require go to the driver). Connections
    open lazily, one per thread. Raises StoreError for any other scheme."""
    try:
        if url.startswith("sqlite:///"):
            path = Path(url[len("sqlite:///") :])
            if str(path) != ":memory:":
                path.parent.mkdir(parents=True, exist_ok=True)
            return pw.SqliteDatabase(str(path), pragmas=SQLITE_PRAGMAS)
        if url.startswith(("postgresql://", "postgres://")):
            params = parse_db_url(url, unquote_password=True, unquote_user=True)
            return PostgresDatabase(params.pop("database"), **params)
    except (pw.PeeweeException, OSError, RuntimeError, ValueError) as exc:
        raise StoreError(f"cannot open database {redacted(url)}: {exc}") from exc
    raise StoreError(f"cannot open database {redacted(url)}: the URL must start sqlite:/// or postgresql://")


class PostgresDatabase(pw.PostgresqlDatabase):  # type: ignore[misc]
    """peewee's PostgreSQL database on psycopg 3, keeping every connection it opens so that
    close_all() can close them: each thread (the writer, each reader) has its own, and a psycopg
    connection left to the garbage collector warns (ResourceWarning) and holds a server slot."""

    def __init__(self, database: str, **kwargs: Any) -> None:
        self._opened: list[Any] = []
        self._opened_lock = threading.Lock()
        super().__init__(database, prefer_psycopg3=True, **kwargs)

    def _connect(self) -> Any:
        conn = super()._connect()  # type: ignore[misc]
        with self._opened_lock:
            self._opened.append(conn)
        return conn

    def drop_if_broken(self) -> bool:
        """Forget this thread's connection if the server closed it (a restart, a failover, an
        idle timeout), so that the next statement opens a new one; True if it did. Call between
        units of work only: never inside a transaction."""
        state: Any = self._state  # type: ignore[attr-defined]  # peewee's per-thread connection state
        if state.conn is None or not state.conn.closed:
            return False
        state.reset()
        return True

    def close_all(self) -> None:
        """Close every connection any thread opened (call when no thread uses the database)."""
        if not self.is_closed():
            self.close()
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()


def is_sqlite(db: Any) -> bool:
    return isinstance(db, pw.SqliteDatabase)


def schema_version(db: Any) -> int:
    """The migrated schema version (0 for an empty database). SQLite keeps it in PRAGMA
    user_version, PostgreSQL in the table wirexa_schema (a row per migration applied)."""
    if is_sqlite(db):
        return int(db.execute_sql("PRAGMA user_version").fetchone()[0])
    if db.execute_sql("SELECT to_regclass('wirexa_schema')").fetchone()[0] is None:
        return 0
    row = db.execute_sql("SELECT MAX(version) FROM wirexa_schema").fetchone()
    return int(row[0] or 0)


def _set_version(db: Any, version: int) -> None:
    if is_sqlite(db):
        db.execute_sql(f"PRAGMA user_version = {int(version)}")
    else:
        db.execute_sql("CREATE TABLE IF NOT EXISTS wirexa_schema (version INTEGER NOT NULL)")
        db.execute_sql("INSERT INTO wirexa_schema (version) VALUES (%s)", (version,))


# Engines started together on one PostgreSQL database migrate one at a time: the others wait on
# this advisory lock, then find the work done. (SQLite's file lock does the same there.)
_MIGRATION_LOCK = 0x57495245  # "WIRE"


# The migrations' DDL is written once, in what SQLite and PostgreSQL both run: `{pk}` for an
# auto-increment id, TIMESTAMP (naive UTC), BOOLEAN with TRUE/FALSE, TEXT, INTEGER, BIGINT, REAL,
# VARCHAR(n), CREATE [UNIQUE] INDEX, ALTER TABLE ... ADD COLUMN; no PRAGMA, AUTOINCREMENT, partial
# index, date function or INSERT OR ... (tests/store run every migration on both). It is made the
# dialect's here. On PostgreSQL the types take SQLite's meaning of them: REAL is a double (float4
# would round 0.1), INTEGER a 64-bit integer and VARCHAR(n) unbounded (SQLite enforces neither
# bound, so a value the API lets through must not become a failed write on one database only).
_POSTGRES_TYPES = (
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bVARCHAR\(\d+\)"), "VARCHAR"),
)


def dialect_ddl(db: Any, statement: str) -> str:
    """A migration statement as the database `db` runs it."""
    if is_sqlite(db):
        return statement.replace("{pk}", "INTEGER PRIMARY KEY AUTOINCREMENT")
    for pattern, replacement in _POSTGRES_TYPES:
        statement = pattern.sub(replacement, statement)
    return statement.replace("{pk}", "BIGSERIAL PRIMARY KEY")


def migrate(db: Any, migrations: tuple[ModuleType, ...] = MIGRATIONS, target: int | None = None) -> int:
    """Apply pending migrations in order, each in its own transaction; return the new version."""
    try:
        if not is_sqlite(db):
            db.execute_sql("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            return _migrate(db, migrations, target)
        finally:
            if not is_sqlite(db):
                db.execute_sql("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    except pw.PeeweeException as exc:
        raise StoreError(f"migration failed: {exc}") from exc


def _migrate(db: Any, migrations: tuple[ModuleType, ...], target: int | None) -> int:
    current = schema_version(db)
    for mod in migrations:
        version = int(mod.VERSION)
        if version <= current or (target is not None and version > target):
            continue
        # A migration may need other statements on SQLite (which cannot alter a column).
        statements = getattr(mod, "SQLITE_STATEMENTS", mod.STATEMENTS) if is_sqlite(db) else mod.STATEMENTS
        with db.atomic():
            for statement in statements:
                db.execute_sql(dialect_ddl(db, statement))
            _set_version(db, version)
        log.info("database migrated to schema version %d", version)
        current = version
    return current


class Store:
    """The process's database handle. See the module docstring for the threading contract."""

    def __init__(self, url: str, readers: int = 4) -> None:
        self.url = url
        self.db = open_database(url)
        database_proxy.initialize(self.db)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="store-reader")
        self._write_lock = threading.Lock()  # serialises write_sync with the writer thread
        self._inline_reads = is_sqlite(self.db)

    def migrate(self) -> int:
        with self._write_lock:
            return migrate(self.db)

    def version(self) -> int:
        return schema_version(self.db)

    def _run_write(self, fn: Callable[..., T], *args: Any) -> T:
        with self._write_lock:
            try:
                if is_sqlite(self.db):
                    with self.db.atomic(lock_type="IMMEDIATE"):
                        return fn(*args)
                self.db.drop_if_broken()
                with self.db.atomic():
                    return fn(*args)
            except DRIVER_ERRORS as exc:
                # A write that failed because the server went away is not retried: its COMMIT may
                # have landed. The writer's next one reconnects (drop_if_broken).
                raise StoreError(f"database write failed: {exc}") from exc

    def _run_read(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            try:
                return fn(*args)
            except DRIVER_ERRORS:
                # A read on a connection the server closed (PostgreSQL) is run again, once, on a
                # new one: reads change nothing.
                if is_sqlite(self.db) or not self.db.drop_if_broken():
                    raise
                return fn(*args)
        except DRIVER_ERRORS as exc:
            raise StoreError(f"database read failed: {exc}") from exc

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) in one transaction on the writer thread; returns its result."""
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self._writer, self._run_write, fn, *args)
        return await asyncio.shield(fut)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run fn(*args) on a reader thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, fn, *args)

    async def lookup(self, fn: Callable[..., T], *args: Any) -> T:
        """read() for a read whose cost is bounded: by primary key, or one page of an index. On
        SQLite it runs right here, on the caller's thread: a WAL reader never waits for the
        writer, and the lookup (~20 us) costs a third of the hop to a reader thread. Other
        databases answer over the network: a reader thread."""
        if self._inline_reads:
            return self._run_read(fn, *args)
        return await self.read(fn, *args)

    def write_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """The same as write() for code without an event loop (the CLI)."""
        return self._run_write(fn, *args)

    def read_sync(self, fn: Callable[..., T], *args: Any) -> T:
        return self._run_read(fn, *args)

    def ping(self) -> bool:
        """Whether the database answers (on a new connection if the server closed this thread's)."""
        try:
            self._run_read(lambda: self.db.execute_sql("SELECT 1").fetchone())
            return True
        except StoreError:
            return False

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        if isinstance(self.db, PostgresDatabase):
            self.db.close_all()
        elif not self.db.is_closed():
            self.db.close()
