"""`wirexa numbers list|add|show|update|remove`: the phone numbers registered with a project
(IncomingPhoneNumbers), read and written in the store directly (works with serve down; a
running engine routes the next inbound call by what is stored)."""

from __future__ import annotations

import re
from typing import Annotated, Any, NoReturn

import typer

from wirexa.api.serializers import format_number, number_json
from wirexa.cli import options
from wirexa.cli.base import USAGE_EXIT, App
from wirexa.cli.console import Column, fail, print_json, render_pairs, render_rows
from wirexa.store.db import Store
from wirexa.store.repo.numbers import (
    NumberFilter,
    NumberRecord,
    delete_number,
    get_number,
    insert_number,
    list_numbers,
    number_by_phone,
    number_sids_with_prefix,
    update_number,
)
from wirexa.store.repo.projects import list_projects

app = App(
    help="Phone numbers that receive calls: register them with a project and set their voice URL.", no_args_is_help=True
)

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)  # as the REST API checks them
MAX_FRIENDLY_NAME = 64

NumberArg = Annotated[str, typer.Argument(help="The number (E.164, e.g. +14155550123) or its SID (PN...).")]
VoiceUrl = Annotated[
    str | None, typer.Option("--voice-url", help="URL of the TwiML an inbound call runs (required by add).")
]
VoiceMethod = Annotated[str | None, typer.Option("--voice-method", help="GET or POST (default POST).")]
FallbackUrl = Annotated[
    str | None, typer.Option("--fallback-url", help="URL fetched when the voice URL fails (needs a voice URL).")
]
StatusCallback = Annotated[str | None, typer.Option("--status-callback", help="URL told of the call's status.")]
FriendlyName = Annotated[
    str | None, typer.Option("--friendly-name", help="A name, 64 characters at most (default: the formatted number).")
]
Project = Annotated[
    str | None,
    typer.Option("--project", help="Project ID (or a unique start of one); default: the only project there is."),
]


def bad(message: str) -> NoReturn:
    """Bad input: one red line, exit 2."""
    fail(message, code=USAGE_EXIT)


def parse_number(text: str) -> str:
    number = text.strip()
    if not E164.match(number):
        bad(f"{text!r} is not a phone number in E.164 form (+ country code and number, e.g. +14155550123)")
    return number


def parse_url(text: str | None, option: str) -> str | None:
    """None when not given; '' (the option given empty) clears a setting."""
    if text is None or text == "":
        return text
    if not URL.match(text.strip()):
        bad(f"{option} must be an http:// or https:// URL, got {text!r}")
    return text.strip()


def parse_method(text: str | None, option: str) -> str | None:
    if text is None:
        return None
    method = text.strip().upper()
    if method not in ("GET", "POST"):
        bad(f"{option} must be GET or POST, got {text!r}")
    return method


def parse_friendly_name(text: str | None) -> str | None:
    if text is not None and len(text) > MAX_FRIENDLY_NAME:
        bad(f"--friendly-name must be {MAX_FRIENDLY_NAME} characters or fewer")
    return text


def project_of(store: Store, typed: str | None) -> str:
    """The project `--project` names, else the only one; one red line when there are several."""
    if typed:
        return options.project_sid(store, typed)
    projects = store.read_sync(list_projects)
    if len(projects) != 1:
        bad(
            f"there are {len(projects)} projects: say which with --project"
            if projects
            else "no project: run `wirexa init`"
        )
    return projects[0].sid


def find(store: Store, typed: str) -> NumberRecord:
    """The number `typed` names: an E.164 number, a SID or a unique start of one."""
    text = typed.strip()
    if text.startswith("+"):
        number = store.read_sync(number_by_phone, parse_number(text))
        if number is None:
            fail(f"no number {text} is registered")
        return number
    found = store.read_sync(get_number, options.resolve_sid(store, text, "number", number_sids_with_prefix))
    if found is None:  # removed in between
        fail(f"no number {typed}")
    return found


def _json(n: NumberRecord) -> dict[str, Any]:
    return number_json(n, f"/2010-04-01/Accounts/{n.account_sid}")


def _show(n: NumberRecord, json_out: bool) -> None:
    if json_out:
        print_json(_json(n))
        return
    rows = [
        ("Number", n.phone_number),
        ("SID", n.sid),
        ("Project", n.account_sid),
        ("Name", n.friendly_name),
        ("Voice URL", f"{n.voice_method} {n.voice_url}" if n.voice_url else ""),
        ("Fallback URL", f"{n.voice_fallback_method} {n.voice_fallback_url}" if n.voice_fallback_url else ""),
        ("Status callback", f"{n.status_callback_method} {n.status_callback}" if n.status_callback else ""),
        ("Application", n.voice_application_sid or ""),
        ("Created", str(n.date_created)[:19]),
    ]
    render_pairs(rows)


