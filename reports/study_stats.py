"""The paper's statistics computed from the store.

Counting rules (also in the README and in every report):
- a bug with two symptoms counts once under each symptom;
- root-cause *instances* count every listed cause, repeats included; ``distinct_root_causes``
  counts bugs per cause instead;
- components are aligned one-to-one with root causes and counted as instances too;
- the symptom x root-cause-group table counts each (symptom, root-cause instance) pair, repeats
  included.

Which labels count: per record and dimension the labels of the most authoritative source present
(arbitration > paper > manual > difftest); classifier suggestions only with ``source="classifier"``.
With an explicit ``source`` only that source's labels count.
"""
from __future__ import annotations

import statistics
import fnmatch
from collections import defaultdict
from typing import Any

from enginebugs.taxonomy import TAXONOMY
from enginebugs.taxonomy.store import MACHINE_COLLECTIONS, SOURCES, Store

SOURCE_PRIORITY = ("arbitration", "paper", "manual", "difftest")
ENGINE_ORDER = ("llama.cpp", "vLLM", "DeepSpeed", "MLC-LLM", "TensorRT-LLM")
COUNTING_RULES = (
    "A bug with two symptoms counts once under each.",
    "Root-cause instances count every listed cause, repeats included; distinct causes per bug are shown too.",
    "Components align one-to-one with root causes and count as instances.",
    "Symptom x root-cause group counts each (symptom, root-cause instance) pair, repeats included.",
)


def choose_collections(store: Store, patterns: list[str] | None = None, source: str | None = None) -> list[str]:
    """The collections a study counts: those matching ``patterns`` (names or globs such as
    ``mined:*``), else every human-labelled one; machine findings (``difftest:*``) only when a
    pattern names them or ``source`` is ``difftest``. Raises ValueError for a pattern matching nothing."""
    present = list(store.collections())
    if patterns:
        chosen = []
        for pattern in patterns:
            hits = [c for c in present if fnmatch.fnmatchcase(c, pattern)]
            if not hits:
                raise ValueError(f"no collection matches {pattern!r}; the store has: {', '.join(present) or 'none'}")
            chosen += [c for c in hits if c not in chosen]
        return chosen
    if source == "difftest":
        return present
    return [c for c in present if not c.startswith(MACHINE_COLLECTIONS)]


def select_labels(store: Store, *, engine: str | None = None, phase: str | None = None,
                  source: str | None = None, collections: list[str] | None = None) -> str:
    """Fill the temporary table ``chosen(record_id, engine, dimension, value)`` with one label set
    per record and dimension (see module doc) and return its name. Done in SQL (a label survives
    unless a better source or an earlier coder labelled the same dimension): 100,000 records take
    about a second."""
    sources = (source,) if source else SOURCE_PRIORITY
    if not set(sources) <= set(SOURCES):
        raise ValueError(f"unknown label source {source!r}")
    in_sources = ",".join(f"'{s}'" for s in sources)  # literals from SOURCES only

    def rank(alias: str) -> str:
        return f"(CASE {alias}.source " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(sources)) + " END)"

    args: list[Any] = []
    engine_clause = ""
    if engine:
        engine_clause = " AND r.engine = ?"
        args.append(engine)
    if collections is not None:
        engine_clause += f" AND r.collection IN ({','.join('?' * len(collections))})"
        args.extend(collections)
    conn = store.conn
    conn.execute("DROP TABLE IF EXISTS temp.chosen")
    conn.execute(
        f"""CREATE TEMP TABLE chosen AS
        SELECT l.record_id, r.engine, l.dimension, l.value FROM labels l JOIN records r ON r.id = l.record_id
        WHERE l.source IN ({in_sources}){engine_clause} AND NOT EXISTS (
            SELECT 1 FROM labels o WHERE o.record_id = l.record_id AND o.dimension = l.dimension
            AND o.source IN ({in_sources})
            AND ({rank("o")} < {rank("l")} OR ({rank("o")} = {rank("l")} AND o.coder < l.coder)))""",
        args,
    )
    if phase:
        slug = TAXONOMY.resolve("phase", phase).slug
        conn.execute("DELETE FROM temp.chosen WHERE record_id NOT IN "
                     "(SELECT record_id FROM temp.chosen WHERE dimension = 'phase' AND value = ?)", (slug,))
    conn.execute("CREATE INDEX temp.chosen_dim ON chosen(dimension, record_id)")
    return "temp.chosen"


