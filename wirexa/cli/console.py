"""Console factory (tests pin the width), the one-red-line error convention, and `render_rows` /
`render_pairs`: the one place that decides how a listing looks (laid out for the terminal's width,
one line per row; plain lines in a pipe)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import typer
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markup import escape
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
    """One column of a listing, as a terminal shows it (into a pipe every column is printed).

    `keep`: a value people copy (a SID, number, status, URL): whole on one line, never cut or
    folded. `cut`: free text (a name, a message) cut with an ellipsis when the line is short. Any
    other column wraps within its width. `drop`: 0 for a column every line shows; otherwise the
    column is shown only when it fits, the lowest `drop` first (an 80-column terminal gets the
    columns that fit, one line per row). `below`: a keep column that does not fit goes whole on a
    line of its own under its row instead of being left out. `colors` maps a cell's text to a rich
    style, on a terminal only."""

    header: str
    keep: bool = False
    colors: Mapping[str, str] | None = None
    drop: int = 0
    cut: bool = False
    below: bool = False


GAP = 2  # spaces between two columns
_ONE_LINE = str.maketrans("\t\n", "  ")  # a cell is one line on a terminal too
WRAP_MIN = 10  # a wrapping column gets at least this width or a third of its text, if it is longer
CUT_MIN = 12  # a cut column keeps at least this much (or its header) of its text


def wrap_words(text: str, width: int, indent: int = 0) -> list[str]:
    """`text` wrapped at spaces into lines of `width` cells, each starting with `indent` spaces;
    a word too long for that (a URL, a path) gets a line of its own, from column 0 if need be,
    and is never broken: a terminal narrower than it folds it, and a copy is still one piece."""
    room = width - indent
    lines: list[str] = []
    line = ""
    for word in text.split():
        if cell_len(word) > room:
            lines += [" " * indent + line] if line else []
            lines.append(word)
            line = ""
        elif line and cell_len(line) + 1 + cell_len(word) > room:
            lines.append(" " * indent + line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return lines + ([" " * indent + line] if line else [])


def _line(text: str | Text) -> Text:
    """One line as printed: never wrapped or cropped by rich (it is laid out already)."""
    out = Text(text) if isinstance(text, str) else text
    out.no_wrap, out.overflow, out.end = True, "ignore", "\n"
    return out


class Listing:
    """A listing as a terminal shows it, laid out at render time for the width there is (so rich's
    Live redraws it right after a resize): one line per row with the columns that fit (see
    Column), keep columns whole, cut ones shortened with an ellipsis. When the columns every row
    needs do not fit even so, each row is printed as a block of `header  value` lines instead, as
    psql's expanded display does. No SID, number or URL is ever cut.
    Cells are plain text, never markup: a project named "[bold]" prints as typed; a control
    character in a cell prints escaped (see `visible`)."""

    def __init__(self, columns: Sequence[Column], rows: Sequence[Sequence[str]], title: str | None = None) -> None:
        self.columns = list(columns)
        self.rows = [[visible(cell).translate(_ONE_LINE) for cell in r] for r in rows]
        self.title = title
        if any(len(r) != len(self.columns) for r in self.rows):
            raise ValueError("every row needs one cell per column")

    def _text(self, column: Column, cell: str) -> Text:
        return Text(cell, style=(column.colors or {}).get(cell, ""))

    def layout(self, width: int) -> tuple[dict[int, int], list[int]] | None:
        """{column index: width} of the columns on the rows' lines, and the below columns printed
        under them; None when the columns every row needs do not fit `width`."""
        natural = [max([cell_len(c.header), *(cell_len(r[i]) for r in self.rows)]) for i, c in enumerate(self.columns)]
        # A keep column is as wide as its widest cell; the others give way down to this (never
        # narrower than their header).
        least = [
            n if c.keep else min(n, max(cell_len(c.header), CUT_MIN if c.cut else max(WRAP_MIN, n // 3)))
            for n, c in zip(natural, self.columns, strict=True)
        ]

        def room(shown: list[int]) -> int:
            return width - sum(least[i] for i in shown) - GAP * (len(shown) - 1)

        shown = [i for i, c in enumerate(self.columns) if c.drop == 0 and not c.below]
        if room(shown) < 0:
            return None
        # A below column joins the line last: what does not fit goes under it, not out.
        optional = sorted(
            (i for i, c in enumerate(self.columns) if c.drop or c.below),
            key=lambda i: (self.columns[i].below, self.columns[i].drop),
        )
        for i in optional:
            if room([*shown, i]) >= 0:
                shown.append(i)
        spare = room(shown)
        widths = {i: least[i] for i in sorted(shown)}
        # The spare room goes to the cut and wrapping columns, the one nearest to whole first: as
        # few of them are cut or wrap as can be.
        for i in sorted(widths, key=lambda i: natural[i] - least[i]):
            grant = min(natural[i] - widths[i], spare)
            widths[i] += grant
            spare -= grant
        return widths, [i for i in optional if self.columns[i].below and i not in widths]

    def lines(self, console: Console, width: int) -> list[Text] | None:
        """The listing's lines at `width`, or None when it needs the expanded display."""
        laid = self.layout(width)
        if laid is None or not laid[0]:
            return None
        widths, below = laid
        last = max(widths)

        def join(cells: dict[int, Text]) -> Text:
            out = Text()
            for i, cell in cells.items():
                out.append_text(cell)
                if i != last:
                    out.pad_right(widths[i] - cell.cell_len + GAP)
            out.rstrip()
            return out

        out = [_line(Text(self.title, style="italic"))] if self.title else []
        out.append(_line(join({i: Text(self.columns[i].header, style="bold") for i in widths})))
        out.append(_line("─" * (sum(widths.values()) + GAP * (len(widths) - 1))))
        for row in self.rows:
            cells: dict[int, list[Text]] = {}
            for i, w in widths.items():
                column, text = self.columns[i], self._text(self.columns[i], row[i])
                if column.keep:
                    cells[i] = [text]
                elif column.cut:
                    text.truncate(w, overflow="ellipsis")
                    cells[i] = [text]
                else:
                    cells[i] = list(text.wrap(console, w, overflow="fold"))
            for n in range(max(len(c) for c in cells.values())):
                out.append(_line(join({i: c[n] if n < len(c) else Text() for i, c in cells.items()})))
            for i in below:
                out += [_line(line) for line in wrap_words(row[i], width, GAP)]
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = self.lines(console, options.max_width)
        if lines is not None:
            yield from lines
            return
        if self.title:
            yield _line(Text(self.title, style="italic"))
        for n, row in enumerate(self.rows):
            if n:
                yield _line("")
            styles = [(c.colors or {}).get(cell, "") for c, cell in zip(self.columns, row, strict=True)]
            yield Pairs([(c.header, cell) for c, cell in zip(self.columns, row, strict=True)], styles=styles)


