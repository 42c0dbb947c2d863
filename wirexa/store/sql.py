"""The compiled-SQL layer under the repo modules: SELECTs and writes of one table as SQL text
built once, run through the model's database, rows handed back as the records' dataclasses.

Why. peewee's query compiler costs ~0.4 ms a query against ~20 us for SQLite's own lookup, and
several times the statement itself for the writes of a call's life (its insert, ~4 status
changes each with a sequence number and an outbox row, the outbox claims), which are most of
the store writer's work at 50 setups a second. So the hot reads and writes skip it; the cold
ones (listings for the CLI, deletes, the janitors) keep peewee's query builder.

Every text here is written with `?` placeholders, replaced by the database's own once when
compiled, and must be SQL that SQLite and PostgreSQL both run. Values go through each field's
db_value and come back through its python_value semantics, as peewee's own queries do.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import peewee as pw

from wirexa.clock import new_sid
from wirexa.store.db import is_sqlite

R = TypeVar("R")

# A Twilio date filter bound: (operator, value, date_only) with operator one of "=", "<", ">";
# dates are compared on UTC days for "=" with date_only, as instants otherwise.
TimeBound = tuple[str, dt.datetime, bool]


def record(cls: type[R], row: Any) -> R:
    """A peewee Model row as the record class `cls` (its fields read by name)."""
    values = {f.name: getattr(row, f.name) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**values)


def marks(count: int) -> str:
    """`?, ?, ...` for an IN list of `count` values."""
    return ", ".join("?" * count)


class Select:
    """A SELECT of one record class's columns, compiled once per WHERE text."""

    def __init__(
        self,
        model: Any,
        cls: Callable[..., Any] | None,
        names: Sequence[str] = (),
        *,
        alias: str = "",
        extra: Sequence[str] = (),
    ) -> None:
        """Rows become `cls(*columns)` for the record class's fields (or the `names` columns,
        converted to Python values), or with cls None raw tuples of the `names` columns.
        `alias` names the table in the WHERE texts (and prefixes its columns); `extra` are SQL
        expressions selected after the columns, handed to `cls` as the database returns them."""
        self.model = model
        self.cls = cls
        fields = [model._meta.fields[name] for name in (names or [f.name for f in dataclasses.fields(cls)])]  # type: ignore[arg-type]
        prefix = f"{alias}." if alias else ""
        columns = [f'{prefix}"{f.column_name}"' for f in fields] + list(extra)
        table = f'"{model._meta.table_name}"' + (f" AS {alias}" if alias else "")
        self.head = f"SELECT {', '.join(columns)} FROM {table} WHERE "
        self.convert = [(i, fn) for i, fn in enumerate(map(_python_value, fields)) if fn is not None] if cls else []
        # Compiled texts by (the database's placeholder, WHERE text): one process may open SQLite
        # and then PostgreSQL (the tests do), whose placeholders differ.
        self._sql: dict[tuple[str, str], str] = {}

    def sql(self, where: str) -> str:
        param = self.model._meta.database.param
        text = self._sql.get((param, where))
        if text is None:
            text = self._sql[(param, where)] = (self.head + where).replace("?", param)
        return text

    def all(self, where: str, params: Sequence[Any]) -> list[Any]:
        cursor = self.model._meta.database.execute_sql(self.sql(where), tuple(params))
        if self.cls is None:
            return list(cursor.fetchall())
        out = []
        for row in cursor.fetchall():
            if self.convert:
                row = list(row)
                for i, fn in self.convert:
                    if row[i] is not None:
                        row[i] = fn(row[i])
            out.append(self.cls(*row))
        return out

    def one(self, where: str, params: Sequence[Any]) -> Any:
        rows = self.all(where + " LIMIT 1", params)
        return rows[0] if rows else None

    def by_sid(self, sid: str, account_sid: str | None = None) -> Any:
        """The row `sid` (of the project `account_sid` when given), or None."""
        if account_sid is None:
            return self.one('"sid" = ?', (sid,))
        return self.one('"sid" = ? AND "account_sid" = ?', (sid, account_sid))


def _python_value(field: Any) -> Callable[[Any], Any] | None:
    """The conversion a raw column value needs (None: none); peewee's field semantics."""
    if isinstance(field, pw.DateTimeField):

        def to_datetime(value: Any) -> Any:
            if isinstance(value, str):
                try:
                    return dt.datetime.fromisoformat(value)
                except ValueError:
                    return field.adapt(value)  # type: ignore[no-untyped-call]
            return value

        return to_datetime
    if isinstance(field, pw.BooleanField):
        return bool
    return None


