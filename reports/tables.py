"""Turn the study statistics into named tables: (title, header, rows). Shared by every renderer."""
from __future__ import annotations

from typing import Any

Table = tuple[str, list[str], list[list[Any]]]


def _share(n: int, total: int) -> float | None:
    """Percent of ``total``, a number (CSV readers get a float, not "12.3%")."""
    return round(100 * n / total, 1) if total else None


def _counts(title: str, label: str, counts: dict[str, int], total: int) -> Table:
    return title, [label, "count", "share %"], [[k, v, _share(v, total)] for k, v in counts.items()]


def _matrix(title: str, corner: str, data: dict[str, dict[str, int]], columns: list[str]) -> Table:
    rows = [[row] + [data[row].get(col, 0) for col in columns] + [sum(data[row].values())] for row in data]
    return title, [corner, *columns, "total"], rows


def _columns(data: dict[str, dict[str, int]]) -> list[str]:
    cols: dict[str, None] = {}
    for row in data.values():
        cols.update(dict.fromkeys(row))
    return list(cols)


def study_tables(stats: dict[str, Any]) -> list[Table]:
    """Every table of ``enginebugs.reports.study_stats.compute`` output, in reading order."""
    bugs = stats["bugs"]
    rc_total = stats["root_cause_instances"]
    tables: list[Table] = [
        _counts("Bugs per engine", "engine", stats["by_engine"], bugs),
        _counts("Symptoms (share of bugs)", "symptom", stats["symptoms"], bugs),
        _matrix("Symptoms per engine", "engine", stats["symptoms_by_engine"], list(stats["symptoms"])),
        _counts("Root-cause groups (instances)", "group", stats["root_cause_groups"], rc_total),
        _matrix("Root-cause groups per engine", "engine", stats["root_cause_groups_by_engine"],
                list(stats["root_cause_groups"])),
        ("Root causes (instances; bugs with the cause)", ["root cause", "instances", "share %", "bugs"],
         [[k, v, _share(v, rc_total), stats["distinct_root_causes"].get(k, 0)] for k, v in stats["root_causes"].items()]),
        _matrix("Symptom x root-cause group (pairs)", "symptom", stats["symptom_by_group"],
                list(stats["root_cause_groups"])),
        _counts("Phases", "phase", stats["phases"], bugs),
        _counts("Components (instances)", "component", stats["components"], sum(stats["components"].values())),
        _counts("Unexpected-output subtypes", "subtype", stats["output_subtypes"],
                sum(stats["output_subtypes"].values())),
    ]
    effort = stats.get("fix_effort", {})
    for key, title in (("by_group", "Fix effort per root-cause group"), ("by_engine", "Fix effort per engine")):
        if effort.get(key):
            header = ["name", "n", "median days", "mean days", "median lines", "mean lines"]
            rows = [[name, s["n"], s["median_days_to_fix"], s["mean_days_to_fix"], s["median_lines_changed"],
                     s["mean_lines_changed"]] for name, s in effort[key].items()]
            tables.append((title, header, rows))
    quarters = stats.get("bugs_per_quarter") or {}
    if quarters:
        cols = sorted({q for d in quarters.values() for q in d})
        tables.append(("Bugs per quarter", ["engine", *cols, "total"],
                       [[e, *[d.get(q, 0) for q in cols], sum(d.values())] for e, d in quarters.items()]))
    return tables


def slug(title: str) -> str:
    """File-name form of a table title."""
    return "".join(ch if ch.isalnum() else "_" for ch in title.lower()).strip("_").replace("__", "_")
