"""`wirexa serve`: run the engine until SIGINT/SIGTERM; `--check` is the binary's smoke test.

Signals, as systemd sends them (config/wirexa.service):
- SIGTERM / SIGINT: a graceful stop. No queued call starts any more (they stay queued for the
  next start), live calls go on for `shutdown_grace_s`, then the rest are hung up and finalized
  with their callbacks, and serve exits 0. A second SIGTERM / SIGINT skips what is left of the grace.
- SIGHUP (`systemctl reload`): the config file is read again and its TTS settings and sandbox
  callees are applied; live calls go on. Other changed settings are logged as needing a restart.

While it runs, serve keeps `<data_dir>/engine.json` (cli/engine_file.py) up to date, so that
`wirexa call` and `wirexa doctor` find it. Its banner (stderr) says where the API listens, how to
run this CLI when its folder is not on PATH (a checkout's .venv/bin after scripts/serve), and which
sandbox.toml the sandbox carrier's callees come from (or where to write one).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import shlex
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import aiohttp
import typer

from wirexa import config
from wirexa.cli import engine_file, options
from wirexa.cli.console import console, fail
from wirexa.config import Settings
from wirexa.errors import WirexaError
from wirexa.runtime import Engine, free_port_pair
from wirexa.sip.sandbox_config import sandbox_config_file


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


log = logging.getLogger(__name__)


async def run_until_signal(settings: Settings, reread: Callable[[], Settings] | None = None) -> None:
    """Serve until SIGTERM/SIGINT, then stop gracefully (see the module docstring). `reread`
    builds the Settings again from their sources; SIGHUP applies what it returns."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    hurry = asyncio.Event()
    reload_wanted = asyncio.Event()

    def on_stop() -> None:
        if stop.is_set():
            hurry.set()  # a second signal: do not wait out the grace period
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_stop)
    loop.add_signal_handler(signal.SIGHUP, reload_wanted.set)
    try:
        async with Engine(settings) as engine:
            _write_engine_file(settings, engine)
            try:
                sandbox = getattr(engine.sip, "sandbox", None)
                lines = banner(settings, engine.urls, sandbox.config_path if sandbox is not None else None)
                console(stderr=True).print("\n".join(lines), markup=False)
                while not stop.is_set():
                    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(reload_wanted.wait())]
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                    for w in waits:
                        w.cancel()
                    if reload_wanted.is_set() and not stop.is_set():
                        reload_wanted.clear()
                        await _reload(engine, reread)
                log.info(
                    "shutting down: no new calls; live calls have %.0f s to finish (a second Ctrl-C hangs them up now)",
                    settings.shutdown_grace_s,
                )
                await engine.drain(settings.shutdown_grace_s, hurry)
            finally:
                engine_file.remove(settings, os.getpid())
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


async def _reload(engine: Engine, reread: Callable[[], Settings] | None) -> None:
    if reread is None:
        return
    try:
        new = reread()
    except (WirexaError, typer.Exit) as exc:  # a bad file: keep running on the old settings
        log.error("reload: config not applied: %s", exc)
        return
    await engine.reload(new)


def _write_engine_file(settings: Settings, engine: Engine) -> None:
    from wirexa.cli.init import urls

    api_url = urls(dataclasses.replace(settings, port=engine.port or settings.port))[0]
    sip_ports: list[int] = []
    if engine.sip is not None and not settings.sip_trunk_host and settings.sandbox_enabled:
        from wirexa.sip.sandbox_carrier import sandbox_ports

        sip_ports = sandbox_ports(settings)
    try:
        engine_file.write(settings, engine_file.info_for(settings, api_url, engine.port or settings.port, sip_ports))
    except OSError as exc:  # `wirexa call` then falls back to the configured port
        log.warning("cannot write %s: %s", engine_file.path(settings), exc)


