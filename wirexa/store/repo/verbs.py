"""The call_verbs table: the verbs each call's document ran, for the console's timeline."""

from __future__ import annotations

from collections.abc import Sequence

from wirexa.calls.records import VerbRun
from wirexa.store.models import CallVerb
from wirexa.store.sql import Select, Write

_VERBS = Select(CallVerb, VerbRun)
_WRITE = Write(CallVerb)


def insert_verbs(call_sid: str, verbs: Sequence[VerbRun]) -> None:
    """Store verbs of a call (inside a store write); the detail is cut to its column's 255."""
    for v in verbs:
        _WRITE.insert({"call_sid": call_sid, "seq": v.seq, "at": v.at, "verb": v.verb[:32], "detail": v.detail[:255]})


def verbs_of(call_sid: str) -> list[VerbRun]:
    return _VERBS.all('"call_sid" = ? ORDER BY "seq"', (call_sid,))  # type: ignore[no-any-return]
