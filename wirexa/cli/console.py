"""Console factory (tests pin the width), the one-red-line error convention, and `render_rows`:
the one place that decides how a listing looks (a table on a terminal, plain lines in a pipe)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markup import escape
from rich.table import Table
from rich.text import Text

# What must never reach a terminal raw from a stored value (a To, From, URL or error text that a
# caller or a receiver chose): C0 controls but tab and newline (ESC starts colour, cursor, title
# and clipboard sequences; CR and BS overwrite what was printed), DEL, the C1 controls (a CSI on
# its own) and the bidi overrides and isolates (they reorder what is shown, "Trojan Source").
_HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with every control character and bidi override shown as an escape (ESC as \\x1b):
    what a listing prints is what is stored, and nothing stored can drive the terminal."""
    return _HIDDEN.sub(_shown, text)


def console(stderr: bool = False) -> Console:
    """A Console on stdout (or stderr) as wide as COLUMNS says. When the stream is not a terminal
    (a pipe, a file, CliRunner) nothing is wrapped at the width: a long path or URL stays one line."""
    width = int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else None
    out = Console(stderr=stderr, width=width, highlight=False, soft_wrap=False)
    if not out.is_terminal:
        out.soft_wrap = True
    return out


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one red line to stderr and exit `code` (1; 2 for usage errors, see base.py)."""
    # soft_wrap: one line however long the message (a path) and however narrow the terminal.
    # escape: the message is text ("unknown section [nope]"), not rich markup.
    console(stderr=True).print(
        f"[red]Error:[/red] {escape(visible(message))}", markup=True, highlight=False, soft_wrap=True
    )
    raise typer.Exit(code)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


@dataclasses.dataclass(frozen=True, slots=True)
class Column:
    """One column of a listing. `keep` marks short values people copy (SIDs, numbers, statuses):
    on a terminal they are shown whole on one line. The other columns wrap around them, and a
    long word there (a URL) folds onto the next line: never cut. `colors` maps a cell's text to
    a rich style, on a terminal only."""

    header: str
    keep: bool = False
    colors: Mapping[str, str] | None = None


WRAP_MIN = 10  # a wrapping column gets at least this width or a third of its text, if it is longer


class Listing:
    """A listing as a terminal shows it, laid out at render time for the width there is (so rich's
    Live redraws it right after a resize). rich alone would shrink every column evenly and crop
    or ellipsize a SID; here the `keep` columns get their full width and the others wrap (folding
    a long word) in what is left. When even that does not fit, each row is printed as a block of
    `header  value` lines instead, as psql's expanded display does. Nothing is ever cut.
    Cells are plain text, never markup: a project named "[bold]" prints as typed; a control
    character in a cell prints escaped (see `visible`)."""

    def __init__(self, columns: Sequence[Column], rows: Sequence[Sequence[str]], title: str | None = None) -> None:
        self.columns = list(columns)
        self.rows = [[visible(cell) for cell in r] for r in rows]
        self.title = title
        if any(len(r) != len(self.columns) for r in self.rows):
            raise ValueError("every row needs one cell per column")

    def _text(self, column: Column, cell: str) -> Text:
        return Text(cell, style=(column.colors or {}).get(cell, ""))

    def widths(self, width: int) -> list[int] | None:
        """Column widths that fit `width` with every keep column whole, or None."""
        natural = [max([cell_len(c.header), *(cell_len(r[i]) for r in self.rows)]) for i, c in enumerate(self.columns)]
        least = [n if c.keep else min(n, max(WRAP_MIN, n // 3)) for n, c in zip(natural, self.columns, strict=True)]
        spare = width - 3 * (len(self.columns) - 1) - sum(least)  # SIMPLE_HEAD: a rule and padding between columns
        if spare < 0:
            return None
        out = least[:]
        # The spare room goes to the wrapping columns, the one nearest to whole first: as few
        # columns wrap as can be, and the widest (a URL) folds into what is left.
        for i in sorted(range(len(out)), key=lambda i: natural[i] - out[i]):
            grant = min(natural[i] - out[i], spare)
            out[i] += grant
            spare -= grant
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = self.widths(options.max_width)
        if widths is not None:
            table = Table(title=self.title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
            for c, w in zip(self.columns, widths, strict=True):
                table.add_column(c.header, width=w, overflow="fold")
            for row in self.rows:
                table.add_row(*(self._text(c, cell) for c, cell in zip(self.columns, row, strict=True)))
            yield table
            return
        if self.title:
            yield Text(self.title, style="italic")
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for n, row in enumerate(self.rows):
            if n:
                grid.add_row("", "")
            for c, cell in zip(self.columns, row, strict=True):
                grid.add_row(c.header, self._text(c, cell))
        yield grid


_FLAT = str.maketrans("\t\r\n", "   ")


def plain_lines(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> list[str]:
    """The pipe rendering: a header line, then one line per row, cells separated by tabs (a tab
    or newline inside a cell becomes a space, so `cut -f` and `awk -F'\\t'` see every row whole;
    other control characters print escaped, see `visible`)."""

    def line(cells: Sequence[str]) -> str:
        return "\t".join(visible(cell.translate(_FLAT)) for cell in cells)

    return [line([c.header for c in columns]), *(line(row) for row in rows)]


def render_rows(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], title: str | None = None, out: Console | None = None
) -> None:
    """Print a listing: a rich table when stdout is a terminal, else plain lines (no box, no
    colours, no truncation; a titled listing is set off by an empty line instead). Every listing
    command prints through here."""
    out = out or console()
    if out.is_terminal:
        out.print(Listing(columns, rows, title))
        return
    # Written to the file, not printed: rich would expand the tabs to spaces.
    lines = plain_lines(columns, rows)
    out.file.write("\n".join(["", *lines] if title else lines) + "\n")
    out.file.flush()
