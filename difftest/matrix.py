"""``enginebugs difftest matrix PLAN.toml``: models x engine versions x suites, each cell a full run
of the plan's configurations (local workers or Ray actors), resumable, one merged report.

A plan::

    executor = "local"                    # or "ray" (ray_address = "auto" for a cluster)
    models = ["tiny"]                     # names, or ModelSpec .json files (relative to the plan)
    suites = ["smoke", "default"]
    configurations = ["transformers:f32", "llamacpp:f32", "llamacpp:q8_0"]
    profile = "default"                   # seed, timeout, threads, plugins, reference: as `difftest run`

    [versions.installed]                  # engine versions: environment variables of the workers,
    [versions.vllm-old]                   # e.g. another interpreter (venv) for an engine
    env = { ENGINEBUGS_VLLM_PYTHON = "/opt/venvs/vllm-0.31/bin/python" }

    [ray.resources]                       # optional, as --ray-resources
    "vllm" = "gpus:2,cpus:8"

Each finished cell is written to ``OUT/cells/<cell>.json`` (atomically, with the digest of what it
ran); a rerun skips cells whose file has the same digest, so an interrupted matrix resumes where it
stopped. ``OUT/matrix.json`` and ``OUT/matrix.md`` merge every cell: per cell its status and
findings, and per finding fingerprint the cells where it occurs (which cells diverge from which).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from enginebugs.taxonomy.textio import TextFileError, read_toml

SCHEMA = "enginebugs.difftest.matrix/1"
KNOWN_KEYS = {"executor", "ray_address", "models", "suites", "configurations", "profile", "tolerances", "seed",
              "timeout", "threads", "plugins", "reference", "versions", "ray"}


class PlanError(ValueError):
    """A plan that cannot be run (one line, shown as ``error: ...``)."""


@dataclass(frozen=True)
class Cell:
    model: str
    version: str
    suite: str

    @property
    def id(self) -> str:
        return "__".join(re.sub(r"[^A-Za-z0-9._-]+", "-", Path(p).stem if p.endswith(".json") else p)
                         for p in (self.model, self.version, self.suite))


@dataclass
class Plan:
    path: Path
    models: list[str]
    suites: list[str]
    configurations: list[str]
    versions: dict[str, dict[str, str]]
    executor: str = "local"
    ray_address: str | None = None
    ray_resources: tuple[str, ...] = ()
    ray_replicas: int = 1
    profile: str = "default"
    tolerances: str | None = None
    seed: int = 0
    timeout: float = 300.0
    threads: int = 1
    plugins: tuple[str, ...] = ()
    reference: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def cells(self) -> list[Cell]:
        return [Cell(m, v, s) for m in self.models for v in self.versions for s in self.suites]

    def digest(self, cell: Cell) -> str:
        """What a cell's result depends on: a finished cell with another digest is run again."""
        keep = {k: v for k, v in self.raw.items() if k not in ("models", "suites", "versions", "executor", "ray",
                                                                "ray_address")}
        key = [keep, cell.model, cell.version, self.versions[cell.version], cell.suite]
        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_plan(path: str | Path) -> Plan:
    """Read and check a plan; every problem is a :class:`PlanError` naming the key."""
    path = Path(path)
    try:
        raw = read_toml(path)
    except TextFileError as exc:
        raise PlanError(f"plan: {exc}") from None
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise PlanError(f"plan {path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_KEYS))}")

    def strings(key: str, default: list[str] | None = None) -> list[str]:
        value = raw.get(key, default)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise PlanError(f"plan {path}: {key} must be a non-empty list of strings")
        return value
    versions = raw.get("versions", {"installed": {}})
    if not isinstance(versions, dict) or not versions:
        raise PlanError(f"plan {path}: [versions] must name at least one version")
    envs: dict[str, dict[str, str]] = {}
    for name, table in versions.items():
        env = table.get("env", {}) if isinstance(table, dict) else None
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise PlanError(f"plan {path}: versions.{name}.env must be a table of strings")
        envs[name] = dict(env)
    executor = raw.get("executor", "local")
    if executor not in ("local", "ray"):
        raise PlanError(f"plan {path}: executor must be local or ray, not {executor!r}")
    ray = raw.get("ray", {})
    resources = ray.get("resources", {}) if isinstance(ray, dict) else {}
    models = [str((path.parent / m).resolve()) if m.endswith(".json") else m for m in strings("models")]
    try:
        return Plan(path, models, strings("suites", ["default"]), strings("configurations"), envs, executor,
                    raw.get("ray_address"), tuple(f"{k}={v}" for k, v in resources.items()),
                    int(ray.get("replicas", 1)) if isinstance(ray, dict) else 1, str(raw.get("profile", "default")),
                    raw.get("tolerances"), int(raw.get("seed", 0)), float(raw.get("timeout", 300.0)),
                    int(raw.get("threads", 1)), tuple(raw.get("plugins", ())), raw.get("reference"), raw)
    except (TypeError, ValueError) as exc:
        raise PlanError(f"plan {path}: {exc}") from None


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """``env`` set for the duration (local workers inherit it when they start)."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ------------------------------------------------------------------------------------------ running
CellRunner = Callable[[Plan, Cell], dict[str, Any]]


def run_matrix(plan: Plan, out: Path, run_cell: CellRunner, *, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every cell not already finished, then write and return the merged report."""
    cells_dir = out / "cells"
    cells_dir.mkdir(parents=True, exist_ok=True)
    for cell in plan.cells():
        target, digest = cells_dir / f"{cell.id}.json", plan.digest(cell)
        if _finished(target, digest):
            log(f"{cell.id}: finished earlier, skipped")
            continue
        log(f"{cell.id}: running")
        results = run_cell(plan, cell)
        results["matrix_cell"] = {"id": cell.id, "model": cell.model, "version": cell.version, "suite": cell.suite,
                                  "digest": digest}
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, target)  # a cell is either finished or absent, never half-written
    return write_report(plan, out)


