"""`wirexa console set-password`: the web console's admin password (it logs in to every
project's pages). Only its scrypt hash is kept, in <data_dir>/console/admin.password (mode 0600);
a running engine uses the new one at the next login."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from wirexa.cli import options
from wirexa.cli.base import App
from wirexa.cli.console import console, fail
from wirexa.console.auth import MIN_PASSWORD, write_password

app = App(help="The web console served at /console/: its admin password.", no_args_is_help=True)


@app.command("set-password")
def set_password(
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin (for scripts).")
    ] = False,
) -> None:
    """Set (or replace) the admin password of the web console; asks for it twice."""
    s = options.settings(data_dir, config_file)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New admin password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD:
        fail(f"the password must be {MIN_PASSWORD} characters or more")
    try:
        path = write_password(s.data_path, password)
    except OSError as exc:
        fail(f"cannot write the password file: {exc}")
    console().print(
        f"Admin password set (scrypt hash in {path}). Log in at {s.base_url}/console/ as admin.",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
