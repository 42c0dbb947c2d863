"""`wirexa tail-webhooks`: the outbox as a live table (or JSON lines); reads the store only, so
it works while `serve` runs and when it does not."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from wirexa.cli import options
from wirexa.cli.console import console, fail, print_json
from wirexa.store import repo
from wirexa.store.bootstrap import open_store

STATUSES = ("pending", "in-flight", "delivered", "failed")


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


def row_json(w: repo.WebhookRecord) -> dict[str, Any]:
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
        "next_attempt_at": w.next_attempt_at.isoformat() + "Z" if w.status == "pending" else None,
        "delivered_at": w.delivered_at.isoformat() + "Z" if w.delivered_at else None,
        "params": dict(w.params),
    }


def render(rows: list[repo.WebhookRecord]) -> Table:
    table = Table("Time", "Call", "Event", "URL", "Attempt", "Result", "Status", "Next retry", expand=False)
    colors = {"delivered": "green", "failed": "red", "pending": "yellow", "in-flight": "cyan"}
    for w in rows[-200:]:
        result = str(w.last_status_code) if w.last_status_code is not None else (w.last_error or "")
        table.add_row(
            w.created_at.strftime("%H:%M:%S"),
            (w.call_sid or "-")[:12],
            w.event,
            w.url if len(w.url) <= 48 else w.url[:45] + "...",
            str(w.attempts),
            result,
            f"[{colors.get(w.status, 'white')}]{w.status}[/]",
            w.next_attempt_at.strftime("%H:%M:%S") if w.status == "pending" else "",
        )
    return table


def tail_webhooks(
    call: Annotated[str | None, typer.Option("--call", help="Only deliveries of this call SID.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only deliveries in this state: pending, delivered, failed (or in-flight).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only rows written since: 10m, 2h, 1d, or an ISO time (UTC).")] = None,
    json_out: options.Json = False,
    no_follow: Annotated[bool, typer.Option("--no-follow", help="Print what is there now and exit.")] = False,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
) -> None:
    """Show webhook deliveries from the outbox; follows new and changed rows until Ctrl-C."""
    if status is not None and status not in STATUSES:
        fail(f"--status must be one of {', '.join(STATUSES)}, got {status!r}")
    store = open_store(options.settings(data_dir, config_file))
    since_at = parse_since(since, repo.utcnow()) if since else None

    def load() -> list[repo.WebhookRecord]:
        return store.read_sync(lambda: repo.list_webhooks(call_sid=call, status=status, since=since_at, limit=100_000))

    rows = load()
    if json_out:
        seen: dict[int, tuple[str, int]] = {}
        while True:
            for w in rows:
                key = (w.status, w.attempts)
                if seen.get(w.id) != key:
                    seen[w.id] = key
                    print_json(row_json(w))
            if no_follow:
                return
            time.sleep(0.5)
            rows = load()
    if no_follow:
        console().print(render(rows))
        return
    try:
        with Live(render(rows), console=console(), refresh_per_second=4) as live:
            while True:
                time.sleep(0.5)
                live.update(render(load()))
    except KeyboardInterrupt:
        return
