"""``enginebugs report``: read the store and difftest results, print or write reports."""
from __future__ import annotations

import json
from pathlib import Path

import click

from enginebugs.taxonomy import UnknownCategory, engines
from enginebugs.taxonomy.cliutil import UserError, db_option, open_store, pick_deprecated
from enginebugs.taxonomy.store import SOURCES, Store


@click.group()
def report() -> None:
    """Reports over the store (study statistics, exports) and over difftest results."""


def _open_existing(db: str) -> Store:
    return open_store(db, readonly=True)


def _engine_name(store: Store, engine: str | None) -> str | None:
    """The stored spelling of ``engine``; an unknown engine is an error listing the known ones."""
    if engine is None:
        return None
    stored = [r[0] for r in store.conn.execute("SELECT DISTINCT engine FROM records ORDER BY 1")]
    name = engines.canonical(engine, stored)
    if name is None:
        raise UserError(f"unknown engine {engine!r}; known: {', '.join(sorted(set(stored) | set(engines.DISPLAY_NAMES)))}")
    return name


@report.command("study")
@db_option
@click.option("--engine", help="Only this engine (any spelling: vLLM, vllm, llama.cpp, llamacpp, ...).")
@click.option("--phase", help="Only this phase (e.g. 'Inference/Serving').")
@click.option("--source", type=click.Choice(SOURCES), help="Only labels of this source (difftest: the tester's findings).")
@click.option("--collection", "collections", multiple=True, metavar="NAME",
              help="Count only this collection (repeatable; globs such as 'mined:*'). Default: every "
                   "human-labelled collection (paper, mined:*), never difftest findings unless asked.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False), help="Also write one CSV per table here.")
@click.option("--html", "html_dir", type=click.Path(file_okay=False), help="Also write index.html + PNG plots here.")
def study_cmd(db, engine, phase, source, collections, as_json, csv_dir, html_dir) -> None:
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
    from enginebugs.reports.study_render import print_terminal, write_csv, write_html
    from enginebugs.reports.study_stats import choose_collections, compute

    with _open_existing(db) as store:
        try:
            engine = _engine_name(store, engine)
            chosen = choose_collections(store, list(collections), source)
            stats = compute(store, engine=engine, phase=phase, source=source, collections=chosen)
        except (UnknownCategory, ValueError) as exc:
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
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True,
              help="csv (one file per table) or parquet (typed columns; needs enginebugs[export]).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), metavar="DIR", help="Folder to write into.")
@click.argument("out_dir_old", metavar="", required=False, type=click.Path(file_okay=False))
def export_cmd(db, fmt, out_dir, out_dir_old) -> None:
    """Export the store's records and labels tables to --out DIR (for pandas, spreadsheets, R)."""
    out_dir = pick_deprecated(out_dir, out_dir_old, "the positional OUT_DIR", "--out DIR")
    if not out_dir:
        raise UserError("say where to write: --out DIR")
    from enginebugs.reports.export import export

    with _open_existing(db) as store:
        try:
            paths = export(store, Path(out_dir), fmt)
        except ImportError as exc:
            raise UserError(f"{fmt} export needs pandas/pyarrow: pip install 'enginebugs[export]' ({exc})") from None
    click.echo("wrote " + ", ".join(str(p) for p in paths))


from enginebugs.reports.difftest_cli import difftest_cmd; report.add_command(difftest_cmd)  # noqa: E402,E702
