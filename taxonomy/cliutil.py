"""Click helpers shared by every command group: the ``--db`` option and one-line errors."""
from __future__ import annotations

import sys

import click

from enginebugs.taxonomy.store import DB_ENV, Store, StoreError


class UserError(click.ClickException):
    """Bad input: printed as one ``error: ...`` line, exit code 2."""

    exit_code = 2

    def show(self, file=None) -> None:  # noqa: D401 - click API
        click.echo(f"error: {self.format_message()}", err=True, file=file or sys.stderr)


def open_store(db: str, *, readonly: bool = False) -> Store:
    """``Store.open`` for a command: a store that cannot be used is one ``error:`` line (exit 2).
    Commands that only read pass ``readonly=True``: nothing is created or written."""
    try:
        return Store.open(db, readonly=readonly)
    except StoreError as exc:
        raise UserError(str(exc)) from None


def deprecated(old: str, new: str) -> None:
    """Say on stderr that an old spelling still works but will go (kept for one release at least)."""
    click.echo(f"warning: {old} is deprecated, use {new}", err=True)


def pick_deprecated(value, old_value, old: str, new: str):
    """The value of an option, taking a deprecated alias's value (with a warning) when only it was given."""
    if old_value is not None and value is None:
        deprecated(old, new)
        return old_value
    return value


db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False),
    envvar=DB_ENV,
    default="enginebugs.db",
    show_default=True,
    help=f"SQLite store to use (also ${DB_ENV}).",
)
