"""``enginebugs label``: the interactive labeller, CSV round trip, agreement and arbitration."""
from __future__ import annotations

import json
from pathlib import Path

import click
from click.core import ParameterSource
from rich.console import Console
from rich.table import Table

from enginebugs.taxonomy import DIMENSIONS, UnknownCategory
from enginebugs.taxonomy.cliutil import UserError, db_option, open_store, pick_deprecated
from enginebugs.taxonomy.labelling.agreement import AGREEMENT_DIMENSIONS, agreement
from enginebugs.taxonomy.labelling.arbitration import arbitrate_interactively, resolve
from enginebugs.taxonomy.labelling.coders import coder_answers, display, to_slugs
from enginebugs.taxonomy.labelling.session import LabelSession, Suggest, build_queue
from enginebugs.taxonomy.labelling.spreadsheet import ImportRejected, export_csv, import_rows, parse_csv
from enginebugs.taxonomy.labelling.terminal import ConsoleInput
from enginebugs.taxonomy.store import SOURCES
from enginebugs.taxonomy.textio import TextFileError, read_utf8

coder_option = click.option("--coder", metavar="NAME", help="Whose answers these are (required).")


def _db(ctx: click.Context, db: str) -> str:
    """A subcommand's --db, or the group's when only the group was given one."""
    parent = ctx.parent
    if (ctx.get_parameter_source("db") is ParameterSource.DEFAULT and parent is not None
            and parent.get_parameter_source("db") is not ParameterSource.DEFAULT):
        return parent.params["db"]
    return db


def _require(value: str | None, option: str) -> str:
    if not value or not value.strip():
        raise UserError(f"{option} NAME is required")
    return value.strip()


@click.group(invoke_without_command=True)
@db_option
@coder_option
@click.option("--engine", help="Only records of this engine (e.g. vLLM, llama.cpp).")
@click.option("--source", type=click.Choice(SOURCES), help="Only records carrying labels from this source.")
@click.option("--all", "review", is_flag=True, help="Also records you finished: review them (Enter keeps a value).")
@click.option("--model", type=click.Path(dir_okay=False),
              help="Classifier for suggestions (default: the trained default model).")
@click.option("--no-suggestions", is_flag=True, help="Do not show the classifier's suggestions.")
@click.option("--page-lines", default=20, show_default=True, help="Body lines shown per page.")
@click.pass_context
def label(ctx, db, coder, engine, source, review, model, no_suggestions, page_lines) -> None:
    """Label bug records by open coding: two coders, agreement, arbitration.

    Without a subcommand, starts the interactive labeller for one coder. It shows each record's
    title, body (page with n / p), GitHub labels and fix linkage, then asks for symptom(s), root
    cause(s), component, phase and, for unexpected output, its subtype. Type numbers or names,
    several separated by commas; s skips, u undoes, q quits. Every answer is saved at once;
    the next session resumes where you stopped. With a trained classifier (enginebugs classify
    train) its top-3 suggestions are shown with their probabilities.

    \b
    Examples:
      enginebugs label --coder alice --engine vLLM
      enginebugs label export --coder alice > alice.csv
      enginebugs label agreement --coders alice bob
      enginebugs label resolve --coders alice bob --arbitrator carol
    """
    if ctx.invoked_subcommand is not None:
        return
    coder = _require(coder, "--coder")
    console = Console()
    with open_store(db) as store:
        queue = build_queue(store, coder, engine=engine, source=source, include_done=review)
        if not queue:
            if not store.count():
                raise UserError(f"{db} holds no records: import some first (enginebugs study import, mine)")
            console.print(f"nothing left to label for {coder} (use --all to review finished records)")
            return
        suggest = None if no_suggestions else _suggester(model, console)
        result = LabelSession(store, coder, queue, reader=ConsoleInput(console), console=console,
                              suggest=suggest, review=review, page_lines=page_lines).run()
    console.print(f"{result.answers_saved} answer(s) saved this session; "
                  f"{result.records_completed} of {len(queue)} record(s) in this queue complete for {coder}")


def _suggester(model_path: str | None, console: Console) -> Suggest | None:
    from enginebugs.taxonomy.classifier.corpus import compose_text
    from enginebugs.taxonomy.classifier.default import load_default_model
    from enginebugs.taxonomy.classifier.model import ModelError, PreLabelModel

    try:
        model = PreLabelModel.load(model_path) if model_path else load_default_model(train_if_missing=False)
    except ModelError as exc:
        raise UserError(str(exc)) from None
    if model is None:
        console.print("[dim]no classifier trained yet: `enginebugs classify train` enables suggestions[/dim]")
        return None

    def suggest(rec: dict) -> dict:
        found = model.suggest([compose_text(rec.get("title"), rec.get("body"), rec.get("comments"))])[0]
        return {dim: found[dim] for dim in ("symptom", "root_cause")}

    return suggest


