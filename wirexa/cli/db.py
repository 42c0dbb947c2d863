"""`wirexa db ...`: migrate the configured database, copy a store into another database (a single
box's SQLite file to PostgreSQL)."""

from __future__ import annotations

from typing import Annotated

import typer

from wirexa.cli import options
from wirexa.cli.base import App
from wirexa.cli.console import Column, console, fail, print_json, render_rows
from wirexa.errors import WirexaError
from wirexa.store.bootstrap import open_store
from wirexa.store.copy import copy_database
from wirexa.store.db import redacted

app = App(help="The database: migrate it, copy it into another (SQLite to PostgreSQL).", no_args_is_help=True)


@app.command("migrate")
def migrate(
    data_dir: options.DataDir = None, config_file: options.ConfigFile = None, json_out: options.Json = False
) -> None:
    """Apply pending migrations to the configured database (database_url) and print its schema version."""
    s = options.settings(data_dir, config_file)
    try:
        store = open_store(s)
        version = store.version()
        store.close()
    except WirexaError as exc:
        fail(f"migrate failed: {exc}")
    if json_out:
        print_json({"database": redacted(s.db_url), "schema_version": version})
        return
    out = console()
    out.print(f"Database:        {redacted(s.db_url)}", highlight=False)
    out.print(f"Schema version:  {version}", highlight=False)


@app.command("copy")
def copy(
    src: Annotated[str, typer.Argument(help="Database to copy from: sqlite:///path or postgresql://...")],
    dst: Annotated[
        str, typer.Argument(help="Database to copy into (migrated first): postgresql://... or sqlite:///path")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Copy into a destination that holds rows: its rows are deleted first.")
    ] = False,
    json_out: options.Json = False,
) -> None:
    """Copy every table of a store into another database, ids kept, in one transaction; stop `wirexa serve` first."""
    try:
        copied = copy_database(src, dst, force=force)
    except WirexaError as exc:
        fail(f"copy failed: {exc}")
    if json_out:
        print_json({"schema_version": copied.schema_version, "tables": dict(copied.tables)})
        return
    render_rows(
        [Column("Table", keep=True), Column("Rows", keep=True)],
        [(table, str(n)) for table, n in copied.tables],
        title=f"Copied {redacted(src)} into {redacted(dst)} (schema version {copied.schema_version})",
    )
