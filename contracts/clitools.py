"""What every ``ltx-mock`` command shares: usage errors on one line.

Click prints a usage error as four lines (usage, a hint, a blank line, the error). In a CI log, one line
that names the command, the problem and where help is reads better and greps; so a bad flag value, a
missing argument or an unknown command print ``ltx-mock serve: error: Invalid value for '--port': ...``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any, TypeVar
from urllib.parse import urlsplit

import click


class OneLineUsageError(click.UsageError):
    """A usage error shown as one line on stderr (exit code 2, like click's)."""

    def show(self, file: IO[Any] | None = None) -> None:
        where = self.ctx.command_path if self.ctx is not None else "ltx-mock"
        message = " ".join(self.format_message().split())
        click.echo(f"{where}: error: {message} (see '{where} --help')", file=file, err=file is None)


def one_line(exc: click.UsageError) -> OneLineUsageError:
    if isinstance(exc, OneLineUsageError):
        return exc
    return OneLineUsageError(exc.format_message(), exc.ctx)


class OneLineErrors(click.Group):
    """A command group whose usage errors, and those of every command under it, print as one line."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise one_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise one_line(exc) from None


def http_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Option callback: an http(s) URL with a host, or a one-line error naming the option."""
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise click.BadParameter(f"{value!r} is not an http(s) URL like http://127.0.0.1:8787/v1/ltxstudio",
                                     ctx=ctx, param=param)
    return value


C = TypeVar("C", bound=click.Command)


def env_options(prefix: str) -> Callable[[C], C]:
    """Decorator (put it above ``@click.command``): every option of the command can also come from an environment
    variable, through click's own mechanism (``envvar``), and ``--help`` shows which (``show_envvar``).

    An option that names its variable already keeps it (``--token`` of ``check``: ``USEAPI_TOKEN``); the others
    get ``prefix`` + the long name in capitals (``--poll-waits`` -> ``LTX_MOCK_POLL_WAITS``). A flag takes
    ``1``/``true``/``yes`` (or ``0``/``false``/``no``); a repeatable option takes its values separated by spaces.
    A flag given on the command line wins over the variable.
    """

    def apply(command: C) -> C:
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            if param.envvar is None:
                longs = [o for o in param.opts if o.startswith("--")] or param.opts
                param.envvar = prefix + max(longs, key=len).lstrip("-").replace("-", "_").upper()
            param.show_envvar = True
        return command

    return apply
