"""The paper's sampling rule: Cochran's sample size with finite-population correction, drawn with a seed."""
from __future__ import annotations

import csv
import math
import random
from statistics import NormalDist
from typing import IO, Any

from enginebugs.mining.paper_dataset import COLUMNS
from enginebugs.taxonomy.store import Store


def cochran_size(population: int, confidence: float = 0.95, margin: float = 0.05, p: float = 0.5) -> int:
    """n0 = z^2 p (1-p) / e^2, then n = n0 / (1 + (n0 - 1) / N), rounded up (never more than N)."""
    if population <= 0:
        return 0
    if not (0 < confidence < 1 and 0 < margin < 1):
        raise ValueError("confidence and margin must lie strictly between 0 and 1")
    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    n0 = z * z * p * (1 - p) / margin**2
    return min(population, math.ceil(n0 / (1 + (n0 - 1) / population)))


def population(store: Store, engine: str, *, unlabelled: bool = False) -> list[dict[str, Any]]:
    """The engine's bug records that have content (mined or hydrated), optionally only unlabelled ones."""
    where = "title IS NOT NULL AND coalesce(json_extract(extra, '$.selected'), 1)"  # not those that left
    if unlabelled:
        where += " AND id NOT IN (SELECT record_id FROM labels)"
    return list(store.records(engine=engine, kind="issue", where=where))


def draw(records: list[dict[str, Any]], size: int, seed: int) -> list[dict[str, Any]]:
    """A seeded simple random sample, independent of the store's row order; returned sorted by URL."""
    ordered = sorted(records, key=lambda r: r["url"])
    return sorted(random.Random(seed).sample(ordered, size), key=lambda r: r["url"])


def write_csv(records: list[dict[str, Any]], handle: IO[str]) -> None:
    """The paper's dataset columns (labels left empty for the coders) plus title and creation date."""
    writer = csv.writer(handle)
    writer.writerow([*COLUMNS, "title", "created_at"])
    for record in records:
        row = {"URL": record["url"], "repo": record["engine"]}
        writer.writerow([row.get(c, "") for c in COLUMNS] + [record["title"], record["created_at"]])
