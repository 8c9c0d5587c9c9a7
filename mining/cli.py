"""``enginebugs study``: bring the paper's published dataset into the store."""
from __future__ import annotations

import click

from mining.paper_dataset import PAPER_URL, DatasetError, import_into, parse, read_text
from taxonomy.cliutil import UserError, db_option
from taxonomy.store import Store


@click.group()
def study() -> None:
    """The published dataset of Liu et al., A First Look at Bugs in LLM Inference Engines (TOSEM 2026)."""


@study.command("import")
@click.argument("source", metavar="PATH_OR_URL", required=False, default=PAPER_URL)
@db_option
def import_cmd(source: str, db: str) -> None:
    """Import the paper's dataset.csv (929 labelled bugs) from a local PATH or a URL.

    With no argument the file is downloaded from the paper's public repository
    (infbug/bugs-in-LLM-inference-engines). Re-importing is idempotent: records are keyed by URL
    and the paper's labels are replaced, never duplicated. A malformed row aborts the import
    with the line number and leaves the store untouched.

    \b
    Example:
      enginebugs study import ../shared/infbug/dataset.csv --db study.db
    """
    try:
        bugs = parse(read_text(source))
    except DatasetError as exc:
        raise UserError(f"{source}: {exc}") from None
    except OSError as exc:
        raise UserError(f"cannot read {source}: {exc}") from None
    with Store.open(db) as store:
        new, existing = import_into(store, bugs)
    click.echo(f"imported {len(bugs)} bugs into {db} ({new} new, {existing} already present)")
