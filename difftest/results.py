"""The result of one run and its JSON form (schema ``enginebugs.difftest/1``).

Top-level object::

    {"schema": "enginebugs.difftest/1",
     "run":      {id, started_at, finished_at, command, model{name, recipe_hash, ...}, suite{...}, strings, seed,
                  profile, tolerances{name, classes{pair class: thresholds}}, reference,
                  configs[{label, engine, dtype, options, status, skip_reason, capabilities, fingerprint,
                           load_s, engine_s, calls}], timings{start_s, record_s, judge_s, engine_s}, wall_s},
     "findings": [{id, url, oracle, configs, engines, symptom, output_subtype, root_cause, root_cause_group,
                   component, phase, message, title, prompt, first_divergence, metrics, occurrences, checks,
                   examples[{prompt, message}]}],
     "oracles":  [{oracle, family, description, configs, engines, status: pass|fail|skip, checks, passed,
                   failed, skipped, reason}],
     "metrics":  {"pairs": [{expected, actual, pair_class, oracle, tolerance, positions,
                             max_abs_logprob_delta{generation, scores}, worst_prompt (index),
                             kld{mean, mean_err, max, min, median, p99.9, p99, p95, p90, p50, p10, p5, p1},
                             same_top1_pct, same_top1_err,
                             delta_p{mean, mean_err, rms, max, min, median, p99.9, ...}}]},
     "groups":   [{group, configuration, root_cause, divergence_class, occurrences, fingerprints{fp: "oracle: configs"},
                   title, findings[id]}]   (NNSmith-style: one divergence seen through several oracles/prompts)
     "baseline": {file, known[finding id], fixed[group]}   (only with --baseline)
     "summary":  {findings, new, known, fixed, groups, by_oracle{oracle: n}, by_pair{"a vs b": n},
                  oracles{pass, fail, skip}}}
   Each finding also carries "group", "status" (new|known) and, when known, "known_reason".

``reports`` reads this file (``report difftest``); keep changes additive.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from enginebugs.difftest.baseline import Comparison, Group, compare, group_findings, group_key
from enginebugs.difftest.catalogue import COMPONENT_OF_METHOD, COMPONENT_OF_ROOT_CAUSE, ORACLES, ROOT_CAUSE_OF_METHOD
from enginebugs.difftest.findings import Finding
from enginebugs.difftest.protocol import single_method

SCHEMA = "enginebugs.difftest/1"
#: Oracles that only exist for some configuration sets, and how to get them.
NEEDS_PAIR = {
    "cache.chunked_prefill": "no two configurations of one engine and dtype differing only in chunking knobs "
                             "(add e.g. llamacpp:f32:n_batch=8)",
    "cache.use_cache": "no configuration with use_cache=false beside its base (add e.g. transformers:f32:use_cache=false)",
    "precision.knobs": "no two configurations of one engine and dtype differing in other knobs (e.g. threads=1)",
}


@dataclass
class RunResult:
    run: dict[str, Any]
    findings: list[Finding]
    oracles: list[dict[str, Any]]
    metrics: dict[str, Any]
    comparison: Comparison | None = None  # set by apply_baseline()

    def apply_baseline(self, baseline: list[Group], source: str = "") -> None:
        """Mark the findings ``baseline`` lists (or whose divergence group it lists) as known."""
        self.comparison = compare(self.findings, baseline, source)

    def known_reason(self, finding: Finding) -> str | None:
        """Why ``finding`` is known (the baseline's words), or None when it is new."""
        return self.comparison.known.get(finding.id) if self.comparison else None

    @property
    def new_findings(self) -> list[Finding]:
        return [f for f in self.findings if self.known_reason(f) is None]

    @property
    def known_findings(self) -> list[Finding]:
        return [f for f in self.findings if self.known_reason(f) is not None]

    def describe_new(self) -> str:
        """One line per new finding (for an assertion message)."""
        return "\n".join(f"#{f.id} {f.fingerprint} {f.title}" for f in self.new_findings) or "no new finding"

    @property
    def exit_code(self) -> int:
        """1 when there is a new finding (every finding is new without a baseline), else 0."""
        return 1 if self.new_findings else 0

    def summary(self) -> dict[str, Any]:
        return {"findings": len(self.findings), "new": len(self.new_findings), "known": len(self.known_findings),
                "fixed": len(self.comparison.fixed) if self.comparison else 0,
                "groups": len(group_findings(self.findings)),
                "by_oracle": dict(Counter(f.oracle for f in self.findings)),
                "by_pair": dict(Counter(" vs ".join(f.configs) for f in self.findings)),
                "oracles": dict(Counter(o["status"] for o in self.oracles))}

    def to_dict(self) -> dict[str, Any]:
        findings = []
        for f in self.findings:
            reason = self.known_reason(f)
            findings.append({**f.to_dict(), "group": group_key(f), "status": "known" if reason else "new",
                             **({"known_reason": reason} if reason else {})})
        out = {"schema": SCHEMA, "run": self.run, "findings": findings,
               "groups": [g.to_dict() for g in group_findings(self.findings)],
               "oracles": self.oracles, "metrics": self.metrics, "summary": self.summary()}
        if self.comparison:
            out["baseline"] = self.comparison.to_dict()
        return out

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False, default=_jsonable) + "\n",
                              encoding="utf-8")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def load_results(path: str | Path) -> dict[str, Any]:
    """A results file as a dict; raises ValueError when it is not one of ours."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(f"{path} is not a difftest results file (schema {SCHEMA})")
    return data


def _finding_from(outcome: Any) -> Finding:
    info = ORACLES[outcome.oracle]
    v = outcome.verdict
    component = info.component
    if info.family == "tokenization":
        component = COMPONENT_OF_ROOT_CAUSE.get(v.root_cause, component)
    return Finding(outcome.oracle, list(outcome.configs), list(outcome.engines), info.symptom,
                   v.root_cause or "incorrect-algorithm-implementation", component, v.message, info.output_subtype,
                   outcome.prompt, v.divergence, dict(v.metrics))


def _failure_finding(f: Any) -> Finding:
    text = f"{f.message}\n{f.stderr_tail}".lower()
    method = single_method(f.method)  # a batch call is attributed like its single call
    if f.kind == "hang":
        oracle, root = "engine.hang", "incorrect-synchronization"
    else:
        oracle = "engine.crash" if f.kind == "crash" else "engine.error"
        oom = "out of memory" in text or "memoryerror" in text or f.returncode == -9
        root = "incorrect-resource-allocation" if oom else ROOT_CAUSE_OF_METHOD.get(method, "incorrect-algorithm-implementation")
    info = ORACLES[oracle]
    message = f"{f.message} (during {f.method}" + (f", {f.count} times" if f.count > 1 else "") + ")"
    if f.stderr_tail:
        message += f"\nstderr tail:\n{f.stderr_tail[-1500:]}"
    return Finding(oracle, [f.label], [f.engine], info.symptom, root, COMPONENT_OF_METHOD.get(method, info.component),
                   message, None, None, None, {"method": f.method, "returncode": f.returncode, "count": f.count},
                   occurrences=f.count)


def assemble(run: dict[str, Any], outcomes: list, failures: list, pair_metrics: list[dict[str, Any]],
             wall_s: float) -> RunResult:
    """Group outcomes by (oracle, configurations) into oracle summaries and findings."""
    groups: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
    findings: dict[tuple[str, tuple[str, ...]], Finding] = {}
    for o in outcomes:
        key = (o.oracle, o.configs)
        g = groups.setdefault(key, {"oracle": o.oracle, "family": ORACLES[o.oracle].family,
                                    "description": ORACLES[o.oracle].description, "configs": list(o.configs),
                                    "engines": list(o.engines), "status": "skip", "checks": 0, "passed": 0,
                                    "failed": 0, "skipped": 0, "reason": ""})
        g["checks"] += 1
        if o.skipped is not None:
            g["skipped"] += 1
            g["reason"] = g["reason"] or o.skipped
        elif o.verdict.ok:
            g["passed"] += 1
        else:
            g["failed"] += 1
            if key in findings:
                findings[key].add_example(o.prompt, o.verdict.message)
            else:
                findings[key] = _finding_from(o)
    for key, g in groups.items():
        g["status"] = "fail" if g["failed"] else "pass" if g["passed"] else "skip"
        if key in findings:
            findings[key].checks = g["passed"] + g["failed"]
        if g["status"] != "skip" and g["skipped"] == 0:
            g["reason"] = ""
    seen = {k[0] for k in groups}
    summaries = list(groups.values()) + [
        {"oracle": name, "family": ORACLES[name].family, "description": ORACLES[name].description, "configs": [],
         "engines": [], "status": "skip", "checks": 0, "passed": 0, "failed": 0, "skipped": 0, "reason": reason}
        for name, reason in NEEDS_PAIR.items() if name not in seen]
    failed_configs = {f.label for f in failures}
    for c in run.get("configs", []):
        summaries.append({"oracle": "engine.crash", "family": "engine", "description": "worker survived every call",
                          "configs": [c["label"]], "engines": [c["engine"]],
                          "status": "fail" if c["label"] in failed_configs else
                          "skip" if c["status"] == "unsupported" else "pass",
                          "checks": 1, "passed": int(c["status"] == "ok" and c["label"] not in failed_configs),
                          "failed": int(c["label"] in failed_configs), "skipped": int(c["status"] == "unsupported"),
                          "reason": c.get("skip_reason", "")})
    all_findings = [_failure_finding(f) for f in failures] + list(findings.values())
    for n, f in enumerate(all_findings, start=1):
        f.id, f.url = n, f"difftest://{run['id']}/{n}"
    run["wall_s"] = round(wall_s, 3)
    return RunResult(run, all_findings, summaries, {"pairs": pair_metrics})
