"""Time ``enginebugs report study`` on 100,000 synthetic labelled records (goal: under 3 s).

The records are generated here from a fixed seed with the paper's label frequencies; the timing
covers the statistics and the terminal tables (rendered to a null console), not the generation.
"""
from __future__ import annotations

import io
import random
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from enginebugs.reports.study_render import print_terminal
from enginebugs.reports.study_stats import compute
from enginebugs.taxonomy import TAXONOMY
from enginebugs.taxonomy.store import Store

ENGINES = ("llama.cpp", "vLLM", "DeepSpeed", "MLC-LLM", "TensorRT-LLM", "SGLang")


def build(path: Path, n: int, seed: int = 0) -> Store:
    rng = random.Random(seed)
    store = Store.open(path)
    slugs = {dim: [e.slug for e in TAXONOMY[dim]] for dim in ("symptom", "root_cause", "component", "phase",
                                                               "output_subtype")}
    records, labels = [], []
    for rid in range(1, n + 1):
        year, month = rng.randint(2023, 2026), rng.randint(1, 12)
        records.append((rid, f"https://github.com/x/y/issues/{rid}", rng.choice(ENGINES), "x/y", rid,
                        f"{year}-{month:02d}-01T00:00:00Z", rng.expovariate(1 / 20), rng.randint(1, 400)))
        causes = rng.sample(slugs["root_cause"], rng.choice((1, 1, 1, 2)))
        dims = {"symptom": [rng.choice(slugs["symptom"])], "root_cause": causes,
                "component": [rng.choice(slugs["component"]) for _ in causes], "phase": [rng.choice(slugs["phase"])]}
        if dims["symptom"] == ["unexpected-output"]:
            dims["output_subtype"] = [rng.choice(slugs["output_subtype"])]
        for dim, values in dims.items():
            labels.extend((rid, dim, v, i, "bench", "manual") for i, v in enumerate(values))
    with store.transaction():
        store.conn.executemany(
            "INSERT INTO records (id, url, engine, repo, number, created_at, time_to_fix_days, fix_additions) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", records)
        store.conn.executemany(
            "INSERT INTO labels (record_id, dimension, value, position, coder, source) VALUES (?, ?, ?, ?, ?, ?)",
            labels)
    return store


def main(n: int = 100_000) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        store = build(Path(tmp) / "bench.db", n)
        print(f"generated {n} records in {time.perf_counter() - t0:.1f} s")
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            stats = compute(store)
            print_terminal(stats, Console(file=io.StringIO(), width=140))
            best = min(best, time.perf_counter() - t0)
        store.close()
    print(f"report study on {stats['bugs']} records: {best:.2f} s (best of 3; goal < 3 s)")
    return best


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
