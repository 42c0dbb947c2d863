"""`wirexa cluster status|kamailio-config`: the engines sharing the configured database (the nodes
table, read directly: works with every engine down) and the Kamailio that spreads the carrier's
calls over them (wirexa/cluster/kamailio.py says how)."""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from wirexa.cli import options
from wirexa.cli.base import App
from wirexa.cli.console import Column, console, fail, print_json, render_rows
from wirexa.cluster import kamailio
from wirexa.config import Settings
from wirexa.errors import WirexaError
from wirexa.store.bootstrap import open_store
from wirexa.store.repo import nodes

app = App(
    help="Several engines on one database: the nodes, and the Kamailio config that spreads inbound calls over them.",
    no_args_is_help=True,
)

STATE_COLORS = {"open": "green", "draining": "yellow", "stopped": "dim", "dead": "red"}
# An engine bound to every address advertises that (sip:0.0.0.0:5060): no one reaches it there.
UNSPECIFIED = re.compile(r"^sips?:(?:[^@]*@)?(?:0\.0\.0\.0|\[::\])(?::\d+)?(?:;|$)")


def _read_nodes(s: Settings) -> tuple[list[nodes.NodeRecord], dt.datetime]:
    """The nodes, and now by the database's clock (the heartbeats' clock)."""
    try:
        store = open_store(s)
        try:
            rows = store.read_sync(nodes.list_nodes)
            now = store.read_sync(nodes.db_now)
        finally:
            store.close()
    except WirexaError as exc:
        fail(" ".join(str(exc).split()))  # one line: a driver's message spans several
    return rows, now


def _age(node: nodes.NodeRecord, now: dt.datetime) -> float:
    return max(0.0, (now - node.heartbeat_at).total_seconds())


@app.command("status")
def status(
    data_dir: options.DataDir = None, config_file: options.ConfigFile = None, json_out: options.Json = False
) -> None:
    """The engines on the database: state, generation, heartbeat age (by the database's clock), live calls, capacity, addresses."""
    rows, now = _read_nodes(options.settings(data_dir, config_file))
    if json_out:
        print_json(
            [
                {
                    "node_id": n.node_id,
                    "generation": n.generation,
                    "state": n.state,
                    "heartbeat_age_s": round(_age(n, now), 1),
                    "live_calls": n.live_calls,
                    "capacity": n.capacity,
                    "http_url": n.http_url,
                    "sip_uri": n.sip_uri,
                    "started_at": n.started_at.isoformat(),
                    "taken_by": n.taken_by,
                }
                for n in rows
            ]
        )
        return
    if not rows:
        fail("no engine has run on this database yet (the nodes table is empty): start `wirexa serve`")
    render_rows(
        [
            Column("Node", keep=True),
            Column("Gen", keep=True),
            Column("State", keep=True, colors=STATE_COLORS),
            Column("Heartbeat (s)", keep=True),
            Column("Calls", keep=True),
            Column("Capacity", keep=True, drop=2),
            Column("API", keep=True, drop=3),
            Column("SIP", keep=True, drop=1),
        ],
        [
            (
                n.node_id,
                str(n.generation),
                n.state + (f" (by {n.taken_by})" if n.state == nodes.DEAD and n.taken_by else ""),
                f"{_age(n, now):.1f}",
                str(n.live_calls),
                str(n.capacity),
                n.http_url or "",
                n.sip_uri or "",
            )
            for n in rows
        ],
    )


@app.command("kamailio-config")
def kamailio_config(
    out: Annotated[
        str, typer.Option("--out", help="Directory the two files (kamailio.cfg, dispatcher.list) are written to.")
    ] = ".",
    listen: Annotated[
        list[str] | None,
        typer.Option(
            "--listen",
            help="Socket Kamailio listens on, proto:address:port (repeatable; the carrier and the engines reach it"
            " there) [default: udp:127.0.0.1:5060].",
        ),
    ] = None,
    ctl: Annotated[
        str, typer.Option("--ctl", help="Path of Kamailio's control socket (kamcmd -s unix:PATH).")
    ] = kamailio.DEFAULT_CTL,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
) -> None:
    """Write Kamailio's config and its dispatcher list (the open engines with an inbound SIP port, weighted by free capacity)."""
    s = options.settings(data_dir, config_file)
    rows, now = _read_nodes(s)
    fresh = [n for n in rows if n.state == nodes.OPEN and _age(n, now) < s.cluster_node_timeout_s]
    engines = [kamailio.Engine(n.node_id, n.sip_uri, n.capacity, n.live_calls) for n in fresh if n.sip_uri]
    if not engines:
        why = "no engine is open" if not fresh else "no open engine takes inbound SIP ([sip] inbound_port 0)"
        fail(f"{why} on this database: nothing to dispatch to (see `wirexa cluster status`)")
    for engine in engines:
        if UNSPECIFIED.match(engine.sip_uri):
            fail(
                f"engine {engine.node_id} advertises {engine.sip_uri}, which Kamailio cannot reach: set its"
                " [cluster] sip_uri (or [sip] public_address)"
            )
    directory = Path(out).expanduser().absolute()
    list_file = directory / "dispatcher.list"
    try:
        cfg = kamailio.kamailio_cfg(listen or kamailio.DEFAULT_LISTEN, str(list_file), ctl)
    except ValueError as exc:
        fail(str(exc), code=2)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _write(list_file, kamailio.dispatcher_list(engines))
        _write(directory / "kamailio.cfg", cfg)
    except OSError as exc:
        fail(f"cannot write to {directory}: {exc.strerror or exc}")
    out_console = console()
    out_console.print(f"Wrote {directory / 'kamailio.cfg'} and {list_file}; {len(engines)} engine(s):", highlight=False)
    for engine, weight in zip(engines, kamailio.rweights(engines), strict=True):
        out_console.print(f"  {engine.node_id}  {engine.sip_uri}  rweight {weight}", highlight=False)
    out_console.print(
        f"Start:  kamailio -f {directory / 'kamailio.cfg'} -DD -E   (or Debian's service, with that file as"
        " /etc/kamailio/kamailio.cfg)\n"
        f"Reload the list after engines join or leave:  kamcmd -s unix:{ctl} dispatcher.reload\n"
        "Each engine: [sip] inbound_allowed = Kamailio's address, [sip] outbound_proxy = sip:<Kamailio>:<port>.",
        highlight=False,
        soft_wrap=True,
    )


def _write(path: Path, text: str) -> None:
    """Replace `path` whole: Kamailio reloading meanwhile reads the old file or the new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
