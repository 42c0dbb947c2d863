"""`wirexa init`: config file, a commented sandbox.toml beside it, database and a first project;
safe to run again (an existing file is never overwritten)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated

import typer

from wirexa import config
from wirexa.cli import options
from wirexa.cli.console import console, fail, print_json
from wirexa.config import Settings
from wirexa.errors import WirexaError
from wirexa.sip.sandbox_config import commented_toml
from wirexa.store.bootstrap import ensure_project, open_store
from wirexa.store.db import redacted


def urls(settings: Settings) -> tuple[str, str]:
    """(api_url, space_url) a client on this machine uses to reach the engine."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    api_url = settings.public_url.rstrip("/") if settings.public_url else f"http://{host}:{settings.port}"
    space = api_url.split("://", 1)[1]
    return api_url, space


def init(
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
    port: Annotated[int | None, typer.Option("--port", help="API port written to a new config file.")] = None,
) -> None:
    """Create the config file, a commented sandbox.toml, the database and a first project; print its credentials."""
    if config_file and not Path(config_file).exists():
        # The file init is asked to create: its settings are those without it.
        env = {k: v for k, v in os.environ.items() if k != "WIREXA_CONFIG"}
        try:
            s = config.load(None, env=env, overrides={"data_dir": data_dir, "port": port})
        except WirexaError as exc:
            fail(str(exc))
    else:
        s = options.settings(data_dir, config_file, port=port)
    try:
        s.data_path.mkdir(parents=True, exist_ok=True)
        cfg = Path(config_file) if config_file else config.default_config_path(s.data_dir)
        if not cfg.exists():
            text = config.example_toml().replace(
                f'data_dir = "{config.SETTINGS[0].default}"', f'data_dir = "{s.data_path}"'
            )
            if port is not None:
                text = text.replace("port = 5000", f"port = {port}")
            cfg.write_text(text, encoding="utf-8")
        # The sandbox's callees, all commented out (the built-in ones), where the engine reads
        # them: beside the config file, unless [sandbox] config names a file of its own.
        # A folder init may not write to (an existing /etc/wirexa) only goes without the file.
        sandbox_toml = cfg.parent / "sandbox.toml"
        if not s.sandbox_config and not sandbox_toml.exists():
            with contextlib.suppress(OSError):
                sandbox_toml.write_text(commented_toml(), encoding="utf-8")
        store = open_store(s)
        project = ensure_project(store)
        store.close()
    except (OSError, WirexaError) as exc:
        fail(f"init failed: {exc}")
    api_url, space_url = urls(s)
    if json_out:
        print_json(
            {"project_id": project.sid, "auth_token": project.auth_token, "api_url": api_url, "space_url": space_url}
        )
        return
    out = console()
    out.print(f"Config:      {cfg}")
    out.print(f"Sandbox:     {s.sandbox_config or cfg.parent / 'sandbox.toml'}  (the sandbox carrier's callees)")
    out.print(f"Database:    {redacted(s.db_url)}")
    out.print(f"Project ID:  [bold]{project.sid}[/bold]")
    out.print(f"Auth Token:  [bold]{project.auth_token}[/bold]")
    out.print(f"API URL:     {api_url}")
    out.print(f"Space URL:   {space_url}")
