"""Import the published dataset of Liu et al. (TOSEM 2026) into the store.

Format: UTF-8 with BOM; columns ``URL, repo, Phase, Symptom(s), Unexpected Tokens, Component,
Root Cause(s)``; multi-valued cells joined by ``@@``; ``Component`` aligned one-to-one with
``Root Cause(s)``.
"""
from __future__ import annotations

import csv
import io
import re
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from enginebugs import datasets
from enginebugs.taxonomy import TAXONOMY, UnknownCategory
from enginebugs.taxonomy.textio import TextFileError, decode_utf8
from enginebugs.taxonomy.store import Store

PAPER_REPO = "infbug/bugs-in-LLM-inference-engines"
PAPER_URL = f"https://raw.githubusercontent.com/{PAPER_REPO}/main/dataset.csv"
COLUMNS = ("URL", "repo", "Phase", "Symptom(s)", "Unexpected Tokens", "Component", "Root Cause(s)")
SEP = "@@"
PAPER_CODER = "liu-et-al-2026"
#: The store collection the paper's bugs belong to.
COLLECTION = "paper"

#: The dataset's repo spellings (lower-cased) -> engine display names.
ENGINE_NAMES = {
    "llama.cpp": "llama.cpp",
    "vllm": "vLLM",
    "deepspeed": "DeepSpeed",
    "mlc-llm": "MLC-LLM",
    "tensorrt-llm": "TensorRT-LLM",
}
ISSUE_URL = re.compile(r"^https://github\.com/([\w.-]+/[\w.-]+)/(issues|pull)/(\d+)/?$")


class DatasetError(ValueError):
    """A malformed row or unknown category; names the line."""


@dataclass(frozen=True)
class PaperBug:
    url: str
    engine: str
    repo: str
    number: int
    kind: str
    labels: dict[str, list[str]]  # dimension -> taxonomy slugs, in the file's order


def shipped_dataset() -> Path:
    """The copy of dataset.csv that ships with enginebugs (see datasets/paper/PROVENANCE.md)."""
    return datasets.path(*datasets.PAPER_DATASET)


def read_text(source: str) -> str:
    """Read a local path, or download an ``http(s)://`` URL (the paper's repository)."""
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=60) as resp:  # noqa: S310 - user-given URL
            data = resp.read()
    else:
        if not Path(source).is_file():
            raise DatasetError(f"no such file: {source}")
        data = Path(source).read_bytes()
    try:
        return decode_utf8(data, source)
    except TextFileError as exc:
        raise DatasetError(str(exc)) from None


def _split(cell: str) -> list[str]:
    return [v.strip() for v in cell.split(SEP) if v.strip()]


def parse(text: str) -> list[PaperBug]:
    """Parse and validate the whole file; raise :class:`DatasetError` naming the first bad line."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DatasetError(f"line 1: missing column(s) {', '.join(missing)}")
    bugs: dict[str, tuple[int, PaperBug]] = {}
    for row in reader:
        line = reader.line_num
        try:
            bug = _parse_row(row)
        except (UnknownCategory, DatasetError) as exc:
            raise DatasetError(f"line {line}: {exc}") from None
        if bug.url in bugs:
            first, earlier = bugs[bug.url]
            if earlier != bug:
                raise DatasetError(f"lines {first} and {line}: {bug.url} appears twice with different labels")
            continue  # an identical repeat row adds nothing
        bugs[bug.url] = (line, bug)
    return [bug for _, bug in bugs.values()]


def _parse_row(row: dict[str, str]) -> PaperBug:
    url = (row["URL"] or "").strip()
    match = ISSUE_URL.match(url)
    if not match:
        raise DatasetError(f"not a GitHub issue URL: {url!r}")
    engine = ENGINE_NAMES.get((row["repo"] or "").strip().lower())
    if engine is None:
        raise DatasetError(f"unknown repo {row['repo']!r}")
    causes = _split(row["Root Cause(s)"])
    components = _split(row["Component"])
    symptoms = _split(row["Symptom(s)"])
    phases = _split(row["Phase"])
    if not causes or not symptoms or len(phases) != 1:
        raise DatasetError("needs at least one symptom, one root cause and exactly one phase")
    if len(components) != len(causes):
        raise DatasetError(f"{len(components)} component(s) for {len(causes)} root cause(s)")
    labels = {
        "symptom": [TAXONOMY.resolve("symptom", s).slug for s in symptoms],
        "root_cause": [TAXONOMY.resolve("root_cause", c).slug for c in causes],
        "component": [TAXONOMY.resolve("component", c).slug for c in components],
        "phase": [TAXONOMY.resolve("phase", p).slug for p in phases],
        "output_subtype": [TAXONOMY.resolve("output_subtype", t).slug for t in _split(row["Unexpected Tokens"])],
    }
    repo, kind, number = match.group(1), match.group(2), int(match.group(3))
    return PaperBug(url, engine, repo, number, "pr" if kind == "pull" else "issue", labels)


def import_into(store: Store, bugs: list[PaperBug]) -> tuple[int, int]:
    """Write bugs and their paper labels in one transaction; return (new, already present)."""
    new = 0
    with store.transaction():
        for bug in bugs:
            existed = store.get_record(bug.url) is not None
            record_id = store.upsert_record(
                {"url": bug.url, "engine": bug.engine, "repo": bug.repo, "number": bug.number, "kind": bug.kind,
                 "collection": COLLECTION}
            )
            for dimension, values in bug.labels.items():
                store.set_labels(record_id, dimension, values, source="paper", coder=PAPER_CODER)
            new += not existed
    return new, len(bugs) - new