def listening(urls: list[str]) -> str:
    """The line telling where the API really listens (the bound sockets, not the setting)."""
    everywhere = any(u.startswith(("http://0.0.0.0:", "http://[::]:")) for u in urls)
    note = " (every network interface: put TLS in front)" if everywhere else ""
    return f"Wirexa listening on {', '.join(urls)}{note}  (Ctrl-C stops)"


def cli_hint(settings: Settings) -> str | None:
    """How to run this wirexa's CLI from another shell, when `wirexa` on PATH is not this one (a
    checkout's .venv/bin is not on PATH after scripts/serve); None when it is."""
    from wirexa.cli.install_service import exec_command

    command = exec_command()
    found = shutil.which("wirexa")
    if found is not None and len(command) == 1 and Path(found).resolve() == Path(command[0]).resolve():
        return None
    why = "not on PATH" if found is None else f"`wirexa` on PATH is another one, {found}"
    example = shlex.join([*command, "calls", "list", *engine_file.selection_args(settings)])
    return f"CLI: {shlex.join(command)} ({why}), e.g. {example}"


def sandbox_note(settings: Settings, config_path: str) -> str:
    """Where the sandbox carrier's callees come from: `config_path` (its sandbox.toml), or, for
    the built-in ones (""), where a sandbox.toml would be read."""
    if config_path:
        return f"Sandbox callees: {config_path}  (`wirexa sandbox callees` lists them; SIGHUP re-reads)"
    return f"Sandbox callees: the built-in ones (to change them, write {sandbox_config_file(settings)})"


def banner(settings: Settings, urls: list[str], sandbox_config: str | None) -> list[str]:
    """What serve prints once the engine is up: where it listens, how to run the CLI (when
    needed), and the sandbox's config file (`sandbox_config`: the carrier's; None without it)."""
    lines = [listening(urls)]
    hint = cli_hint(settings)
    if hint is not None:
        lines.append(hint)
    if sandbox_config is not None:
        lines.append(sandbox_note(settings, sandbox_config))
    return lines


def isolated(settings: Settings, data_dir: str) -> Settings:
    """`settings` for a smoke test that cannot disturb a running engine: a throwaway data dir
    (database, logs, sandbox records), the API on a free loopback port, free SIP ports and one
    sandbox process. The config file is still read, so it is checked too."""
    bind = settings.sip_bind_host
    worker_port = free_port_pair(bind)
    sandbox_port = free_port_pair(bind, avoid=range(worker_port, worker_port + settings.sip_workers_max))
    taken = [*range(worker_port, worker_port + settings.sip_workers_max), sandbox_port]
    inbound_port = free_port_pair(bind, avoid=taken) if settings.sip_inbound_port else 0
    return dataclasses.replace(
        settings,
        data_dir=data_dir,
        database_url="",
        recordings_dir="",
        host="127.0.0.1",
        port=0,
        sip_port_base=worker_port,
        sandbox_port_base=sandbox_port,
        sandbox_processes=1,
        sip_inbound_port=inbound_port,
        sip_inbound_tls_port=0,
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
    host: Annotated[
        str | None, typer.Option("--host", help="Address the API listens on.", envvar="WIREXA_HOST")
    ] = None,
    port: Annotated[int | None, typer.Option("--port", help="API port.", envvar="WIREXA_PORT")] = None,
    check_only: Annotated[
        bool,
        typer.Option(
            "--check", help="Boot in a throwaway data dir on free ports, request /health, shut down; exit 0 or 1."
        ),
    ] = False,
) -> None:
    """Run the engine: REST API, webhooks, SIP workers and the sandbox carrier."""
    overrides: dict[str, object] = {"host": host, "port": port}
    if check_only:
        overrides.update(host="127.0.0.1", port=0)
    s = options.settings(data_dir, config_file, **overrides)
    setup_logging(s.log_level)
    try:
        if check_only:
            ok = asyncio.run(check(s))
            raise typer.Exit(0 if ok else 1)
        asyncio.run(
            run_until_signal(s, lambda: config.load(config_file, overrides={"data_dir": data_dir, **overrides}))
        )
    except WirexaError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot start: {exc}")