class Pairs:
    """A key/value listing (one record's fields) as a terminal shows it: `key  value` a line, the
    empty ones left out; a value too long for its line goes on lines of its own under its key,
    a URL whole on one (see `wrap_words`)."""

    def __init__(
        self, rows: Sequence[tuple[str, str]], title: str | None = None, styles: Sequence[str] | None = None
    ) -> None:
        styled = zip(rows, styles or [""] * len(rows), strict=True)
        self.rows = [(visible(k), visible(v), style) for (k, v), style in styled if v != ""]
        self.title = title

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        if self.title:
            yield _line(Text(self.title, style="italic"))
        keys = max((cell_len(k) for k, _, _ in self.rows), default=0)
        for key, value, style in self.rows:
            line = Text()
            line.append(key, style="bold")
            if "\n" not in value and keys + GAP + cell_len(value) <= width:
                line.pad_right(keys + GAP - cell_len(key))
                line.append(value, style=style)
                yield _line(line)
            else:
                yield _line(line)
                yield from (_line(Text(text, style=style)) for text in wrap_words(value, width, GAP))


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
        out.print(Listing(columns, rows, title), soft_wrap=True)
        return
    _write_plain(out, plain_lines(columns, rows), title)


def render_pairs(
    rows: Sequence[tuple[str, str]],
    headers: tuple[str, str] = ("Field", "Value"),
    title: str | None = None,
    out: Console | None = None,
) -> None:
    """Print one record's fields: `key  value` lines on a terminal (see Pairs), else the plain
    lines of a two-column listing, `headers` first, every field (the empty ones too)."""
    out = out or console()
    if out.is_terminal:
        out.print(Pairs(rows, title), soft_wrap=True)
        return
    _write_plain(out, plain_lines([Column(h) for h in headers], rows), title)


def _write_plain(out: Console, lines: list[str], title: str | None) -> None:
    # Written to the file, not printed: rich would expand the tabs to spaces.
    out.file.write("\n".join(["", *lines] if title else lines) + "\n")
    out.file.flush()
