"""One results file from the campaign's parts: findings renumbered, oracle summaries and pair
metrics concatenated (each tagged with its part), and the ``campaign`` section the report reads."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from enginebugs.difftest.findings import Finding
from enginebugs.difftest.protocol import ModelSpec
from enginebugs.difftest.results import SCHEMA
from enginebugs.difftest.suites import Suite


def _numbers(seq: Any) -> bool:
    return isinstance(seq, list) and bool(seq) and all(isinstance(x, int) for x in seq)


def add_pieces(findings: list[dict[str, Any]], pieces: Callable[[list[int]], list[str]]) -> None:
    """Add the decoded text of every token in each first-divergence context (token ids only;
    character contexts of decode findings are already text)."""
    for f in findings:
        div = f.get("first_divergence")
        if not div:
            continue
        for side in ("expected", "actual"):
            ctx = div.get(f"{side}_context")
            if _numbers(ctx):
                try:
                    div[f"{side}_pieces"] = pieces(ctx)
                except Exception:  # noqa: BLE001 - an id outside the vocabulary: leave the ids alone
                    pass


def summary(findings: list[dict[str, Any]], oracles: list[dict[str, Any]]) -> dict[str, Any]:
    return {"findings": len(findings), "by_oracle": dict(Counter(f["oracle"] for f in findings)),
            "by_pair": dict(Counter(" vs ".join(f["configs"]) for f in findings)),
            "oracles": dict(Counter(o["status"] for o in oracles))}


def merge_parts(parts: list, model: ModelSpec, suite: Suite, options: Any, plan: Any, started: dt.datetime,
                notes: list[str]) -> dict[str, Any]:
    findings, oracles, pairs, configs = [], [], [], []
    for part in parts:
        if part.result is None:
            continue
        d = part.result.to_dict()
        findings += [{**f, "part": part.name} for f in d["findings"]]
        oracles += [{**o, "part": part.name} for o in d["oracles"]]
        pairs += [{**m, "part": part.name} for m in d["metrics"]["pairs"]]
        configs += [{**c, "part": part.name} for c in d["run"]["configs"]]
    judged = {o["oracle"] for o in oracles if o["configs"]}
    oracles = [o for o in oracles if o["configs"] or o["oracle"] not in judged]  # drop "needs a pair" placeholders
    unique = {(o["oracle"], tuple(o["configs"]), o.get("part") if o["configs"] else None): o for o in oracles}
    oracles = list(unique.values())
    run_id = f"{started.strftime('%Y%m%dT%H%M%SZ')}-campaign-{model.name}"
    for n, f in enumerate(findings, start=1):
        f["id"], f["url"] = n, f"difftest://{run_id}/{n}"
    by_name = {p.name: p for p in parts}
    run = {
        "id": run_id, "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "finished_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": options.command, "model": {k: v for k, v in model.to_dict().items() if k != "files"},
        "suite": suite.to_dict(), "strings": 0, "seed": options.seed, "profile": options.profile.name,
        "tolerances": options.profile.to_dict(), "reference": plan.reference.label, "configs": configs,
        "timings": {f"{p.name}_s": round(p.wall_s, 3) for p in parts},
    }
    campaign = {
        "model": model.name, "files": {k: str(v) for k, v in model.files.items()},
        "parts": [p.row() for p in parts],
        "plan": {"logits": [c.label for c in plan.logit_all], "cache": [c.label for c in plan.cache_all]},
        "tokenizer": by_name["tokenizer"].extra if "tokenizer" in by_name else {},
        "logits": by_name["logits"].extra if "logits" in by_name else {},
        "cache": by_name["cache"].extra if "cache" in by_name else {},
        "notes": list(notes), "reproductions": [],
    }
    return {"schema": SCHEMA, "run": run, "findings": findings, "oracles": oracles, "metrics": {"pairs": pairs},
            "summary": summary(findings, oracles), "campaign": campaign}


def as_findings(results: dict[str, Any]) -> list[Finding]:
    """The merged findings as :class:`Finding` objects (for the store)."""
    names = {f.name for f in fields(Finding)}
    return [Finding(**{k: v for k, v in f.items() if k in names}) for f in results["findings"]]
