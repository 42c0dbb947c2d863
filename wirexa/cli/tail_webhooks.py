"""`wirexa tail-webhooks`: the outbox as a live table (or JSON lines); reads the store only, so
it works while `serve` runs and when it does not."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Annotated, Any

import typer
from rich.live import Live

from wirexa.calls.statuses import WebhookStatus
from wirexa.cli import options
from wirexa.cli.console import (
    Column,
    Listing,
    console,
    fail,
    plain_lines,
    print_json,
    render_rows,
)
from wirexa.clock import utcnow
from wirexa.store.repo import WebhookRecord
from wirexa.store.repo.webhooks import list_webhooks

STATUSES = tuple(str(s) for s in WebhookStatus)


def parse_since(text: str, now: dt.datetime) -> dt.datetime:
    """'10m', '2h', '1d', '30s' ago, or an ISO date/time (UTC)."""
    m = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if m:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return now - dt.timedelta(**{unit: int(m.group(1))})
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"--since must be like 10m, 2h, 1d or an ISO time, got {text!r}")
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when


def row_json(w: WebhookRecord) -> dict[str, Any]:
    return {
        "id": w.id,
        "time": w.created_at.isoformat() + "Z",
        "call_sid": w.call_sid,
        "kind": w.kind,
        "event": w.event,
        "url": w.url,
        "method": w.method,
        "status": w.status,
        "attempts": w.attempts,
        "http_status": w.last_status_code,
        "error": w.last_error,
        "next_attempt_at": w.next_attempt_at.isoformat() + "Z"
        if w.status == WebhookStatus.PENDING and w.held_back_by is None
        else None,
        "held_back_by": w.held_back_by,  # id of the earlier row of the call this one waits for
        "delivered_at": w.delivered_at.isoformat() + "Z" if w.delivered_at else None,
        "params": dict(w.params),
    }


def columns(with_call: bool = True, url_below: bool = False) -> list[Column]:
    """The listing's columns (`calls show` leaves out the call, and puts a URL too long for the
    line under it). On a terminal: one line per delivery, with the call, event and status, and
    the other columns that fit, the URL first (an 80-column one has no room for a long URL)."""
    colors = {
        WebhookStatus.DELIVERED: "green",
        WebhookStatus.FAILED: "red",
        WebhookStatus.PENDING: "yellow",
        "waiting": "yellow",  # pending, held back behind an earlier row (cells)
        WebhookStatus.IN_FLIGHT: "cyan",
    }
    out = [
        Column("Time", keep=True, drop=2),
        Column("Call", keep=True),
        Column("Event", keep=True),
        Column("URL", keep=True, drop=1, below=url_below),
        Column("Attempt", keep=True, drop=5),
        Column("Result", cut=True, drop=3),
        Column("Status", keep=True, colors=colors),
        Column("Next retry", keep=True, drop=4),
    ]
    return out if with_call else [c for c in out if c.header != "Call"]


def cells(w: WebhookRecord, with_call: bool = True) -> list[str]:
    result = str(w.last_status_code) if w.last_status_code is not None else (w.last_error or "")
    row = [
        w.created_at.strftime("%H:%M:%S"),
        w.call_sid or "-",
        w.event,
        w.url,
        str(w.attempts),
        result,
        # A row held back behind an earlier one of its call is sent after that one, not at
        # its own (possibly long past) due time.
        "waiting" if w.held_back_by else w.status,
        f"after #{w.held_back_by}"
        if w.held_back_by
        else (w.next_attempt_at.strftime("%H:%M:%S") if w.status == WebhookStatus.PENDING else ""),
    ]
    return row if with_call else row[:1] + row[2:]


def render(rows: list[WebhookRecord]) -> Listing:
    return Listing(columns(), [cells(w) for w in rows[-200:]])


def tail_webhooks(
    call: Annotated[
        str | None, typer.Option("--call", help="Only deliveries of this call (its SID or a unique start of one).")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only deliveries in this state: pending, delivered, failed (or in-flight)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only rows written since: 10m, 2h, 1d, or an ISO time (UTC).")
    ] = None,
    json_out: options.Json = False,
    no_follow: Annotated[bool, typer.Option("--no-follow", help="Print what is there now and exit.")] = False,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
) -> None:
    """Show webhook deliveries from the outbox; follows new and changed rows until Ctrl-C."""
    if status is not None and status not in STATUSES:
        fail(f"--status must be one of {', '.join(STATUSES)}, got {status!r}")
    store = options.store(data_dir, config_file)
    since_at = parse_since(since, utcnow()) if since else None
    if call is not None:
        # The outbox outlives a call deleted through the API: its whole SID still selects its rows.
        call = options.call_sid(
            store, call, lambda sid: bool(store.read_sync(lambda: list_webhooks(call_sid=sid, limit=1)))
        )

    def load() -> list[WebhookRecord]:
        return store.read_sync(lambda: list_webhooks(call_sid=call, status=status, since=since_at, limit=100_000))

    rows = load()
    out = console()
    if no_follow and not json_out:
        render_rows(columns(), [cells(w) for w in rows[-200:]], out=out)
        return
    if json_out or not out.is_terminal:
        # JSON lines, or plain lines into a pipe (a header, then tab-separated rows): one line
        # each time a row is new or has changed.
        if not json_out:
            render_rows(columns(), [], out=out)
        seen: dict[int, tuple[str, int, int | None]] = {}
        try:
            while True:
                for w in rows:
                    key = (w.status, w.attempts, w.held_back_by)
                    if seen.get(w.id) != key:
                        seen[w.id] = key
                        if json_out:
                            print_json(row_json(w))
                        else:
                            out.file.write(plain_lines(columns(), [cells(w)])[1] + "\n")
                            out.file.flush()
                if no_follow:
                    return
                time.sleep(0.5)
                rows = load()
        except KeyboardInterrupt:
            return
    try:
        with Live(render(rows), console=out, refresh_per_second=4) as live:
            while True:
                time.sleep(0.5)
                live.update(render(load()))
    except KeyboardInterrupt:
        return
