"""The store as pandas DataFrames, and export to CSV or Parquet (needs the ``export`` extra)."""
from __future__ import annotations

import json
from pathlib import Path

from enginebugs.taxonomy import TAXONOMY
from enginebugs.taxonomy.store import Store


#: Record columns by type, so exports are typed (Parquet keeps the types; CSV readers can re-parse).
DATE_COLUMNS = ("created_at", "updated_at", "closed_at", "fix_merged_at", "hydrated_at", "inserted_at")
INT_COLUMNS = ("number", "comments_count", "fix_number", "fix_files_changed", "fix_additions", "fix_deletions")
LIST_COLUMNS = ("labels",)


def to_pandas(store: Store):
    """``(records, labels)`` DataFrames; labels carry display names and the root-cause group.
    Records are typed: dates as UTC timestamps, counts as nullable integers, GitHub labels as lists;
    ``comments`` and ``extra`` stay JSON text (their shapes vary)."""
    import pandas as pd

    records = pd.read_sql_query("SELECT * FROM records ORDER BY id", store.conn)
    for col in DATE_COLUMNS:
        records[col] = pd.to_datetime(records[col], utc=True, errors="coerce", format="ISO8601")
    for col in INT_COLUMNS:
        records[col] = pd.to_numeric(records[col], errors="coerce").astype("Int64")
    for col in LIST_COLUMNS:
        records[col] = [json.loads(v) if isinstance(v, str) and v else [] for v in records[col]]
    labels = pd.read_sql_query("SELECT * FROM labels ORDER BY record_id, dimension, position", store.conn)
    names = {(e.dimension, e.slug): e.name for dim in TAXONOMY.entries.values() for e in dim}
    labels["name"] = [names.get((d, v), v) for d, v in zip(labels["dimension"], labels["value"])]
    groups = {rc.slug: TAXONOMY.group_of(rc.slug).name for rc in TAXONOMY.root_causes}
    labels["group"] = [groups.get(v) if d == "root_cause" else None for d, v in zip(labels["dimension"], labels["value"])]
    return records, labels


def export(store: Store, out_dir: Path, fmt: str = "csv") -> list[Path]:
    """Write ``records`` and ``labels`` tables as CSV or Parquet files into ``out_dir``."""
    records, labels = to_pandas(store)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in (("records", records), ("labels", labels)):
        path = out_dir / f"{name}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        elif fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            raise ValueError(f"unknown export format {fmt!r}")
        written.append(path)
    return written
