"""Options shared by several commands, and the Settings they build."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from wirexa import config
from wirexa.cli.console import fail
from wirexa.errors import WirexaError

DataDir = Annotated[
    str | None,
    typer.Option("--data-dir", help="Data directory (database, recordings, caches).", envvar="WIREXA_DATA_DIR", show_envvar=True),
]
ConfigFile = Annotated[
    str | None,
    typer.Option("--config", help="Path of the TOML config file.", envvar="WIREXA_CONFIG", show_envvar=True),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def settings(data_dir: str | None, config_file: str | None, **overrides: Any) -> Any:
    """Build Settings from the layered sources; a bad setting is one red line."""
    try:
        return config.load(config_file, overrides={"data_dir": data_dir, **overrides})
    except WirexaError as exc:
        fail(str(exc))
