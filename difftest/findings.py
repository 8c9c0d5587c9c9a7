"""Findings: one record per oracle and configuration set that fired, tagged with the taxonomy.

A finding groups every failing check of one oracle on one set of configurations (e.g. every
string the two tokenizers disagree on); ``prompt``, ``first_divergence`` and ``message`` describe
the first failure, ``examples`` a few more. :func:`save_findings` writes them into the same store
as mined bugs (kind ``difftest``, labels with source ``difftest``) in one transaction.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from enginebugs.taxonomy import TAXONOMY, engines

PHASE = "inference-serving"
LABEL_CODER = "enginebugs-difftest"
MAX_EXAMPLES = 3


def display_engine(name: str) -> str:
    """The store's ``engine`` name of a configuration's engine (``llamacpp@0.3.16`` -> ``llama.cpp``)."""
    return engines.display(name.split("@", 1)[0])


@dataclass
class Finding:
    """One oracle that fired on one set of configurations (``configs[0]`` is the expected side
    of a pair, ``configs[-1]`` the side under test)."""

    oracle: str
    configs: list[str]
    engines: list[str]
    symptom: str
    root_cause: str
    component: str
    message: str
    output_subtype: str | None = None
    prompt: str | None = None
    first_divergence: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    occurrences: int = 1
    checks: int = 1
    examples: list[dict[str, Any]] = field(default_factory=list)
    phase: str = PHASE
    id: int = 0
    url: str = ""

    def __post_init__(self) -> None:
        for dim, slug in (("symptom", self.symptom), ("root_cause", self.root_cause),
                          ("component", self.component), ("phase", self.phase)):
            TAXONOMY.resolve(dim, slug)
        if self.output_subtype:
            TAXONOMY.resolve("output_subtype", self.output_subtype)

    @property
    def root_cause_group(self) -> str:
        return TAXONOMY.group_of(self.root_cause).slug

    @property
    def divergence_class(self) -> str:
        """What kind of divergence this is, beyond the oracle: an oracle's own class when it gives
        one (``metrics["divergence_class"]``), else the output subtype, else the symptom."""
        return str(self.metrics.get("divergence_class") or self.output_subtype or self.symptom)

    @property
    def fingerprint(self) -> str:
        """Stable identity across reruns and seeds: oracle, configuration labels (versions included),
        root cause and divergence class, never the strings or prompts that triggered it. The store
        deduplicates findings by it and CI baselines list it."""
        key = json.dumps([self.oracle, list(self.configs), self.root_cause, self.divergence_class])
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]

    @property
    def title(self) -> str:
        first = self.message.splitlines()[0] if self.message else ""
        return f"[{self.oracle}] {' vs '.join(self.configs)}: {first}"[:240]

    def add_example(self, prompt: str | None, message: str) -> None:
        self.occurrences += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append({"prompt": prompt, "message": message})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["root_cause_group"] = self.root_cause_group
        d["title"] = self.title
        d["fingerprint"] = self.fingerprint
        d["divergence_class"] = self.divergence_class
        return d

    def body(self) -> str:
        """A readable description for the store's ``body`` column."""
        lines = [self.message, "", f"Oracle: {self.oracle}", f"Configurations: {', '.join(self.configs)}",
                 f"Symptom: {TAXONOMY.resolve('symptom', self.symptom).name}"
                 + (f" ({TAXONOMY.resolve('output_subtype', self.output_subtype).name})" if self.output_subtype else ""),
                 f"Candidate root cause: {TAXONOMY.resolve('root_cause', self.root_cause).name}",
                 f"Component: {TAXONOMY.resolve('component', self.component).name}",
                 f"Failing checks: {self.occurrences} of {self.checks}"]
        if self.prompt is not None:
            lines.append(f"Prompt: {self.prompt!r}")
        if self.first_divergence:
            lines.append(f"First divergence: {self.first_divergence}")
        return "\n".join(lines)


def store_url(model: str, finding: Finding) -> str:
    """The store key of a finding: one record per model and fingerprint, whatever the run."""
    return f"difftest://{model}/{finding.fingerprint}"


def save_findings(db: str | Path, run: dict[str, Any], findings: list[Finding]) -> int:
    """Write every finding of one run into the collection ``difftest:<model>``, all or nothing.
    A finding already stored (same fingerprint) is updated: last seen, runs and occurrences grow,
    first seen stays; a rerun never adds a second record."""
    from enginebugs.taxonomy.store import Store

    model = run.get("model", {}).get("name", "model")
    with Store.open(db) as store, store.transaction():
        for f in findings:
            url = store_url(model, f)
            seen = (store.get_record(url) or {}).get("extra") or {}
            record_id = store.upsert_record({
                "url": url, "engine": display_engine(f.engines[-1]), "repo": f"difftest/{model}",
                "number": None, "kind": "difftest", "title": f.title, "body": f.body(), "state": "open",
                "created_at": seen.get("first_seen") or run.get("started_at"), "updated_at": run.get("finished_at"),
                "collection": f"difftest:{model}",
                "extra": {"finding": f.to_dict(), "run_id": run.get("id"), "profile": run.get("profile"),
                          "fingerprint": f.fingerprint,
                          "first_seen": seen.get("first_seen") or run.get("started_at"),
                          "last_seen": run.get("finished_at"), "runs": int(seen.get("runs", 0)) + 1,
                          "occurrences": int(seen.get("occurrences", 0)) + f.occurrences,
                          "fingerprints": {c["label"]: c.get("fingerprint") for c in run.get("configs", [])
                                           if c["label"] in f.configs}},
            })
            labels = {"symptom": [f.symptom], "root_cause": [f.root_cause], "component": [f.component],
                      "phase": [f.phase], "output_subtype": [f.output_subtype] if f.output_subtype else []}
            for dim, values in labels.items():
                store.set_labels(record_id, dim, values, source="difftest", coder=LABEL_CODER)
    return len(findings)
