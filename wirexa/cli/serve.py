"""`wirexa serve`: run the engine until SIGINT/SIGTERM; `--check` is the binary's smoke test."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated, Any

import aiohttp
import typer

from wirexa.cli import options
from wirexa.cli.console import console, fail
from wirexa.errors import WirexaError
from wirexa.runtime import Engine


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def run_until_signal(settings: Any) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Engine(settings) as engine:
        console(stderr=True).print(f"Wirexa serving on http://{settings.host}:{engine.port}  (Ctrl-C stops)")
        await stop.wait()
        logging.getLogger(__name__).info("shutting down")


async def check(settings: Any) -> bool:
    """Boot everything, request /health in process, shut down; True when healthy."""
    async with Engine(settings) as engine:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{engine.port}/health") as resp:
                body = await resp.json()
                console(stderr=True).print(f"/health -> {resp.status} {body}")
                return resp.status == 200 and body.get("status") == "ok"


def serve(
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    host: Annotated[str | None, typer.Option("--host", help="Address the API listens on.", envvar="WIREXA_HOST")] = None,
    port: Annotated[int | None, typer.Option("--port", help="API port.", envvar="WIREXA_PORT")] = None,
    check_only: Annotated[bool, typer.Option("--check", help="Boot, request /health in process, shut down; exit 0 or 1.")] = False,
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
