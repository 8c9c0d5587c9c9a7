"""One ``difftest serve`` run: start the servers once, send the suite to each, judge, and assemble
the same :class:`~enginebugs.difftest.results.RunResult` as ``difftest run`` (JSON, JUnit, markdown,
store, exit code). Convention differences go to ``metrics["conventions"]``, not to the findings."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections import Counter
from typing import Any, Callable

from enginebugs.difftest.findings import Finding
from enginebugs.difftest.results import RunResult
from enginebugs.difftest.serving import conventions
from enginebugs.difftest.serving.oracles import CLASSES, ORACLES, Check, Reference, judge
from enginebugs.difftest.serving.plan import Recording, record_server
from enginebugs.difftest.serving.servers import Server, ServerUnavailable, started
from enginebugs.difftest.serving.suite import ServingSuite

MAX_EXAMPLES = 3


def reference_for(model) -> tuple[Reference, Callable[[str], list[int]] | None]:
    """The model's own tokenizer and chat template (transformers), where the model has an HF folder."""
    hf = getattr(model, "files", {}).get("hf") if model is not None else None
    if not hf:
        return Reference(), None
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(hf)
    except Exception:  # noqa: BLE001 - no reference is a skip, not a crash
        return Reference(), None

    def chat_ids(messages: list[dict[str, Any]]) -> list[int]:
        if not getattr(tok, "chat_template", None):
            raise LookupError("the model has no chat template")
        ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        ids = ids["input_ids"] if hasattr(ids, "keys") else ids
        return [int(i) for i in ids]

    return (Reference(prompt_tokens=lambda text: len(tok(text)["input_ids"]), chat_ids=chat_ids),
            lambda text: list(tok(text, add_special_tokens=False)["input_ids"]))


def serve_run(model, servers: list[Server], suite: ServingSuite, *, command: str = "", timeout_s: float = 120.0,
              start_timeout_s: float = 300.0, progress: Callable[[str], None] = lambda _: None) -> RunResult:
    """Start ``servers`` (each once), record the suite on each, stop them, judge the recordings."""
    t0 = time.monotonic()
    started_at = dt.datetime.now(dt.timezone.utc)
    reference, tokenize = reference_for(model)
    recordings: list[Recording] = []
    checks: list[Check] = []
    configs: list[dict[str, Any]] = []
    with started(servers, model, progress, start_timeout_s) as (up, failed):
        for s in servers:
            if s.name in failed:
                exc = failed[s.name]
                configs.append(_config(s, "unsupported" if isinstance(exc, ServerUnavailable) else "failed", str(exc)))
                if not isinstance(exc, ServerUnavailable):
                    checks.append(Check("serving.start", (s.label,), False, "start-failed", str(exc)[:2000],
                                        case="start"))
                continue
            t1 = time.monotonic()
            recordings.append(record_server(s, suite, tokenize, timeout_s, progress))
            configs.append(_config(s, "ok", "", time.monotonic() - t1, len(recordings[-1].exchanges)))
            checks.append(Check("serving.start", (s.label,), True, case="start"))
    checks += judge(recordings, suite, reference)
    run = _run_meta(model, suite, configs, started_at, command, reference)
    return assemble(run, checks, time.monotonic() - t0)


def _config(s: Server, status: str, reason: str, engine_s: float = 0.0, calls: int = 0) -> dict[str, Any]:
    return {"label": s.label, "engine": s.name, "dtype": "server", "options": s.request_defaults, "status": status,
            "skip_reason": reason.splitlines()[0] if reason else "", "capabilities": [],
            "fingerprint": s.fingerprint(), "load_s": round(s.start_s, 3), "engine_s": round(engine_s, 3),
            "calls": calls}


def _run_meta(model, suite: ServingSuite, configs: list, started_at: dt.datetime, command: str,
              reference: Reference) -> dict[str, Any]:
    finished = dt.datetime.now(dt.timezone.utc)
    digest = hashlib.sha256(json.dumps([c["label"] for c in configs] + [suite.name, started_at.isoformat()])
                            .encode()).hexdigest()
    model_meta = {k: v for k, v in model.to_dict().items() if k != "files"} if model is not None else {"name": "url"}
    return {"id": f"{started_at.strftime('%Y%m%dT%H%M%SZ')}-{digest[:8]}",
            "started_at": started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "finished_at": finished.strftime("%Y-%m-%dT%H:%M:%SZ"), "command": command, "model": model_meta,
            "suite": {"name": suite.name, "prompts": len(suite.prompts), "chats": len(suite.chats),
                      "invalid": len(suite.invalid)},
            "strings": 0, "seed": 0, "profile": "serving", "tolerances": {},
            "reference": "transformers tokenizer + chat template" if reference.prompt_tokens else None,
            "configs": configs, "timings": {}}


def _finding(c: Check, servers: dict[str, str]) -> Finding:
    symptom, subtype, root, component = CLASSES[c.divergence_class]
    exchanges = [e for e in c.exchanges if e is not None]
    lines = [c.message] + [f"request ({e.server}): {e.curl()}\nresponse: {e.summary()}" for e in exchanges]
    return Finding(c.oracle, list(c.servers), [servers.get(label, label) for label in c.servers], symptom, root,
                   component, "\n".join(lines), subtype, c.case,
                   {"case": c.case, "exchanges": [e.to_dict() for e in exchanges]},
                   {"divergence_class": c.divergence_class})


def assemble(run: dict[str, Any], checks: list[Check], wall_s: float) -> RunResult:
    """Checks -> findings (one per oracle, servers and divergence class), oracle summaries and the
    convention differences."""
    servers = {c["label"]: c["engine"] for c in run["configs"]}
    groups: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
    findings: dict[tuple[str, tuple[str, ...], str], Finding] = {}
    observed: dict[str, dict[str, str]] = {}
    for c in checks:
        if c.convention is not None:
            key, value = c.convention
            observed.setdefault(key, {})[c.servers[0]] = value
            continue
        info = ORACLES[c.oracle]
        g = groups.setdefault((c.oracle, c.servers), {
            "oracle": c.oracle, "family": info.family, "description": info.description, "configs": list(c.servers),
            "engines": [servers.get(s, s) for s in c.servers], "status": "skip", "checks": 0, "passed": 0,
            "failed": 0, "skipped": 0, "reason": ""})
        g["checks"] += 1
        if c.skipped is not None:
            g["skipped"] += 1
            g["reason"] = g["reason"] or c.skipped
        elif c.ok:
            g["passed"] += 1
        else:
            g["failed"] += 1
            key = (c.oracle, c.servers, c.divergence_class)
            if key in findings:
                findings[key].add_example(c.case, c.message)
            else:
                findings[key] = _finding(c, servers)
    for (oracle, labels), g in groups.items():
        g["status"] = "fail" if g["failed"] else "pass" if g["passed"] else "skip"
        for key, f in findings.items():
            if key[:2] == (oracle, labels):
                f.checks = g["passed"] + g["failed"]
    all_findings = list(findings.values())
    for n, f in enumerate(all_findings, start=1):
        f.id, f.url = n, f"difftest://{run['id']}/{n}"
    run["wall_s"] = round(wall_s, 3)
    metrics = {"pairs": [], "conventions": conventions.differences(observed), "observed_conventions": observed,
               "classes": dict(Counter(f.divergence_class for f in all_findings))}
    return RunResult(run, all_findings, list(groups.values()), metrics)
