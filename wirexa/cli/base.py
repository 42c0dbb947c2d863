"""The Typer classes every `wirexa` command is built from, so that help and usage errors read the
same everywhere: `Usage: wirexa call [OPTIONS] TO` (not `{to}`), no `<bool>` next to flags, and a
usage error (unknown option, bad value, missing argument) is one red line on stderr, exit 2.
Other known errors exit 1 (console.fail)."""

from __future__ import annotations

from collections.abc import Callable
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


def _quiet_flags(command: Any, ctx: Context) -> None:
    """A flag takes no value, so rich help shows no type next to it (typer would say `<bool>`)."""
    for param in command.get_params(ctx):
        if isinstance(param, TyperOption) and (param.is_flag or param.count) and param.metavar is None:
            param.metavar = ""


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
        _quiet_flags(self, ctx)
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
        _quiet_flags(self, ctx)
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