def _finished(target: Path, digest: str) -> bool:
    try:
        return json.loads(target.read_text(encoding="utf-8")).get("matrix_cell", {}).get("digest") == digest
    except (OSError, ValueError):
        return False


def write_report(plan: Plan, out: Path) -> dict[str, Any]:
    """``matrix.json`` and ``matrix.md`` from the plan's finished cells."""
    rows, where = [], {}
    for cell in plan.cells():
        path = out / "cells" / f"{cell.id}.json"
        if not path.is_file():
            rows.append({"cell": cell.id, "model": cell.model, "version": cell.version, "suite": cell.suite,
                         "status": "not run", "findings": None, "configs": {}})
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        for f in data.get("findings", []):
            key = f.get("fingerprint") or f"{f['oracle']}:{','.join(f['configs'])}"
            entry = where.setdefault(key, {"fingerprint": key, "oracle": f["oracle"], "configs": f["configs"],
                                           "symptom": f.get("symptom"), "cells": []})
            if cell.id not in entry["cells"]:
                entry["cells"].append(cell.id)
        rows.append({"cell": cell.id, "model": cell.model, "version": cell.version, "suite": cell.suite,
                     "status": "finished", "findings": len(data.get("findings", [])),
                     "configs": {c["label"]: c["status"] for c in data.get("run", {}).get("configs", [])}})
    report = {"schema": SCHEMA, "plan": str(plan.path), "executor": plan.executor, "cells": rows,
              "divergences": sorted(where.values(), key=lambda e: (-len(e["cells"]), e["oracle"], e["configs"]))}
    (out / "matrix.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "matrix.md").write_text(markdown(report), encoding="utf-8")
    return report


def markdown(report: dict[str, Any]) -> str:
    cells = [r["cell"] for r in report["cells"]]
    lines = [f"# Difftest matrix ({report['executor']})", "", "| cell | model | version | suite | status | findings |",
             "|---|---|---|---|---|---|"]
    for r in report["cells"]:
        lines.append(f"| {r['cell']} | {r['model']} | {r['version']} | {r['suite']} | {r['status']} | "
                     f"{'' if r['findings'] is None else r['findings']} |")
    lines += ["", "## Which cells diverge (finding x cell)", "",
              "| oracle | configurations | " + " | ".join(f"c{i + 1}" for i in range(len(cells))) + " |",
              "|---|---|" + "---|" * len(cells)]
    for e in report["divergences"]:
        marks = " | ".join("x" if c in e["cells"] else "" for c in cells)
        lines.append(f"| {e['oracle']} | {' vs '.join(e['configs'])} | {marks} |")
    lines += [""] + [f"- c{i + 1}: {c}" for i, c in enumerate(cells)] + [""]
    return "\n".join(lines)
