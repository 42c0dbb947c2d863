"""A real PostgreSQL server for the tests and benches: a temporary cluster (initdb, then pg_ctl
start on a free port of 127.0.0.1) in a folder of its own under /tmp, removed when stopped.

Debian's `postgresql` package puts its programs in /usr/lib/postgresql/<version>/bin (scripts/setup
installs it). Missing programs fail loudly: the store tests run on both databases, none is skipped.
initdb refuses to run as root, so as root the cluster belongs to the `postgres` user the package
creates (its folder chowned to it) and its programs run through runuser. Authentication is trust
on 127.0.0.1, as the superuser `postgres`. Without `durable`, the server skips fsync (tests).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.backends import free_port


def pg_bin(program: str) -> str:
    """The path of a PostgreSQL server program (initdb, pg_ctl): the newest installed version's."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"), key=lambda p: int(p.split("/")[4]))
    path = found[-1] if found else shutil.which(program)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {program} is missing: install Debian's postgresql (scripts/setup)")
    return path


class PgCluster:
    """A running temporary cluster. new_database() makes an empty database and returns its URL."""

    def __init__(self, *, durable: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="wirexa-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")  # KeyError: the postgresql package is not installed
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self._names = itertools.count(1)
        try:
            self._start(durable)
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _start(self, durable: bool) -> None:
        self._run(pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-locale", "--no-sync")  # fmt: skip
        for attempt in range(3):  # the port was free when probed; another process may take it first
            options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=300"
            if not durable:
                options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            try:
                self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                          "-t", "60", "-o", options, "start")  # fmt: skip
                return
            except RuntimeError as exc:
                if attempt == 2 or "already in use" not in str(exc):
                    raise
                self.port = free_port()

    def _run(self, *argv: str) -> None:
        # cwd: the postgres user may not enter the directory the tests run from (a 0700 home).
        out = subprocess.run([*self._as, *argv], capture_output=True, text=True, check=False, cwd=self.root)
        if out.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{Path(argv[0]).name} failed ({out.returncode}): {out.stderr or out.stdout}\n{tail}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> list[tuple[object, ...]]:
        """Run one statement on its own autocommit connection (CREATE DATABASE needs that)."""
        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cur = conn.execute(statement.encode())
            return list(cur.fetchall()) if cur.description else []

    def new_database(self, template: str | None = None) -> str:
        """A new database (empty, or a copy of `template`, which must have no connections); its URL."""
        name = f"t{next(self._names)}"
        self.sql(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def pg_cluster(*, durable: bool = False) -> Iterator[PgCluster]:
    cluster = PgCluster(durable=durable)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(name="database_url", params=("sqlite", pytest.param("postgresql", marks=pytest.mark.slow)))
def database_url_on_both(request: pytest.FixtureRequest) -> str:
    """The `database_url` of the tests' Settings (tests/conftest.py), for a module whose tests run
    on both databases (it imports this fixture): "" (SQLite in the data dir), then a new migrated
    database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        return ""
    cluster: PgCluster = request.getfixturevalue("pg")
    return cluster.new_database(template=request.getfixturevalue("pg_template"))