class Write:
    """INSERT and UPDATE of one table as SQL compiled once per column set, and statements
    written by hand compiled once each."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.fields = model._meta.fields
        self.auto_id = isinstance(model._meta.primary_key, pw.AutoField)
        self._sql: dict[Any, str] = {}

    def _compiled(self, key: Any, build: Callable[[], str]) -> str:
        param = self.model._meta.database.param
        text = self._sql.get((param, key))
        if text is None:
            text = self._sql[(param, key)] = build().replace("?", param)
        return text

    def _db_values(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        fields = self.fields
        return tuple(fields[name].db_value(value) for name, value in values.items())

    def insert(self, values: Mapping[str, Any]) -> int | None:
        """Insert one row; returns its id on a table with an auto-increment key (else None)."""
        db = self.model._meta.database
        sqlite = is_sqlite(getattr(db, "obj", db))  # models are bound through a proxy

        def build() -> str:
            columns = ", ".join(f'"{self.fields[name].column_name}"' for name in values)
            text = f'INSERT INTO "{self.model._meta.table_name}" ({columns}) VALUES ({marks(len(values))})'
            return text + (' RETURNING "id"' if self.auto_id and not sqlite else "")

        cursor = db.execute_sql(self._compiled(("insert", tuple(values)), build), self._db_values(values))
        if not self.auto_id:
            return None
        return int(cursor.lastrowid if sqlite else cursor.fetchone()[0])

    def update(self, values: Mapping[str, Any], where: str, params: Sequence[Any]) -> int:
        """UPDATE ... SET values WHERE where; returns the number of rows changed."""

        def build() -> str:
            sets = ", ".join(f'"{self.fields[name].column_name}" = ?' for name in values)
            return f'UPDATE "{self.model._meta.table_name}" SET {sets} WHERE {where}'

        sql = self._compiled(("update", tuple(values), where), build)
        cursor = self.model._meta.database.execute_sql(sql, self._db_values(values) + tuple(params))
        return int(cursor.rowcount)

    def execute(self, sql: str, params: Sequence[Any]) -> Any:
        """Run a statement written with `?` (compiled once); returns the cursor."""
        return self.model._meta.database.execute_sql(self._compiled(("sql", sql), lambda: sql), tuple(params))

    def defaults(self, values: dict[str, Any]) -> dict[str, Any]:
        """`values` with every other column at its model default (None where it has none), as
        Model.create fills them in: the record built from the dict is the row as inserted."""
        for name, field in self.fields.items():
            if name not in values and not (self.auto_id and field is self.model._meta.primary_key):
                default = field.default
                values[name] = default() if callable(default) else default
        return values


def check_fields(fields: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    """TypeError naming the keys of `fields` not in `allowed` (a repo caller's bug)."""
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"unknown {what} fields: {sorted(unknown)}")


def insert_owned(
    write: Write, cls: type[R], prefix: str, account_sid: str, fields: Mapping[str, Any], now: dt.datetime
) -> R:
    """Insert a new row of the project `account_sid`: a new SID starting `prefix`, `fields`,
    created and updated `now`, every other column at its model default; returns it as `cls`."""
    values = {"sid": new_sid(prefix), "account_sid": account_sid, **fields, "date_created": now, "date_updated": now}
    write.insert(write.defaults(values))
    return cls(**values)


def update_by_sid(write: Write, select: Select, sid: str, values: Mapping[str, Any]) -> Any:
    """Set `values` on the row `sid`; the row as `select` reads it, None when there is none."""
    if write.update(values, '"sid" = ?', (sid,)) == 0:
        return None
    return select.by_sid(sid)


def time_where(column: str, field: Any, bounds: Iterable[TimeBound], where: list[str], params: list[Any]) -> None:
    """Add Twilio's date filters on `column` to where/params: "=" a UTC day (date) or instant,
    "<" before, ">" on or after."""
    for op, when, date_only in bounds:
        if op == "=" and date_only:
            day = dt.datetime(when.year, when.month, when.day)
            where.append(f'"{column}" >= ? AND "{column}" < ?')
            params += [field.db_value(day), field.db_value(day + dt.timedelta(days=1))]
        else:
            where.append(f'"{column}" {">=" if op == ">" else op} ?')
            params.append(field.db_value(when))


def newest_first(
    select: Select, where: list[str], params: list[Any], page_size: int, page: int, after_sid: str | None
) -> tuple[list[Any], bool]:
    """Newest-first page by (date_created, sid) and whether another page follows; keyset after
    `after_sid` when that row exists, else the Page number's offset."""
    where, params = list(where), list(params)
    anchor = None
    if after_sid is not None:
        table = select.model._meta.table_name
        cursor = select.model._meta.database.execute_sql(
            f'SELECT "date_created", "sid" FROM "{table}" WHERE "sid" = ?'.replace(
                "?", select.model._meta.database.param
            ),
            (after_sid,),
        )
        anchor = cursor.fetchone()
    if anchor is not None:
        where.append('("date_created" < ? OR ("date_created" = ? AND "sid" < ?))')
        params += [anchor[0], anchor[0], anchor[1]]
        tail = ' ORDER BY "date_created" DESC, "sid" DESC LIMIT ?'
        params.append(page_size + 1)
    else:
        # No token, or its row is gone (deleted since): the Page number's offset.
        tail = ' ORDER BY "date_created" DESC, "sid" DESC LIMIT ? OFFSET ?'
        params += [page_size + 1, page * page_size]
    rows = select.all(" AND ".join(where) + tail, params)
    return rows[:page_size], len(rows) > page_size


def sids_with_prefix(model: Any, prefix: str, limit: int) -> list[str]:
    """SIDs of `model`'s rows starting with `prefix` (case-sensitive, no wildcards), at most
    `limit`, in SID order: the CLI's `show` commands take a unique prefix of a SID."""
    # SUBSTR, not LIKE: LIKE is case-blind in SQLite and treats % and _ as wildcards.
    rows = (
        model.select(model.sid)
        .where(pw.fn.SUBSTR(model.sid, 1, len(prefix)) == prefix)
        .order_by(model.sid)
        .limit(limit)
    )
    return [r.sid for r in rows]
