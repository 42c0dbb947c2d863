"""`wirexa serve`: run the engine until SIGINT/SIGTERM; `--check` is the binary's smoke test."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import tempfile
from typing import Annotated, Any

import aiohttp
import typer

from wirexa.cli import options
from wirexa.cli.console import console, fail
from wirexa.config import Settings
from wirexa.errors import WirexaError
from wirexa.runtime import Engine, free_port_pair


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def run_until_signal(settings: Settings) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Engine(settings) as engine:
        console(stderr=True).print(listening(engine.urls), markup=False)
        await stop.wait()
        logging.getLogger(__name__).info("shutting down")


def listening(urls: list[str]) -> str:
    """The line telling where the API really listens (the bound sockets, not the setting)."""
    everywhere = any(u.startswith(("http://0.0.0.0:", "http://[::]:")) for u in urls)
    note = " (every network interface: put TLS in front)" if everywhere else ""
    return f"Wirexa listening on {', '.join(urls)}{note}  (Ctrl-C stops)"


def isolated(settings: Settings, data_dir: str) -> Any:
    """`settings` for a smoke test that cannot disturb a running engine: a throwaway data dir
    (database, logs, sandbox records), the API on a free loopback port, free SIP ports and one
    sandbox process. The config file is still read, so it is checked too."""
    bind = settings.sip_bind_host
    worker_port = free_port_pair(bind)
    return dataclasses.replace(
        settings,
        data_dir=data_dir,
        database_url="",
        recordings_dir="",
        host="127.0.0.1",
        port=0,
        sip_port_base=worker_port,
        sandbox_port_base=free_port_pair(bind, avoid=range(worker_port, worker_port + settings.sip_workers_max)),
        sandbox_processes=1,
    )


async def check(settings: Settings) -> bool:
    """Boot everything in isolation (see isolated()), request /health in process, shut down;
    True when healthy."""
    with tempfile.TemporaryDirectory(prefix="wirexa-check-", ignore_cleanup_errors=True) as data_dir:
        async with Engine(isolated(settings, data_dir)) as engine:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{engine.port}/health") as resp:
                    body = await resp.json()
                    console(stderr=True).print(f"/health -> {resp.status} {body}", markup=False)
                    return resp.status == 200 and body.get("status") == "ok"


def serve(
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    host: Annotated[str | None, typer.Option("--host", help="Address the API listens on.", envvar="WIREXA_HOST")] = None,
    port: Annotated[int | None, typer.Option("--port", help="API port.", envvar="WIREXA_PORT")] = None,
    check_only: Annotated[
        bool,
        typer.Option("--check", help="Boot in a throwaway data dir on free ports, request /health, shut down; exit 0 or 1."),
    ] = False,
) -> None:
    """Run the engine: REST API, webhooks, SIP workers and the sandbox carrier."""
    overrides: dict[str, Any] = {"host": host, "port": port}
    if check_only:
        overrides.update(host="127.0.0.1", port=0)
    s = options.settings(data_dir, config_file, **overrides)
    setup_logging(s.log_level)
    try:
        if check_only:
            ok = asyncio.run(check(s))
            raise typer.Exit(0 if ok else 1)
        asyncio.run(run_until_signal(s))
    except WirexaError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot start: {exc}")
