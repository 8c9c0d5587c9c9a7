"""Arbitration: an arbitrator picks the final label where two coders disagree, with provenance.

The final label is stored with source ``arbitration``; the ``arbitrations`` table records which
coders' labels it resolved and what each of them had chosen.
"""
from __future__ import annotations

import json
from collections.abc import Mapping

from rich.console import Console

from enginebugs.taxonomy import DIMENSIONS, UnknownCategory
from enginebugs.taxonomy.labelling.agreement import Disagreement, agreement
from enginebugs.taxonomy.labelling.coders import display, to_slugs
from enginebugs.taxonomy.labelling.terminal import Input
from enginebugs.taxonomy.store import Store


def resolve(store: Store, record_id: int, dimension: str, slugs: list[str], *, arbitrator: str,
            coders: Mapping[str, list[str]]) -> None:
    """Record the arbitrator's final labels for one dimension of one record, all or nothing."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"cannot arbitrate dimension {dimension!r}")
    if not arbitrator:
        raise ValueError("an arbitrator name is required")
    if not slugs:
        raise ValueError("the final label needs at least one value")
    with store.transaction():
        store.set_labels(record_id, dimension, list(slugs), source="arbitration", coder=arbitrator)
        store.conn.execute(
            "INSERT INTO arbitrations (record_id, dimension, arbitrator, resolved, chosen) VALUES (?, ?, ?, ?, ?)",
            (record_id, dimension, arbitrator, json.dumps({c: list(v) for c, v in coders.items()}),
             json.dumps(list(slugs))),
        )


def arbitrated(store: Store) -> set[tuple[int, str]]:
    """(record id, dimension) pairs that already carry an arbitrated label."""
    rows = store.conn.execute("SELECT DISTINCT record_id, dimension FROM labels WHERE source = 'arbitration'")
    return {(r[0], r[1]) for r in rows}


def pending(store: Store, first: str, second: str) -> list[Disagreement]:
    """Disagreements between two coders that no arbitrator has resolved yet, record by record."""
    done = arbitrated(store)
    found = agreement(store, first, second, dimensions=DIMENSIONS)
    todo = [d for dim in DIMENSIONS for d in found[dim].disagreements if (d.record_id, dim) not in done]
    return sorted(todo, key=lambda d: (d.record_id, DIMENSIONS.index(d.dimension)))


def provenance(store: Store, record_id: int) -> list[dict]:
    """Every arbitration of a record, oldest first, with the coders' labels it resolved."""
    rows = store.conn.execute(
        "SELECT dimension, arbitrator, resolved, chosen, created_at FROM arbitrations "
        "WHERE record_id = ? ORDER BY id", (record_id,),
    )
    return [{"dimension": r[0], "arbitrator": r[1], "resolved": json.loads(r[2]), "chosen": json.loads(r[3]),
             "created_at": r[4]} for r in rows]


def arbitrate_interactively(store: Store, first: str, second: str, arbitrator: str, *, reader: Input,
                            console: Console) -> int:
    """Walk the pending disagreements; the arbitrator picks 1, 2 or types names. Returns resolved count."""
    resolved = 0
    todo = pending(store, first, second)
    for number, d in enumerate(todo, start=1):
        rec = store.get_record(d.url)
        console.rule(f"disagreement {number} of {len(todo)}")
        console.print(f"[bold]{rec.get('title') or '(no title)'}[/bold]\n[cyan]{d.url}[/cyan]")
        dim = d.dimension.replace("_", " ")
        console.print(f"{dim}:  [1] {first}: {display(d.dimension, d.first)}   "
                      f"[2] {second}: {display(d.dimension, d.second)}")
        while True:
            try:
                answer = reader.read(f"final {dim} (1, 2, names; s skip, q quit)> ").strip()
            except (EOFError, KeyboardInterrupt):
                return resolved
            if answer.lower() == "q":
                return resolved
            if answer.lower() == "s":
                break
            try:
                picked = {"1": list(d.first), "2": list(d.second)}.get(answer)
                chosen = picked or to_slugs(d.dimension, answer.split(","))
            except (UnknownCategory, ValueError) as exc:
                console.print(f"[red]{exc}[/red]")
                continue
            resolve(store, d.record_id, d.dimension, chosen, arbitrator=arbitrator,
                    coders={first: list(d.first), second: list(d.second)})
            resolved += 1
            console.print(f"[green]resolved[/green] {dim}: {display(d.dimension, chosen)}")
            break
    return resolved
