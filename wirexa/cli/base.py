"""The Typer classes every `wirexa` command is built from, so that help and usage errors read the
same everywhere: `Usage: wirexa call [OPTIONS] TO` (not `{to}`), no `<bool>` next to flags, and a
usage error (unknown option, bad value, missing argument) is one red line on stderr, exit 2.
Other known errors exit 1 (console.fail)."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

import typer

# typer vendors click: its classes live in typer._click, not in an installed click.
from typer._click import Context, HelpFormatter
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption
from typer.models import CommandFunctionType

from wirexa.cli.console import fail

USAGE_EXIT = 2


def _usage_error(exc: UsageError) -> NoReturn:
    if isinstance(exc, NoArgsIsHelpError):  # `wirexa calls` alone: the help is already printed
        raise exc
    hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
    fail(exc.format_message() + hint, code=USAGE_EXIT)


@contextlib.contextmanager
def _compact_help(command: Any, ctx: Context) -> Iterator[None]:
    """Help laid out for an 80-column terminal, while it prints. rich shows each option as a row
    of columns (name, negative name, type, description), each as wide as its widest cell, and the
    description gets what is left: `--wait`, `--no-wait` and `<float range> [x>=1]` left it 20
    columns. So a flag's negative joins its name (`--wait/--no-wait`, its default said in its
    help), a flag shows no type (typer would say `<bool>`), a number range shows its bare type
    (`<float> [x>=1]`), and a single line break inside a paragraph of the command's help is a
    space, as typer already makes it in the first paragraph."""
    params = [p for p in command.get_params(ctx) if isinstance(p, TyperOption | TyperArgument)]
    saved = [(p, p.opts, p.secondary_opts, p.metavar, p.help, p.show_default) for p in params]
    help_text = command.help
    try:
        for param in params:
            if param.metavar is not None:
                continue
            if isinstance(param, TyperOption) and (param.is_flag or param.count):
                param.metavar = ""
                if param.secondary_opts:
                    default = (param.opts if param.default else param.secondary_opts)[0].lstrip("-")
                    if param.show_default is True:
                        param.help, param.show_default = f"{param.help or ''} \\[default: {default}]".strip(), False
                    param.opts, param.secondary_opts = ["/".join([*param.opts, *param.secondary_opts])], []
            elif param.display_type(ctx).endswith(" range>"):
                param.metavar = param.display_type(ctx).removesuffix(" range>") + ">"
        if help_text:
            paragraphs = inspect.cleandoc(help_text).split("\n\n")
            command.help = "\n\n".join(p if p.startswith("\b") else p.replace("\n", " ") for p in paragraphs)
        yield
    finally:
        command.help = help_text
        for param, opts, secondary, metavar, help_, show_default in saved:
            param.opts, param.secondary_opts, param.metavar = opts, secondary, metavar
            param.help, param.show_default = help_, show_default


class Command(TyperCommand):
    def collect_usage_pieces(self, ctx: Context) -> list[str]:
        """Arguments as `TO` / `[TO]` in the usage line, as click and man pages write them."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = (param.metavar or param.name or "").upper()
                pieces.append((name if param.required else f"[{name}]") + ("..." if param.nargs != 1 else ""))
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        with _compact_help(self, ctx):
            super().format_help(ctx, formatter)


class Group(TyperGroup):
    """A command group; the root one turns every usage error below it into one red line."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Context | None = None, **extra: Any
    ) -> Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except UsageError as exc:
            _usage_error(exc)

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            _usage_error(exc)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        with _compact_help(self, ctx):
            super().format_help(ctx, formatter)


class App(typer.Typer):
    """typer.Typer whose groups and commands are the classes above."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", Group)
        super().__init__(**kwargs)

    def command(
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        return super().command(name, cls=cls or Command, **kwargs)
