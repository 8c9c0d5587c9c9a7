"""Printing evaluation reports: metrics beside the baselines, then per-class F1."""
from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from enginebugs.taxonomy import TAXONOMY
from enginebugs.taxonomy.classifier.evaluation import Scores, TargetReport


SHOWN_COVERAGES = (0.1, 0.3, 0.5, 0.7, 0.9, 1.0)


def as_json(reports: dict[str, TargetReport]) -> str:
    return json.dumps({target: r.as_dict() for target, r in reports.items()}, indent=2)


def print_reports(console: Console, reports: dict[str, TargetReport], title: str, per_class: bool = True) -> None:
    """One row per target: the model's macro-F1 / accuracy beside both baselines'."""
    table = Table(title=title, caption="cells: macro-F1 / accuracy")
    for column in ("target", "n", "model", "majority", "stratified", "F1 ÷ strat."):
        table.add_column(column, justify="left" if column == "target" else "right")
    for target, r in reports.items():
        ratio = r.model.macro_f1 / r.stratified.macro_f1 if r.stratified.macro_f1 else float("inf")
        table.add_row(target.replace("_", " ") + (f" ({r.strategy})" if r.strategy else ""), str(r.model.n),
                      _pair(r.model), _pair(r.majority), _pair(r.stratified), f"{ratio:.1f}x")
    console.print(table)
    console.print("macro-F1 over the classes present in the evaluated set; stratified = random draws with the "
                  "training class frequencies, averaged.")
    for target, r in reports.items():
        if r.strategies:
            console.print(f"{target.replace('_', ' ')}: " + ", ".join(
                f"{k} macro-F1 {v.macro_f1:.3f}" for k, v in r.strategies.items()) + f" -> kept {r.strategy}")
    for target, r in reports.items():
        if r.confidence:
            curve = ", ".join(f"{p['coverage']:.0%}: {p['accuracy']:.2f}" for p in r.confidence.curve
                              if p["coverage"] in SHOWN_COVERAGES)
            half = r.confidence.at(0.5)
            console.print(f"{target.replace('_', ' ')} confidence: accuracy at 50% coverage {half['accuracy']:.3f} "
                          f"(threshold {half['threshold']:.2f}), ECE {r.confidence.ece:.3f}; coverage -> accuracy "
                          f"{curve}")
    if per_class:
        for target, r in reports.items():
            _per_class(console, target, r)


def _pair(scores: Scores) -> str:
    return f"{scores.macro_f1:.3f} / {scores.accuracy:.3f}"


def _per_class(console: Console, target: str, report: TargetReport) -> None:
    table = Table(title=f"per-class F1: {target.replace('_', ' ')}", title_justify="left")
    table.add_column("class")
    table.add_column("support", justify="right")
    table.add_column("F1", justify="right")
    for slug, (f1, support) in sorted(report.per_class.items(), key=lambda kv: -kv[1][1]):
        table.add_row(TAXONOMY.resolve(target, slug).name, str(support), f"{f1:.3f}")
    console.print(table)
