"""The engine_flags table: engine-wide switches, on with a value (who and why) or off (no row)."""

from __future__ import annotations

from wirexa.clock import utcnow
from wirexa.store.models import EngineFlag
from wirexa.store.sql import Select

CALLS_STOPPED = "calls_stopped"  # the emergency stop: no new call is accepted or placed

_FLAGS = Select(EngineFlag, None, ("value",))


def get_flag(name: str) -> str | None:
    """An engine-wide switch's value, None when it is off (no row)."""
    row = _FLAGS.one('"name" = ?', (name,))
    return str(row[0]) if row else None


def set_flag(name: str, value: str | None) -> None:
    """Turn a switch on with a value (who and why, for the operator) or off (None)."""
    if value is None:
        EngineFlag.delete().where(EngineFlag.name == name).execute()
        return
    EngineFlag.insert(name=name, value=value, date_updated=utcnow()).on_conflict(
        conflict_target=[EngineFlag.name], update={EngineFlag.value: value, EngineFlag.date_updated: utcnow()}
    ).execute()
