"""`wirexa phones add|list|remove`: desk phones' SIP credentials (a username and password each),
kept in the store: phones REGISTER to the engine's inbound port with them, and
`<Dial><Sip>sip:NAME@DOMAIN</Sip></Dial>` (or `<Dial><Client>NAME</Client>`) rings them."""

from __future__ import annotations

import re
import secrets
from typing import Annotated

import typer

from wirexa.cli import options
from wirexa.cli.base import App
from wirexa.cli.console import Column, console, fail, print_json, render_rows
from wirexa.cli.numbers import Project, bad, project_of
from wirexa.store.bootstrap import open_store
from wirexa.store.repo.phones import PhoneRecord, delete_phone, find_phone, insert_phone, list_phones

app = App(help="Desk phones (SIP registrations): their usernames and passwords.", no_args_is_help=True)

# A SIP URI's user part without escapes, and short enough for a phone's settings screen.
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,63}$")
RESERVED = frozenset({"wirexa-sandbox"})  # the sandbox caller's own credentials
MIN_PASSWORD = 8
MAX_PASSWORD = 128  # the column's size


def parse_username(text: str) -> str:
    name = text.strip()
    if not USERNAME.match(name):
        bad(
            f"{text!r} is not a phone name: 1-64 letters, digits, '.', '_', '~' or '-', starting with a letter or digit"
        )
    if name in RESERVED:
        bad(f"{name} is reserved for the sandbox caller")
    return name


def _uri(settings_domain: str, username: str) -> str:
    return f"sip:{username}@{settings_domain}"


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="The phone's SIP username, e.g. alice.")],
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            help=f"Its password ({MIN_PASSWORD} to {MAX_PASSWORD} characters); default: a random one, printed once.",
        ),
    ] = None,
    project: Project = None,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Add a desk phone: it can REGISTER with NAME and the password, and be dialled."""
    username = parse_username(name)
    if password is not None and (
        not MIN_PASSWORD <= len(password) <= MAX_PASSWORD or any(c.isspace() or not c.isprintable() for c in password)
    ):
        bad(f"--password must be {MIN_PASSWORD} to {MAX_PASSWORD} printable characters without spaces")
    secret = password if password is not None else secrets.token_urlsafe(12)
    settings = options.settings(data_dir, config_file)
    store = open_store(settings)
    account = project_of(store, project)
    phone = store.write_sync(insert_phone, account, username, secret)
    if phone is None:
        fail(f"a phone named {username} exists already")
    uri = _uri(settings.sip_domain, username)
    if json_out:
        print_json(
            {
                "sid": phone.sid,
                "username": username,
                "password": secret,
                "project": account,
                "domain": settings.sip_domain,
                "sip_uri": uri,
                "port": settings.sip_inbound_port,
            }
        )
        return
    out = console()
    out.print(f"Phone {username} added to project {account} ({phone.sid}).", markup=False)
    out.print(f"Username: {username}", markup=False)
    out.print(f"Password: {secret}" + ("" if password is not None else "  (generated: shown this once)"), markup=False)
    out.print(
        f"Domain:   {settings.sip_domain} (register to this engine, port {settings.sip_inbound_port})", markup=False
    )
    out.print(f"Dial it:  <Dial><Sip>{uri}</Sip></Dial>", markup=False)


@app.command("list")
def list_(
    project: options.ProjectFilter = None,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """List the desk phones (their passwords are not shown)."""
    settings = options.settings(data_dir, config_file)
    store = open_store(settings)
    account = options.project_sid(store, project) if project else None
    phones: list[PhoneRecord] = store.read_sync(list_phones, account)
    if json_out:
        for p in phones:
            print_json(
                {
                    "sid": p.sid,
                    "username": p.username,
                    "project": p.account_sid,
                    "sip_uri": _uri(settings.sip_domain, p.username),
                    "date_created": str(p.date_created),
                }
            )
        return
    columns = (
        Column("Name", keep=True),
        Column("SIP URI", keep=True, drop=1),
        Column("Project", keep=True, drop=2),
        Column("Created", keep=True, drop=3),
    )
    rows = [
        [p.username, _uri(settings.sip_domain, p.username), p.account_sid, str(p.date_created)[:19]] for p in phones
    ]
    render_rows(columns, rows)


@app.command()
def remove(
    name: Annotated[str, typer.Argument(help="The phone's SIP username.")],
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
) -> None:
    """Remove a desk phone: its credentials stop working at once (its registrations end when they expire)."""
    store = options.store(data_dir, config_file)
    if store.read_sync(find_phone, name) is None or not store.write_sync(delete_phone, name):
        fail(f"no phone named {name}")
    console().print(f"Removed phone {name}.", markup=False)
