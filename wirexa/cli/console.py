"""Console factory (tests pin the width) and the one-red-line error convention."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape


def console(stderr: bool = False) -> Console:
    width = int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else None
    return Console(stderr=stderr, width=width, highlight=False, soft_wrap=False)


def fail(message: str) -> NoReturn:
    """Print one red line to stderr and exit 1."""
    # soft_wrap: one line however long the message (a path) and however narrow the terminal.
    # escape: the message is text ("unknown section [nope]"), not rich markup.
    console(stderr=True).print(f"[red]Error:[/red] {escape(message)}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()
