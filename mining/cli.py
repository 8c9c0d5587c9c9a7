"""``enginebugs study``: bring the paper's published dataset into the store."""
from __future__ import annotations

import click

from enginebugs.mining.paper_dataset import (PAPER_REPO, PAPER_URL, DatasetError, import_into, parse, read_text,
                                             shipped_dataset)
from enginebugs.taxonomy.cliutil import UserError, db_option, open_store


@click.group()
def study() -> None:
    """The published dataset of Liu et al., A First Look at Bugs in LLM Inference Engines (TOSEM 2026)."""


@study.command("import")
@click.argument("path", metavar="[PATH]", required=False, type=click.Path(dir_okay=False))
@click.option("--url", "url", is_flag=False, flag_value=PAPER_URL, default=None, metavar="[URL]",
              help=f"Download the dataset instead (no value: the newest from {PAPER_REPO}).")
@db_option
def import_cmd(path: str | None, url: str | None, db: str) -> None:
    """Import the paper's dataset.csv (929 labelled bugs) into the study collection.

    With no argument the copy shipped inside enginebugs is imported, offline. PATH imports
    another local copy; --url downloads one (the paper's repository when given no value).
    Re-importing is idempotent: records are keyed by URL and the paper's labels are replaced,
    never duplicated. A malformed row aborts the import with the line number and leaves the
    store untouched.

    \b
    Examples:
      enginebugs study import --db study.db              # the shipped copy, offline
      enginebugs study import ../my/dataset.csv --db study.db
      enginebugs study import --url --db study.db        # the newest upstream copy
    """
    if path and url:
        raise UserError("give either PATH or --url, not both")
    source = path or url or str(shipped_dataset())
    try:
        bugs = parse(read_text(source))
    except DatasetError as exc:
        raise UserError(f"{source}: {exc}") from None
    except OSError as exc:
        raise UserError(f"cannot read {source}: {exc}") from None
    with open_store(db) as store:
        new, existing = import_into(store, bugs)
    click.echo(f"imported {len(bugs)} bugs into {db} ({new} new, {existing} already present)")
