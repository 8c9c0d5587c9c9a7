"""Click helpers shared by every command group: the ``--db`` option and one-line errors."""
from __future__ import annotations

import sys

import click

from taxonomy.store import DB_ENV


class UserError(click.ClickException):
    """Bad input: printed as one ``error: ...`` line, exit code 2."""

    exit_code = 2

    def show(self, file=None) -> None:  # noqa: D401 - click API
        click.echo(f"error: {self.format_message()}", err=True, file=file or sys.stderr)


db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False),
    envvar=DB_ENV,
    default="enginebugs.db",
    show_default=True,
    help=f"SQLite store to use (also ${DB_ENV}).",
)
