"""Options shared by several commands, and the Settings they build."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated

import typer

from wirexa import config
from wirexa.cli.console import fail
from wirexa.errors import WirexaError
from wirexa.store.bootstrap import open_store
from wirexa.store.db import Store
from wirexa.store.repo.calls import call_sids_with_prefix
from wirexa.store.repo.projects import project_sids_with_prefix

DataDir = Annotated[
    str | None,
    typer.Option(
        "--data-dir", help="Data directory (database, recordings, caches).", envvar="WIREXA_DATA_DIR", show_envvar=True
    ),
]
ConfigFile = Annotated[
    str | None,
    typer.Option("--config", help="Path of the TOML config file.", envvar="WIREXA_CONFIG", show_envvar=True),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ProjectArg = Annotated[str, typer.Argument(help="Project ID (AccountSid), or a unique start of one.")]
ProjectFilter = Annotated[
    str | None, typer.Option("--project", help="Project ID (or a unique start of one); default: every project.")
]


def settings(data_dir: str | None, config_file: str | None, **overrides: object) -> config.Settings:
    """Build Settings from the layered sources; a bad setting is one red line."""
    try:
        return config.load(config_file, overrides={"data_dir": data_dir, **overrides})
    except WirexaError as exc:
        fail(str(exc))


def store(data_dir: str | None, config_file: str | None) -> Store:
    """The store of the Settings these options build (opened, migrated)."""
    return open_store(settings(data_dir, config_file))


PREFIX_MATCHES = 6  # commands ask the store for this many SIDs starting with what was typed


def unique_prefix(prefix: str, sids: Sequence[str], noun: str) -> str:
    """The one SID of `sids` (those starting with `prefix`, at most PREFIX_MATCHES of them), else
    one red line: "no call ..." or "... matches 2 calls: ..."."""
    if not sids:
        fail(f"no {noun} {prefix}")
    if len(sids) > 1:
        count = f"more than {PREFIX_MATCHES - 1}" if len(sids) >= PREFIX_MATCHES else str(len(sids))
        listed = "" if len(sids) >= PREFIX_MATCHES else ": " + ", ".join(sids)
        fail(f"{prefix} matches {count} {noun}s{listed}; give more of the SID")
    return sids[0]


def resolve_sid(
    store: Store,
    typed: str,
    noun: str,
    with_prefix: Callable[[str, int], list[str]],
    kept: Callable[[str], bool] | None = None,
) -> str:
    """The SID that `typed` names: itself when it is one, else the one SID starting with it
    (`with_prefix` is a repo lookup such as call_sids_with_prefix); else one red line. Every
    option and argument that takes a SID goes through here, so all take a unique start of one.
    `kept(typed)` says whether rows outliving a deleted record (a call's webhooks or recordings)
    still carry `typed`: a whole SID of those is taken as it is."""
    sids = store.read_sync(with_prefix, typed, PREFIX_MATCHES)
    if typed in sids or (not sids and kept is not None and kept(typed)):
        return typed
    return unique_prefix(typed, sids, noun)


def call_sid(store: Store, typed: str, kept: Callable[[str], bool] | None = None) -> str:
    """The call SID `typed` (a SID or a unique start of one) names; one red line otherwise."""
    return resolve_sid(store, typed, "call", call_sids_with_prefix, kept)


def project_sid(store: Store, typed: str) -> str:
    """The project SID `typed` (a SID or a unique start of one) names; one red line otherwise."""
    return resolve_sid(store, typed, "project", project_sids_with_prefix)
