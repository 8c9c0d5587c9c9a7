"""Command groups of the taxonomy package: ``taxonomy``, ``label`` and ``classify``."""
from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from enginebugs.taxonomy import ALL_DIMENSIONS, TAXONOMY
from enginebugs.taxonomy.classifier.cli import classify
from enginebugs.taxonomy.labelling.cli import label

__all__ = ["classify", "label", "taxonomy_group"]


@click.group(name="taxonomy")
def taxonomy_group() -> None:
    """The bug taxonomy every label uses: symptoms, root causes, components, phases."""


@taxonomy_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print the taxonomy as one JSON object.")
def show(as_json: bool) -> None:
    """Print every dimension with slugs, display names, groups and definitions."""
    if as_json:
        data = {"version": TAXONOMY.version}
        for dim in ALL_DIMENSIONS:
            data[dim] = [{k: v for k, v in (("slug", e.slug), ("name", e.name), ("group", e.group),
                                            ("definition", e.definition)) if v} for e in TAXONOMY[dim]]
        click.echo(json.dumps(data, indent=2))
        return
    console = Console()
    console.print(f"[bold]taxonomy version {TAXONOMY.version}[/bold]")
    for dim in ALL_DIMENSIONS:
        table = Table(title=dim.replace("_", " "), title_justify="left")
        for column in ("slug", "name", *(("group",) if dim == "root_cause" else ()), "definition"):
            table.add_column(column)
        for e in TAXONOMY[dim]:
            group = (TAXONOMY.resolve("root_cause_group", e.group).name,) if dim == "root_cause" else ()
            table.add_row(e.slug, e.name, *group, e.definition)
        console.print(table)
