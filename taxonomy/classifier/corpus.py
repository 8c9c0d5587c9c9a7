"""Labelled examples for the classifier: the seed corpus, external JSONL files, or the store."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from enginebugs import datasets
from enginebugs.taxonomy import TAXONOMY, UnknownCategory
from enginebugs.taxonomy.store import Store
from enginebugs.taxonomy.textio import TextFileError, read_utf8

SEED_CORPUS = datasets.path("seed_reports.jsonl")
#: Store label sources in order of trust; the first that labels a record wins.
TRUSTED_SOURCES = ("arbitration", "paper", "manual")


class CorpusError(ValueError):
    """A malformed line of a JSONL corpus; names the line."""


@dataclass(frozen=True)
class Example:
    text: str
    symptoms: tuple[str, ...]  # taxonomy slugs, first is the primary one
    root_causes: tuple[str, ...]
    url: str | None = None

    def target(self, name: str) -> str:
        """The primary label of one target."""
        if name == "symptom":
            return self.symptoms[0]
        if name == "root_cause":
            return self.root_causes[0]
        if name == "root_cause_group":
            return TAXONOMY.group_of(self.root_causes[0]).slug
        raise ValueError(f"unknown target {name!r}")


def compose_text(title: str | None, body: str | None, comments=None) -> str:
    """What the classifier reads: title, body and comment bodies."""
    parts = [title or "", body or ""]
    for comment in comments or ():
        parts.append(comment.get("body", "") if isinstance(comment, dict) else str(comment))
    return "\n".join(p for p in parts if p)


def load_jsonl(path: str | Path) -> list[Example]:
    """Read ``title, text, symptoms, root_causes`` (display names or slugs) per line."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"no such file: {path}")
    try:
        text = read_utf8(path)
    except TextFileError as exc:
        raise CorpusError(str(exc)) from None
    examples = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            examples.append(_example(json.loads(line)))
        except (json.JSONDecodeError, UnknownCategory, KeyError, TypeError, ValueError) as exc:
            raise CorpusError(f"{path.name} line {number}: {_reason(exc)}") from None
    if not examples:
        raise CorpusError(f"{path}: no examples")
    return examples


def _reason(exc: Exception) -> str:
    return f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)


def _example(obj: dict) -> Example:
    symptoms = tuple(TAXONOMY.resolve("symptom", s).slug for s in obj["symptoms"])
    causes = tuple(TAXONOMY.resolve("root_cause", c).slug for c in obj["root_causes"])
    if not symptoms or not causes:
        raise ValueError("needs at least one symptom and one root cause")
    text = compose_text(obj.get("title"), obj.get("text"), obj.get("comments"))
    if not text.strip():
        raise ValueError("empty title and text")
    return Example(text, symptoms, causes, obj.get("url"))


def from_store(store: Store) -> list[Example]:
    """Records with text and human labels (arbitrated first, then the paper's, then manual)."""
    labels: dict[int, dict[str, dict[str, list[str]]]] = {}
    for row in store.labels():
        if row["source"] in TRUSTED_SOURCES and row["dimension"] in ("symptom", "root_cause"):
            by_source = labels.setdefault(row["record_id"], {}).setdefault(row["dimension"], {})
            by_source.setdefault(f"{row['source']}:{row['coder']}", []).append(row["value"])
    examples = []
    for rec in store.records():
        text = compose_text(rec.get("title"), rec.get("body"), rec.get("comments"))
        found = labels.get(rec["id"], {})
        symptoms, causes = _trusted(found.get("symptom", {})), _trusted(found.get("root_cause", {}))
        if text.strip() and symptoms and causes:
            examples.append(Example(text, symptoms, causes, rec["url"]))
    return examples


def _trusted(by_source: dict[str, list[str]]) -> tuple[str, ...]:
    """The most trusted labelling; manual labels only count when all their coders agree."""
    for source in TRUSTED_SOURCES:
        choices = {tuple(v) for key, v in by_source.items() if key.split(":", 1)[0] == source}
        if len(choices) == 1:
            return choices.pop()
    return ()


def corpus_hash(examples: list[Example]) -> str:
    """A digest of texts and labels: names a model trained on exactly these examples."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(json.dumps([ex.text, ex.symptoms, ex.root_causes]).encode())
    return digest.hexdigest()