@label.command("export")
@db_option
@coder_option
@click.option("--engine", help="Only records of this engine.")
@click.option("--source", type=click.Choice(SOURCES), help="Only records carrying labels from this source.")
@click.option("-o", "--out", "output", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write to FILE instead of stdout.")
@click.option("--output", "output_old", type=click.Path(dir_okay=False, writable=True), hidden=True)
@click.pass_context
def export_cmd(ctx, db, coder, engine, source, output, output_old) -> None:
    """Write records and one coder's labels as CSV, to fill in a spreadsheet.

    Columns: url, engine, title, then one per dimension with display names separated by ';'.
    Edit the dimension columns and load the file back with `label import`.
    """
    output = pick_deprecated(output, output_old, "--output", "--out")
    coder = _require(coder, "--coder")
    where, params = ("id IN (SELECT record_id FROM labels WHERE source = ?)", (source,)) if source else ("", ())
    with open_store(_db(ctx, db), readonly=True) as store:
        text = export_csv(store, coder, store.records(engine=engine, where=where, params=params))
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@label.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@db_option
@coder_option
@click.pass_context
def import_cmd(ctx, file, db, coder) -> None:
    """Load a coder's labels from a CSV made by `label export`.

    Every row is checked first (record known, names in the taxonomy, one phase, subtype only
    with Unexpected Output); any bad row is reported with its line and nothing is written.
    Blank cells leave the coder's existing labels as they are.
    """
    coder = _require(coder, "--coder")
    try:
        text = read_utf8(file)
    except TextFileError as exc:
        raise UserError(str(exc)) from None
    with open_store(_db(ctx, db)) as store:
        try:
            rows = parse_csv(store, text)
        except ImportRejected as exc:
            for message in exc.errors:
                click.echo(f"  {file}: {message}", err=True)
            raise UserError(f"{file}: {exc}") from None
        written = import_rows(store, coder, rows)
    click.echo(f"imported {written} label(s) for {len(rows)} record(s) as coder {coder}")


@label.command("agreement")
@db_option
@click.option("--coders", nargs=2, required=True, metavar="A B", help="The two coders to compare.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object keyed by dimension.")
@click.option("--max-disagreements", default=50, show_default=True, help="Disagreements listed per dimension.")
@click.pass_context
def agreement_cmd(ctx, db, coders, as_json, max_disagreements) -> None:
    """Cohen's kappa, raw agreement and disagreements of two coders per dimension.

    Dimensions: symptom, root-cause group, root-cause leaf, component. A record's category is the
    set of values a coder chose; only records both coders labelled on a dimension count.
    The paper's labels are a coder too (liu-et-al-2026).
    """
    first, second = coders
    with open_store(_db(ctx, db), readonly=True) as store:
        result = agreement(store, first, second)
    if all(r.n == 0 for r in result.values()):
        raise UserError(f"no record labelled by both {first} and {second}")
    if as_json:
        click.echo(json.dumps({dim: r.as_dict() for dim, r in result.items()}, indent=2))
        return
    console = Console()
    table = Table(title=f"agreement of {first} and {second}")
    for column in ("dimension", "both", f"only {first}", f"only {second}", "Cohen's κ", "raw agreement", "disagree"):
        table.add_column(column, justify="left" if column == "dimension" else "right")
    for dim in AGREEMENT_DIMENSIONS:
        r = result[dim]
        table.add_row(dim.replace("_", " "), str(r.n), str(r.only_first), str(r.only_second), _fmt(r.kappa),
                      _fmt(r.raw), str(len(r.disagreements)))
    console.print(table)
    for dim in AGREEMENT_DIMENSIONS:
        shown = result[dim].disagreements[:max_disagreements]
        if shown:
            console.print(f"\n[bold]{dim.replace('_', ' ')} disagreements[/bold]")
            for d in shown:
                console.print(f"  {d.url}\n    {first}: {display(dim, d.first)}   {second}: {display(dim, d.second)}")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@label.command("resolve")
@click.argument("url", required=False)
@db_option
@click.option("--coders", nargs=2, required=True, metavar="A B", help="The two coders whose labels are resolved.")
@click.option("--arbitrator", required=True, metavar="NAME", help="Who decides.")
@click.option("--dimension", type=click.Choice(DIMENSIONS), help="With URL: the dimension to resolve.")
@click.option("--value", "values", multiple=True, help="With URL: the final label(s), display names or slugs.")
@click.pass_context
def resolve_cmd(ctx, url, db, coders, arbitrator, dimension, values) -> None:
    """Let an arbitrator pick final labels where two coders disagree.

    Without URL, walks every unresolved disagreement: 1 takes the first coder's labels, 2 the
    second's, or type names. With URL, --dimension and --value it resolves one record directly.
    Final labels are stored with source 'arbitration'; which coders' labels were resolved is
    recorded alongside.
    """
    first, second = coders
    arbitrator = _require(arbitrator, "--arbitrator")
    with open_store(_db(ctx, db)) as store:
        if url is None:
            console = Console()
            done = arbitrate_interactively(store, first, second, arbitrator, reader=ConsoleInput(console),
                                           console=console)
            console.print(f"{done} disagreement(s) resolved by {arbitrator}")
            return
        if not dimension or not values:
            raise UserError("resolving one record needs --dimension and at least one --value")
        record = store.get_record(url)
        if record is None:
            raise UserError(f"no record with url {url}")
        try:
            slugs = to_slugs(dimension, values)
        except (UnknownCategory, ValueError) as exc:
            raise UserError(str(exc)) from None
        answers = {c: coder_answers(store, c, record["id"]).get(record["id"], {}).get(dimension, []) for c in coders}
        resolve(store, record["id"], dimension, slugs, arbitrator=arbitrator, coders=answers)
    click.echo(f"resolved {dimension.replace('_', ' ')} of {url}: {display(dimension, slugs)}")
