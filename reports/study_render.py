"""Renderers for the study report: terminal (rich), CSV files, and a self-contained HTML page."""
from __future__ import annotations

import base64
import csv
import html
import io
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table as RichTable

from enginebugs.reports.tables import slug, study_tables
from enginebugs.taxonomy import TAXONOMY


def print_terminal(stats: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(width=None if Console().is_terminal else 140)
    console.print(f"[bold]{stats['bugs']} bugs[/bold]  filters: "
                  + (", ".join(f"{k}={v}" for k, v in stats["filters"].items() if v) or "none"))
    console.print("collections counted: " + (", ".join(f"{c} ({n} records)" for c, n in stats["collections"].items())
                                             or "none"))
    for title, header, rows in study_tables(stats):
        table = RichTable(title=title, title_justify="left", title_style="bold")
        for i, col in enumerate(header):
            table.add_column(col, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*("-" if v is None else str(v) for v in row))
        console.print(table)
    console.print("[dim]Counting rules: " + " ".join(stats["counting_rules"]) + "[/dim]")


def write_csv(stats: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for title, header, rows in study_tables(stats):
        path = out_dir / f"{slug(title)}.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
        written.append(path)
    return written


#: What each count is, for axis labels: instances count every label, bugs count each bug once.
BUGS = "bugs"
BUGS_MULTI = "bugs (a bug with two symptoms counts under each)"
INSTANCES = "root-cause instances (every listed cause)"


def _plots(stats: dict[str, Any]) -> dict[str, bytes]:
    """PNG plots, every axis saying what it counts: bugs per engine, symptoms, symptoms per engine,
    root causes (28 leaves grouped), groups per engine, symptom x group, phases, components,
    unexpected-output subtypes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pngs: dict[str, bytes] = {}
    palette = plt.get_cmap("tab10").colors

    def save(name: str, fig) -> None:
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        pngs[name] = buf.getvalue()

    def bars(name: str, title: str, counts: dict[str, int], xlabel: str, ylabel: str,
             colors: list | None = None, legend: dict[str, Any] | None = None) -> None:
        if not counts:
            return
        fig, ax = plt.subplots(figsize=(7.5, 0.32 * max(len(counts), 3) + 1.2))
        labels = list(counts)[::-1]
        ax.barh(labels, [counts[k] for k in labels], color=(colors[::-1] if colors else "#4a78b5"))
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if legend:
            from matplotlib.patches import Patch

            ax.legend(handles=[Patch(color=c, label=g) for g, c in legend.items()], title="root-cause group", fontsize=8)
        save(name, fig)

    def stacked(name: str, title: str, data: dict[str, dict[str, int]], series: list[str], ylabel: str,
                legend: str) -> None:
        rows = list(data)
        if not rows or not series:
            return
        fig, ax = plt.subplots(figsize=(8, 4.2))
        bottom = [0] * len(rows)
        for k, s in enumerate(series):
            vals = [data[r].get(s, 0) for r in rows]
            ax.bar(rows, vals, bottom=bottom, label=s, color=palette[k % len(palette)])
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_title(title)
        ax.set_xlabel("engine")
        ax.set_ylabel(ylabel)
        ax.legend(title=legend, fontsize=8)
        save(name, fig)

    bars("bugs_per_engine", "Bugs per engine", stats["by_engine"], BUGS, "engine")
    bars("symptoms", "Symptom distribution", stats["symptoms"], BUGS_MULTI, "symptom")
    stacked("symptoms_per_engine", "Symptoms per engine", stats["symptoms_by_engine"], list(stats["symptoms"]),
            BUGS_MULTI, "symptom")
    groups = list(stats["root_cause_groups"])
    group_of = {rc.name: TAXONOMY.group_of(rc.slug).name for rc in TAXONOMY.root_causes}
    leaves = sorted(stats["root_causes"].items(), key=lambda kv: (groups.index(group_of[kv[0]])
                                                                   if group_of[kv[0]] in groups else 99, -kv[1]))
    color = {g: palette[k % len(palette)] for k, g in enumerate(groups)}
    bars("root_causes", "Root causes, grouped", dict(leaves), INSTANCES, "root cause",
         [color.get(group_of[k], "#888") for k, _ in leaves], color)
    stacked("groups_per_engine", "Root-cause groups per engine", stats["root_cause_groups_by_engine"], groups,
            INSTANCES, "root-cause group")
    if groups and stats["symptom_by_group"]:
        symptoms = list(stats["symptom_by_group"])
        matrix = [[stats["symptom_by_group"][s].get(g, 0) for g in groups] for s in symptoms]
        fig, ax = plt.subplots(figsize=(8, 4.2))
        im = ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(groups)), groups, rotation=30, ha="right")
        ax.set_yticks(range(len(symptoms)), symptoms)
        peak = max(map(max, matrix)) or 1
        for i, row in enumerate(matrix):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", fontsize=8, color="white" if v > peak / 2 else "black")
        fig.colorbar(im, ax=ax, label="(symptom, root-cause instance) pairs")
        ax.set_xlabel("root-cause group")
        ax.set_ylabel("symptom")
        ax.set_title("Symptom x root-cause group")
        save("symptom_by_group", fig)
    bars("phases", "Phases", stats["phases"], BUGS, "phase")
    bars("components", "Components", stats["components"], "component instances (one per root cause)", "component")
    bars("output_subtypes", "Unexpected-output subtypes", stats["output_subtypes"],
         "subtype instances (Unexpected Output bugs)", "subtype")
    return pngs


def _html_table(title: str, header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{'-' if v is None else html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<h2>{html.escape(title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


PAGE_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:3px 8px}
td:not(:first-child){text-align:right}th{background:#eef}img{max-width:100%;margin:1em 0}"""


def write_html(stats: dict[str, Any], out_dir: Path) -> Path:
    """One self-contained ``index.html`` (plots embedded) plus the plots as PNG files beside it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = _plots(stats)
    images = []
    for name, data in pngs.items():
        (out_dir / f"{name}.png").write_bytes(data)
        images.append(f'<img alt="{name}" src="data:image/png;base64,{base64.b64encode(data).decode()}">')
    tables = "".join(_html_table(*t) for t in study_tables(stats))
    rules = "".join(f"<li>{html.escape(r)}</li>" for r in stats["counting_rules"])
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>enginebugs study report</title>"
        f"<style>{PAGE_CSS}</style></head><body><h1>Bugs in LLM inference engines: {stats['bugs']} bugs</h1>"
        f"<p>Filters: {html.escape(str({k: v for k, v in stats['filters'].items() if v}) or 'none')}</p>"
        f"<h2>Counting rules</h2><ul>{rules}</ul>{''.join(images)}{tables}</body></html>"
    )
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
