"""One coder's answers in the store: read, validate and save labels of the ``labels`` table."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from enginebugs.taxonomy import DIMENSIONS, TAXONOMY
from enginebugs.taxonomy.store import Store

#: Sources whose labels belong to a named human coder (the paper's authors count as one).
CODER_SOURCES = ("manual", "paper")
#: Dimensions a coder answers for every record; ``output_subtype`` only for unexpected output.
REQUIRED = ("symptom", "root_cause", "component", "phase")
UNEXPECTED_OUTPUT = "unexpected-output"
#: Dimensions that take exactly one value.
SINGLE_VALUED = ("phase",)

Answers = dict[str, list[str]]  # dimension -> taxonomy slugs, in the coder's order


def dimensions_for(answers: Mapping[str, list[str]]) -> tuple[str, ...]:
    """The dimensions a complete answer needs, given the symptoms chosen so far."""
    if UNEXPECTED_OUTPUT in answers.get("symptom", ()):
        return (*REQUIRED, "output_subtype")
    return REQUIRED


def is_complete(answers: Mapping[str, list[str]] | None) -> bool:
    return bool(answers) and all(answers.get(dim) for dim in dimensions_for(answers))


def to_slugs(dimension: str, names: Iterable[str]) -> list[str]:
    """Resolve display names, slugs or aliases; raise ``UnknownCategory`` or ``ValueError``."""
    slugs: list[str] = []
    for name in names:
        slug = TAXONOMY.resolve(dimension, name.strip()).slug
        if slug not in slugs:
            slugs.append(slug)
    if dimension in SINGLE_VALUED and len(slugs) > 1:
        raise ValueError(f"{dimension.replace('_', ' ')} takes one value, got {len(slugs)}")
    return slugs


def coder_answers(store: Store, coder: str, record_id: int | None = None) -> dict[int, Answers]:
    """record id -> that coder's answers (manual labels, or the paper's for the paper's coder)."""
    out: dict[int, Answers] = defaultdict(dict)
    for row in store.labels(record_id=record_id, coder=coder):
        if row["source"] in CODER_SOURCES and row["dimension"] in DIMENSIONS:
            out[row["record_id"]].setdefault(row["dimension"], []).append(row["value"])
    return dict(out)


def save_answer(store: Store, record_id: int, dimension: str, slugs: list[str], coder: str) -> None:
    """Replace the coder's manual labels of one dimension (an empty list removes them)."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    if not coder:
        raise ValueError("a coder name is required")
    with store.transaction():
        store.set_labels(record_id, dimension, list(slugs), source="manual", coder=coder)


def last_touched_record(store: Store, coder: str) -> int | None:
    """The record the coder saved an answer for most recently, if any."""
    row = store.conn.execute(
        "SELECT record_id FROM labels WHERE coder = ? AND source = 'manual' ORDER BY id DESC LIMIT 1",
        (coder,),
    ).fetchone()
    return row[0] if row else None


def display(dimension: str, slugs: Iterable[str]) -> str:
    """Display names joined for a table cell or a CSV field."""
    return "; ".join(TAXONOMY.resolve(dimension, s).name for s in slugs)
