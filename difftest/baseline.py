"""CI baselines: accepted findings a team commits, so a run fails only on *new* findings.

Findings are grouped NNSmith-style: one divergence seen through several oracles or prompts (the
llama-cpp-python long-piece bug fires ``tokenization.decode`` and ``tokenization.round_trip``; a
quantized kernel's batch-shape variance fires ``precision.knobs`` and ``cache.chunked_prefill``
for every knob pair) is one *group*, keyed by the configuration under test without its knobs
(``llamacpp:q4_K[n_batch=8]`` -> ``llamacpp:q4_K``), the root cause and the divergence class.
Each group lists the :attr:`Finding.fingerprint` of its members and their occurrences.

A baseline file (JSON, or TOML with the same keys) holds groups under ``known``; an optional
``reason`` per group is shown as the JUnit skip message. A finding is *known* when its fingerprint
is listed, or its group is (the same divergence through another oracle); a baseline group the run
no longer produces is *fixed*.
"""
from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from enginebugs.difftest.findings import Finding

SCHEMA = "enginebugs.difftest.baseline/1"


class BaselineError(ValueError):
    """A baseline file that cannot be read (the message names the file)."""


def base_config(label: str) -> str:
    """A configuration label without its knobs: ``llamacpp:q4_K[n_batch=8]`` -> ``llamacpp:q4_K``."""
    return re.sub(r"\[.*\]$", "", label)


def group_key(finding: Finding) -> str:
    """The divergence a finding shows, whatever oracle or prompt showed it."""
    key = json.dumps([base_config(finding.configs[-1]), finding.root_cause, finding.divergence_class])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


@dataclass
class Group:
    """One divergence: its member findings' fingerprints (-> ``oracle: configs``) and occurrences."""

    key: str
    configuration: str
    root_cause: str
    divergence_class: str
    fingerprints: dict[str, str] = field(default_factory=dict)
    occurrences: int = 0
    title: str = ""
    reason: str = ""
    finding_ids: list[int] = field(default_factory=list)

    def to_dict(self, with_ids: bool = True) -> dict[str, Any]:
        d = {"group": self.key, "configuration": self.configuration, "root_cause": self.root_cause,
             "divergence_class": self.divergence_class, "occurrences": self.occurrences,
             "fingerprints": dict(sorted(self.fingerprints.items())), "title": self.title}
        if self.reason:
            d["reason"] = self.reason
        if with_ids:
            d["findings"] = list(self.finding_ids)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Group":
        fps = d.get("fingerprints", {})
        if isinstance(fps, list):  # a hand-written baseline may list bare fingerprints
            fps = {fp: "" for fp in fps}
        return cls(str(d["group"]), str(d.get("configuration", "")), str(d.get("root_cause", "")),
                   str(d.get("divergence_class", "")), {str(k): str(v) for k, v in fps.items()},
                   int(d.get("occurrences", 0)), str(d.get("title", "")), str(d.get("reason", "")))


def group_findings(findings: Iterable[Finding]) -> list[Group]:
    """Findings grouped by :func:`group_key`, in order of first appearance."""
    groups: dict[str, Group] = {}
    for f in findings:
        key = group_key(f)
        g = groups.get(key)
        if g is None:
            g = groups[key] = Group(key, base_config(f.configs[-1]), f.root_cause, f.divergence_class, title=f.title)
        g.fingerprints[f.fingerprint] = f"{f.oracle}: {' vs '.join(f.configs)}"
        g.occurrences += f.occurrences
        g.finding_ids.append(f.id)
    return list(groups.values())


def baseline_dict(run: dict[str, Any], findings: list[Finding]) -> dict[str, Any]:
    """The baseline of one run's findings (no run id or times: it changes only when findings do)."""
    return {"schema": SCHEMA, "model": run.get("model", {}).get("name", ""), "profile": run.get("profile", ""),
            "known": [g.to_dict(with_ids=False) for g in group_findings(findings)]}


def write_baseline(path: str | Path, run: dict[str, Any], findings: list[Finding]) -> None:
    Path(path).write_text(json.dumps(baseline_dict(run, findings), indent=1, ensure_ascii=False) + "\n",
                          encoding="utf-8")


def load_baseline(path: str | Path) -> list[Group]:
    """The known groups of a baseline file (``.toml`` or JSON); :class:`BaselineError` when unreadable."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
        data = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
        if data.get("schema", SCHEMA) != SCHEMA:
            raise ValueError(f"schema {data.get('schema')!r}, expected {SCHEMA}")
        return [Group.from_dict(g) for g in data.get("known", [])]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc}") from None


@dataclass
class Comparison:
    """A run's findings against a baseline: known finding id -> reason, and baseline groups not seen."""

    source: str
    known: dict[int, str]
    fixed: list[Group]

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.source, "known": sorted(self.known), "fixed": [g.to_dict(with_ids=False) for g in self.fixed]}


def compare(findings: list[Finding], baseline: list[Group], source: str = "") -> Comparison:
    by_fp = {fp: g for g in baseline for fp in g.fingerprints}
    by_key = {g.key: g for g in baseline}
    seen: set[str] = set()
    known: dict[int, str] = {}
    for f in findings:
        g = by_fp.get(f.fingerprint) or by_key.get(group_key(f))
        if g is None:
            continue
        seen.add(g.key)
        how = "listed" if f.fingerprint in g.fingerprints else "same divergence as baseline group"
        known[f.id] = f"known ({how} {g.key}{' in ' + source if source else ''})" + (f": {g.reason}" if g.reason else "")
    return Comparison(source, known, [g for g in baseline if g.key not in seen])
