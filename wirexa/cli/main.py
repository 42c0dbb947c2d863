"""The `wirexa` command: registers every subcommand; main() is the console-script entry."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

import wirexa
from wirexa.cli import (
    calls,
    cluster,
    conferences,
    console_admin,
    db,
    keys,
    numbers,
    phones,
    projects,
    queues,
    recordings,
    sandbox,
    stt,
    tts,
)
from wirexa.cli.base import App
from wirexa.cli.call import call
from wirexa.cli.doctor import doctor
from wirexa.cli.init import init
from wirexa.cli.install_service import install_service
from wirexa.cli.serve import serve

app = App(
    name="wirexa",
    help="Wirexa: a self-hosted voice engine speaking Twilio's and SignalWire's API and XML.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"wirexa {wirexa.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_version, is_eager=True)
    ] = False,
) -> None:
    """Wirexa voice engine."""


app.command(help="Create the config file, database and a first project.")(init)
app.command(help="Run the engine (REST API, webhooks, SIP workers, sandbox carrier).")(serve)
app.command(
    help="Place a call through the running engine's REST API; with --wait (the default) exit 0 only if it completed."
)(call)
app.command(help="Check config, data dir, database, ports, SIP trunk, espeak-ng/ffmpeg, TTS credentials, disk, clock.")(
    doctor
)
app.command(
    "install-service", help="Write a systemd unit running `wirexa serve` (and /etc/wirexa/wirexa.toml if missing)."
)(install_service)
app.add_typer(projects.app, name="projects")
app.add_typer(calls.app, name="calls")
app.add_typer(recordings.app, name="recordings")
app.add_typer(numbers.app, name="numbers")
app.add_typer(phones.app, name="phones")
app.add_typer(queues.app, name="queues")
app.add_typer(conferences.app, name="conferences")
app.add_typer(keys.app, name="keys")
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(tts.app, name="tts")
app.add_typer(stt.app, name="stt")
app.add_typer(console_admin.app, name="console")
app.add_typer(db.app, name="db")
app.add_typer(cluster.app, name="cluster")


def _register_optional() -> None:
    """Commands owned by other packages (webhooks, sandbox, worker entry points)."""
    from wirexa.cli import tail_webhooks

    app.command("tail-webhooks", help="Show webhook deliveries from the outbox, live.")(tail_webhooks.tail_webhooks)


def main() -> None:
    # The hidden worker entry points must not pay for Typer: the pool starts them often.
    if len(sys.argv) > 1 and sys.argv[1] in ("_sip-worker", "_sandbox", "_dial-in"):
        from wirexa.sip import entry

        entry.run(sys.argv[1], sys.argv[2:])
    _register_optional()
    app()
