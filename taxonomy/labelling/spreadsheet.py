"""CSV round trip of one coder's labels, for labelling in a spreadsheet.

Columns: ``url, engine, title`` (context, ignored on import) and one column per dimension
holding display names separated by ``;`` (``@@`` as in the paper's file is accepted too).
An import is validated in full first; any bad row aborts it and nothing is written.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

from enginebugs.taxonomy import DIMENSIONS, UnknownCategory
from enginebugs.taxonomy.labelling.coders import UNEXPECTED_OUTPUT, coder_answers, display, to_slugs
from enginebugs.taxonomy.store import Store

CONTEXT_COLUMNS = ("url", "engine", "title")
COLUMNS = (*CONTEXT_COLUMNS, *DIMENSIONS)
_SEPARATOR = re.compile(r";|@@")


class ImportRejected(ValueError):
    """The file has bad rows; ``errors`` holds one message per bad row."""

    def __init__(self, errors: list[str]):
        super().__init__(f"{len(errors)} bad row(s), nothing imported")
        self.errors = errors


@dataclass(frozen=True)
class RowLabels:
    record_id: int
    labels: dict[str, list[str]]  # only the dimensions the row fills


def export_csv(store: Store, coder: str, records: Iterable[dict]) -> str:
    """The given records with the coder's current labels (blank where none)."""
    answers = coder_answers(store, coder)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        mine = answers.get(rec["id"], {})
        row = {"url": rec["url"], "engine": rec["engine"], "title": rec.get("title") or ""}
        row.update({dim: display(dim, mine.get(dim, ())) for dim in DIMENSIONS})
        writer.writerow(row)
    return out.getvalue()


def parse_csv(store: Store, text: str) -> list[RowLabels]:
    """Validate every row against the store and the taxonomy; raise :class:`ImportRejected`."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    fields = reader.fieldnames or []
    if "url" not in fields:
        raise ImportRejected(["line 1: no 'url' column"])
    unknown = [f for f in fields if f not in COLUMNS]
    if unknown:
        raise ImportRejected([f"line 1: unknown column(s) {', '.join(unknown)}; expected {', '.join(COLUMNS)}"])
    rows, errors = [], []
    for row in reader:
        try:
            rows.append(_parse_row(store, row))
        except (UnknownCategory, ValueError) as exc:
            errors.append(f"line {reader.line_num}: {exc}")
    if errors:
        raise ImportRejected(errors)
    return rows


def _parse_row(store: Store, row: dict[str, str]) -> RowLabels:
    url = (row.get("url") or "").strip()
    record = store.get_record(url) if url else None
    if record is None:
        raise ValueError(f"no record with url {url!r} in the store")
    labels = {}
    for dim in DIMENSIONS:
        names = [v for v in _SEPARATOR.split(row.get(dim) or "") if v.strip()]
        if names:
            labels[dim] = to_slugs(dim, names)
    if labels.get("output_subtype") and UNEXPECTED_OUTPUT not in labels.get("symptom", [UNEXPECTED_OUTPUT]):
        raise ValueError("an output subtype needs the symptom Unexpected Output")
    return RowLabels(record["id"], labels)


def import_rows(store: Store, coder: str, rows: list[RowLabels]) -> int:
    """Write the parsed rows as the coder's manual labels in one transaction; return labels set."""
    written = 0
    with store.transaction():
        for row in rows:
            for dim, slugs in row.labels.items():
                store.set_labels(row.record_id, dim, slugs, source="manual", coder=coder)
                written += 1
    return written