def _ordered(counts: dict[str, int], dimension: str) -> dict[str, int]:
    """Counts keyed by display name, in taxonomy order, zeros left out."""
    return {e.name: counts[e.slug] for e in TAXONOMY[dimension] if counts.get(e.slug)}


def _engine_sort(names) -> list[str]:
    return sorted(names, key=lambda e: (ENGINE_ORDER.index(e) if e in ENGINE_ORDER else len(ENGINE_ORDER), e))


def _to_groups(counts: dict[str, int]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for cause, n in counts.items():
        out[TAXONOMY.group_of(cause).slug] += n
    return out


def compute(store: Store, *, engine: str | None = None, phase: str | None = None,
            source: str | None = None, collections: list[str] | None = None) -> dict[str, Any]:
    """Every table of the study as plain dicts (the ``--json`` output). ``collections`` defaults
    to :func:`choose_collections`'s choice."""
    if collections is None:
        collections = choose_collections(store, source=source)
    table = select_labels(store, engine=engine, phase=phase, source=source, collections=collections)
    q = store.conn.execute

    def per(dimension: str, distinct: bool) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        what = "COUNT(DISTINCT record_id)" if distinct else "COUNT(*)"
        overall: dict[str, int] = {}
        by_engine: dict[str, dict[str, int]] = defaultdict(dict)
        for eng, value, n in q(f"SELECT engine, value, {what} FROM {table} WHERE dimension = ? "
                               "GROUP BY engine, value", (dimension,)):
            by_engine[eng][value] = n
            overall[value] = overall.get(value, 0) + n
        return overall, by_engine

    by_engine = dict(q(f"SELECT engine, COUNT(DISTINCT record_id) FROM {table} GROUP BY engine").fetchall())
    engines = _engine_sort(by_engine)
    total = sum(by_engine.values())
    symptoms, symptoms_eng = per("symptom", distinct=True)
    causes, causes_eng = per("root_cause", distinct=False)
    distinct_causes, _ = per("root_cause", distinct=True)
    sym_cause: dict[str, dict[str, int]] = defaultdict(dict)
    for sym, cause, n in q(
        f"SELECT s.value, c.value, COUNT(*) FROM (SELECT DISTINCT record_id, value FROM {table} "
        f"WHERE dimension = 'symptom') s JOIN {table} c ON c.record_id = s.record_id AND c.dimension = 'root_cause' "
        "GROUP BY s.value, c.value"
    ):
        sym_cause[sym][cause] = n
    instances = {dim: per(dim, distinct=False)[0] for dim in ("component", "phase", "output_subtype")}
    symptom_names = _ordered(symptoms, "symptom")
    sym_slug = {e.name: e.slug for e in TAXONOMY.symptoms}
    stats = {
        "bugs": total,
        "filters": {"engine": engine, "phase": phase, "source": source},
        "collections": {c: n for c, n in store.collections().items() if c in collections},
        "counting_rules": list(COUNTING_RULES),
        "by_engine": {e: by_engine[e] for e in engines},
        "symptoms": symptom_names,
        "symptom_instances": sum(symptoms.values()),
        "symptom_shares": {k: round(v / total, 4) for k, v in symptom_names.items()},
        "symptoms_by_engine": {e: _ordered(symptoms_eng[e], "symptom") for e in engines},
        "root_cause_groups": _ordered(_to_groups(causes), "root_cause_group"),
        "root_causes": _ordered(causes, "root_cause"),
        "root_cause_instances": sum(causes.values()),
        "distinct_root_causes": _ordered(distinct_causes, "root_cause"),
        "root_cause_groups_by_engine": {e: _ordered(_to_groups(causes_eng[e]), "root_cause_group") for e in engines},
        "root_causes_by_engine": {e: _ordered(causes_eng[e], "root_cause") for e in engines},
        "symptom_by_group": {s: _ordered(_to_groups(sym_cause[sym_slug[s]]), "root_cause_group") for s in symptom_names},
        "phases": _ordered(instances["phase"], "phase"),
        "components": _ordered(instances["component"], "component"),
        "output_subtypes": _ordered(instances["output_subtype"], "output_subtype"),
        **fix_effort_tables(store, table, labelled_only=bool(engine or phase or source), collections=collections),
    }
    q(f"DROP TABLE {table}")
    return stats


def fix_effort_tables(store: Store, table: str, labelled_only: bool, collections: list[str]) -> dict[str, Any]:
    """Time-to-fix and lines changed per root-cause group and per engine, and bugs per quarter per
    engine, over whatever records carry those fields (the miner fills them). With a filter active
    only the records that passed it count."""
    q = store.conn.execute
    if labelled_only:
        scope, args = f"r.id IN (SELECT record_id FROM {table})", []
    else:
        scope, args = f"r.collection IN ({','.join('?' * len(collections))})", list(collections)
    quarters: dict[str, dict[str, int]] = defaultdict(dict)
    for engine, quarter, n in q(
        "SELECT engine, substr(created_at, 1, 4) || '-Q' || ((CAST(substr(created_at, 6, 2) AS INTEGER) + 2) / 3), "
        f"COUNT(*) FROM records r WHERE created_at IS NOT NULL AND {scope} GROUP BY 1, 2 ORDER BY 1, 2", args
    ):
        quarters[engine][quarter] = n
    effort_sql = (
        "SELECT {key}, r.time_to_fix_days, CASE WHEN r.fix_additions IS NULL AND r.fix_deletions IS NULL "
        "THEN NULL ELSE COALESCE(r.fix_additions, 0) + COALESCE(r.fix_deletions, 0) END FROM records r {join} "
        f"WHERE (r.time_to_fix_days IS NOT NULL OR r.fix_additions IS NOT NULL) AND {scope}"
    )
    by_engine: dict[str, list] = defaultdict(list)
    for engine, days, lines in q(effort_sql.format(key="r.engine", join=""), args):
        by_engine[engine].append((days, lines))
    by_group: dict[str, list] = defaultdict(list)
    join = (f"JOIN (SELECT DISTINCT record_id, value FROM {table} WHERE dimension = 'root_cause') c "
            "ON c.record_id = r.id")
    group_name = {rc.slug: TAXONOMY.group_of(rc.slug).name for rc in TAXONOMY.root_causes}
    per_group_of_record: dict[tuple[int, str], tuple] = {}
    for rid, cause, days, lines in q(effort_sql.format(key="r.id, c.value", join=join), args):
        per_group_of_record[(rid, group_name[cause])] = (days, lines)
    for (_, group), pair in per_group_of_record.items():
        by_group[group].append(pair)
    files: dict[str, list[int]] = defaultdict(list)
    for component, n in q(
        "SELECT c.value, COALESCE(json_array_length(json_extract(r.extra, '$.fix_files')), r.fix_files_changed) "
        f"FROM records r JOIN (SELECT DISTINCT record_id, value FROM {table} WHERE dimension = 'component') c "
        f"ON c.record_id = r.id WHERE r.fix_url IS NOT NULL AND {scope}", args
    ):
        if n is not None:
            files[component].append(n)
    return {
        "fix_effort": {
            "by_group": {g: _summary(by_group[g]) for g in TAXONOMY.names("root_cause_group") if g in by_group},
            "by_engine": {e: _summary(by_engine[e]) for e in _engine_sort(by_engine)},
        },
        "changed_files_by_component": {  # files changed by the fix (its listed paths, else GitHub's count)
            e.name: {"n": len(v), "median": statistics.median(v), "mean": round(statistics.fmean(v), 1), "max": max(v)}
            for e, v in ((e, files[e.slug]) for e in TAXONOMY["component"]) if v},
        "bugs_per_quarter": {e: quarters[e] for e in _engine_sort(quarters)},
    }


def _summary(pairs: list[tuple[float | None, int | None]]) -> dict[str, Any]:
    days = [d for d, _ in pairs if d is not None]
    lines = [n for _, n in pairs if n is not None]
    return {
        "n": len(pairs),
        "median_days_to_fix": round(statistics.median(days), 2) if days else None,
        "mean_days_to_fix": round(statistics.fmean(days), 2) if days else None,
        "median_lines_changed": statistics.median(lines) if lines else None,
        "mean_lines_changed": round(statistics.fmean(lines), 1) if lines else None,
    }