NUMBER_COLUMNS = (
    Column("Number", keep=True),
    Column("SID", keep=True, drop=2),
    Column("Name", cut=True, drop=3),
    Column("Voice URL", keep=True, drop=1, below=True),
    Column("Project", keep=True, drop=4),
)


@app.command("list")
def list_(
    project: options.ProjectFilter = None,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """List the registered numbers, newest first."""
    store = options.store(data_dir, config_file)
    account = options.project_sid(store, project) if project else None
    numbers, _ = store.read_sync(list_numbers, NumberFilter(account_sid=account), 100_000)
    if json_out:
        for n in numbers:
            print_json(_json(n))
        return
    rows = [
        [
            n.phone_number,
            n.sid,
            n.friendly_name,
            f"application {n.voice_application_sid}" if n.voice_application_sid else (n.voice_url or ""),
            n.account_sid,
        ]
        for n in numbers
    ]
    render_rows(NUMBER_COLUMNS, rows)


@app.command()
def add(
    number: Annotated[str, typer.Argument(help="The number in E.164 form, e.g. +14155550123.")],
    voice_url: VoiceUrl = None,
    voice_method: VoiceMethod = None,
    fallback_url: FallbackUrl = None,
    status_callback: StatusCallback = None,
    friendly_name: FriendlyName = None,
    project: Project = None,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Register a number with a project: calls to it run the TwiML at --voice-url."""
    phone = parse_number(number)
    if not voice_url:
        bad("--voice-url is required: the URL of the TwiML a call to this number runs")
    fields: dict[str, Any] = {
        "voice_url": parse_url(voice_url, "--voice-url"),
        "voice_method": parse_method(voice_method, "--voice-method") or "POST",
        "voice_fallback_url": parse_url(fallback_url, "--fallback-url") or None,
        "status_callback": parse_url(status_callback, "--status-callback") or None,
        "friendly_name": parse_friendly_name(friendly_name) or format_number(phone),
        "number_type": "toll-free"
        if phone[:5] in {"+1" + c for c in ("800", "833", "844", "855", "866", "877", "888")}
        else "local",
    }
    store = options.store(data_dir, config_file)
    account = project_of(store, project)
    created = store.write_sync(lambda: insert_number(account, phone, **fields))
    if created is None:
        owner = store.read_sync(number_by_phone, phone)
        fail(
            f"{phone} is registered already ({owner.sid if owner else 'just now'}, project {owner.account_sid if owner else '?'})"
        )
    _show(created, json_out)


@app.command()
def show(
    number: NumberArg,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Show one number and where its calls go."""
    _show(find(options.store(data_dir, config_file), number), json_out)


@app.command()
def update(
    number: NumberArg,
    voice_url: VoiceUrl = None,
    voice_method: VoiceMethod = None,
    fallback_url: Annotated[
        str | None, typer.Option("--fallback-url", help="URL fetched when the voice URL fails; '' removes it.")
    ] = None,
    status_callback: Annotated[
        str | None, typer.Option("--status-callback", help="URL told of the call's status; '' removes it.")
    ] = None,
    friendly_name: FriendlyName = None,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Change a number's voice URL, method, fallback URL, status callback or name."""
    if voice_url == "":
        bad("--voice-url cannot be empty: a number needs the URL of the TwiML its calls run")
    fields: dict[str, Any] = {}
    for column, value in (
        ("voice_url", parse_url(voice_url, "--voice-url")),
        ("voice_method", parse_method(voice_method, "--voice-method")),
        ("voice_fallback_url", parse_url(fallback_url, "--fallback-url")),
        ("status_callback", parse_url(status_callback, "--status-callback")),
        ("friendly_name", parse_friendly_name(friendly_name)),
    ):
        if value is not None:
            fields[column] = value or None
    store = options.store(data_dir, config_file)
    current = find(store, number)
    if fields.get("friendly_name", "") is None:
        fields["friendly_name"] = format_number(current.phone_number)
    voice = fields.get("voice_url", current.voice_url)
    if fields.get("voice_fallback_url", current.voice_fallback_url) and not voice:
        bad("--fallback-url needs a voice URL: give --voice-url too")
    updated = store.write_sync(lambda: update_number(current.sid, **fields)) if fields else current
    if updated is None:
        fail(f"no number {number}")
    _show(updated, json_out)


@app.command()
def remove(
    number: NumberArg,
    data_dir: options.DataDir = None,
    config_file: options.ConfigFile = None,
    json_out: options.Json = False,
) -> None:
    """Release a number: calls to it are refused (404) from now on."""
    store = options.store(data_dir, config_file)
    current = find(store, number)
    store.write_sync(delete_number, current.sid)
    if json_out:
        print_json({"removed": current.phone_number, "sid": current.sid})
    else:
        print(f"Removed {current.phone_number} ({current.sid}).")
