"""``enginebugs report``: read the store and difftest results, print or write reports."""
from __future__ import annotations

import json
from pathlib import Path

import click

from taxonomy import UnknownCategory
from taxonomy.cliutil import UserError, db_option
from taxonomy.store import SOURCES, Store


@click.group()
def report() -> None:
    """Reports over the store (study statistics, exports) and over difftest results."""


def _open_existing(db: str) -> Store:
    if not Path(db).is_file():
        raise UserError(f"no store at {db}: run 'enginebugs study import' or 'enginebugs mine' first")
    return Store.open(db)


@report.command("study")
@db_option
@click.option("--engine", help="Only this engine (display name, e.g. vLLM).")
@click.option("--phase", help="Only this phase (e.g. 'Inference/Serving').")
@click.option("--source", type=click.Choice(SOURCES), help="Only labels of this source.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False), help="Also write one CSV per table here.")
@click.option("--html", "html_dir", type=click.Path(file_okay=False), help="Also write index.html + PNG plots here.")
def study_cmd(db, engine, phase, source, as_json, csv_dir, html_dir) -> None:
    """The paper's tables: bugs per engine, symptoms, root causes and groups, symptom x group,
    phases, components, unexpected-output subtypes, and (for mined records) fix effort and bugs per
    quarter.

    \b
    Counting rules: a bug with two symptoms counts once under each; root-cause instances count
    every listed cause (repeats included), distinct causes per bug are shown too; the symptom x
    root-cause-group table counts each (symptom, root-cause instance) pair.
    Labels: per bug the most authoritative source (arbitration > paper > manual > difftest);
    --source restricts to one source (e.g. --source difftest for differential-test findings).
    """
    from reports.study_render import print_terminal, write_csv, write_html
    from reports.study_stats import compute

    with _open_existing(db) as store:
        try:
            stats = compute(store, engine=engine, phase=phase, source=source)
        except UnknownCategory as exc:
            raise UserError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(stats, indent=2, ensure_ascii=False))
    else:
        print_terminal(stats)
    if csv_dir:
        paths = write_csv(stats, Path(csv_dir))
        click.echo(f"wrote {len(paths)} CSV tables to {csv_dir}", err=as_json)
    if html_dir:
        click.echo(f"wrote {write_html(stats, Path(html_dir))}", err=as_json)


@report.command("export")
@db_option
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.argument("out_dir", type=click.Path(file_okay=False))
def export_cmd(db, fmt, out_dir) -> None:
    """Export the store's records and labels tables (for pandas, spreadsheets, R)."""
    from reports.export import export

    with _open_existing(db) as store:
        try:
            paths = export(store, Path(out_dir), fmt)
        except ImportError as exc:
            raise UserError(f"{fmt} export needs pandas/pyarrow: pip install 'enginebugs[export]' ({exc})") from None
    click.echo("wrote " + ", ".join(str(p) for p in paths))


from reports.difftest_cli import difftest_cmd; report.add_command(difftest_cmd)  # noqa: E402,E702
