"""`wirexa keys create|list|remove PROJECT`: a project's API Keys (SK...), the credentials that
work wherever its Auth Token does (`Client(key_sid, secret, account_sid)`) and can be removed
one by one. The secret is printed once, by `create`; the store keeps only its hash."""

from __future__ import annotations

from typing import Annotated

import typer

from wirexa.cli import options
from wirexa.cli.base import App
from wirexa.cli.console import Column, console, fail, print_json, render_rows
from wirexa.store.repo.keys import (
    KeyRecord,
    delete_key,
    get_key,
    hash_secret,
    insert_key,
    key_sids_with_prefix,
    list_keys,
    new_secret,
)

app = App(help="API Keys of a project: create (the secret is shown once), list, remove.", no_args_is_help=True)

MAX_NAME = 64


def _json(key: KeyRecord) -> dict[str, object]:
    return {
        "sid": key.sid,
        "friendly_name": key.friendly_name,
        "project": key.account_sid,
        "date_created": str(key.date_created),
    }


@app.command()
def create(
    project: options.ProjectArg,
    name: Annotated[
        str | None, typer.Option("--name", help=f"A friendly name (at most {MAX_NAME} characters).")
    ] = None,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Create an API Key and print its SID and secret (the secret is never shown again)."""
    if name is not None and len(name) > MAX_NAME:
        fail(f"--name must be {MAX_NAME} characters or fewer")
    store = options.store(data_dir, config_file)
    account = options.project_sid(store, project)
    secret = new_secret()
    key = store.write_sync(insert_key, account, name or None, hash_secret(secret))
    if json_out:
        print_json({**_json(key), "secret": secret})
        return
    out = console()
    out.print(f"API Key {key.sid} created for project {account}.", markup=False)
    out.print(f"SID:     {key.sid}", markup=False)
    out.print(f"Secret:  {secret}  (shown this once: store it now)", markup=False)
    out.print(f"Use it:  Client({key.sid!r}, SECRET, {account!r})", markup=False)


@app.command("list")
def list_(
    project: options.ProjectArg,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """List a project's API Keys, newest first (their secrets are not kept)."""
    store = options.store(data_dir, config_file)
    account = options.project_sid(store, project)
    keys: list[KeyRecord] = []
    after: str | None = None
    while True:
        page, more = store.read_sync(list_keys, account, 1000, 0, after)
        keys += page
        if not more or not page:
            break
        after = page[-1].sid
    if json_out:
        for k in keys:
            print_json(_json(k))
        return
    columns = (
        Column("Key SID", keep=True),
        Column("Name", cut=True),
        Column("Created", keep=True, drop=1),
    )
    render_rows(columns, [[k.sid, k.friendly_name or "", str(k.date_created)[:19]] for k in keys])


@app.command()
def remove(
    project: options.ProjectArg,
    key: Annotated[str, typer.Argument(help="The key's SID (SK...), or a unique start of one.")],
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
) -> None:
    """Remove an API Key: requests with it are refused from the next one on."""
    store = options.store(data_dir, config_file)
    account = options.project_sid(store, project)
    sid = options.resolve_sid(store, key, "key", key_sids_with_prefix)
    if store.read_sync(get_key, sid, account) is None:
        fail(f"key {sid} is not a key of project {account}")
    if not store.write_sync(delete_key, sid):
        fail(f"no key {sid}")
    console().print(f"Removed API Key {sid} of project {account}.", markup=False)
