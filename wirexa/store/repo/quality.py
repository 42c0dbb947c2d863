"""The call_quality table: a call's media quality samples (media/quality.py), bounded per call,
and its summary columns on the calls table."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from wirexa.calls.records import CallRecord
from wirexa.media.quality import Direction, Sample, Summary
from wirexa.store.models import CallQuality
from wirexa.store.repo.calls import update_call
from wirexa.store.sql import Select, Write

_NAMES = (
    "seq",
    "offset_s",
    "rtt_ms",
    "in_packets",
    "in_loss_pct",
    "in_jitter_ms",
    "in_mos",
    "out_packets",
    "out_loss_pct",
    "out_jitter_ms",
    "out_mos",
    "final",
)
_SAMPLES = Select(CallQuality, None, _NAMES)
_WRITE = Write(CallQuality)


def save_sample(
    call_sid: str, sample: Sample | None, thin: int | None, summary: Summary, at: dt.datetime
) -> CallRecord | None:
    """One sampling of a call (inside a store write): thin its kept samples to the multiples of
    `thin` first (quality.Decimator), insert `sample` (None: not kept), set the call's summary."""
    if thin is not None:
        # seq is not a multiple of thin (integer division in SQLite and PostgreSQL alike; no % operator,
        # which psycopg's paramstyle would take for a placeholder)
        _WRITE.execute(
            'DELETE FROM "call_quality" WHERE "call_sid" = ? AND ("seq" / ?) * ? != "seq"', (call_sid, thin, thin)
        )
    if sample is not None:
        _WRITE.insert(
            {
                "call_sid": call_sid,
                "seq": sample.seq,
                "offset_s": sample.offset_s,
                "rtt_ms": sample.rtt_ms,
                "in_packets": sample.inbound.packets,
                "in_loss_pct": sample.inbound.loss_pct,
                "in_jitter_ms": sample.inbound.jitter_ms,
                "in_mos": sample.inbound.mos,
                "out_packets": sample.outbound.packets,
                "out_loss_pct": sample.outbound.loss_pct,
                "out_jitter_ms": sample.outbound.jitter_ms,
                "out_mos": sample.outbound.mos,
                "final": sample.final,
                "date_created": at,
            }
        )
    return update_call(
        call_sid, quality=json.dumps(summary.to_dict(), separators=(",", ":")), quality_flags=" ".join(summary.flags())
    )


def _sample(row: Sequence[Any]) -> Sample:
    v = dict(zip(_NAMES, row, strict=True))
    return Sample(
        seq=int(v["seq"]),
        offset_s=float(v["offset_s"]),
        rtt_ms=v["rtt_ms"],
        inbound=Direction(int(v["in_packets"]), v["in_loss_pct"], v["in_jitter_ms"], v["in_mos"]),
        outbound=Direction(int(v["out_packets"]), v["out_loss_pct"], v["out_jitter_ms"], v["out_mos"]),
        final=bool(v["final"]),
    )


def samples_of(call_sid: str) -> list[Sample]:
    """A call's kept samples, in order."""
    return [_sample(r) for r in _SAMPLES.all('"call_sid" = ? ORDER BY "seq"', (call_sid,))]


def summary_of(call: CallRecord) -> Summary | None:
    """The call's quality summary (None: never sampled, or a column this version cannot read)."""
    if not call.quality:
        return None
    try:
        return Summary.from_dict(json.loads(call.quality))
    except (ValueError, KeyError, TypeError):
        return None


def delete_samples(call_sid: str) -> None:
    _WRITE.execute('DELETE FROM "call_quality" WHERE "call_sid" = ?', (call_sid,))
