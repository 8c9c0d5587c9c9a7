"""examples/ci/difftest.yml: its steps' ``run:`` scripts, run with bash in a scratch workspace on
the fake engine with a planted fault (accepted in a baseline), as GitHub would run them: the gate
passes with the fault known, the report and job summary are written; a second, new planted fault
fails the gate while the summary step still runs."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_engine import fake_model
from tests.paths import ROOT

yaml = pytest.importorskip("yaml")  # PyYAML comes with transformers and gguf

WORKFLOW = ROOT / "examples" / "ci" / "difftest.yml"
FAULTS = "enginebugs.difftest.faults:"


def steps() -> dict[str, str]:
    data = yaml.safe_load(WORKFLOW.read_text())
    (job,) = data["jobs"].values()
    return {s["id"]: s["run"] for s in job["steps"] if "id" in s and "run" in s}


def test_workflow_caches_runs_uploads_and_summarises():
    data = yaml.safe_load(WORKFLOW.read_text())
    (job,) = data["jobs"].values()
    uses = [s.get("uses", "") for s in job["steps"]]
    assert any(u.startswith("actions/cache") for u in uses) and any(u.startswith("actions/upload-artifact") for u in uses)
    run = steps()
    assert "--baseline" in run["difftest"] and "GITHUB_STEP_SUMMARY" in run["summary"] and "--html" in run["report"]


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_workflow_steps_gate_on_new_findings_only(tmp_path):
    spec = tmp_path / "fake.json"
    spec.write_text(json.dumps(fake_model().to_dict()))
    summary = tmp_path / "summary.md"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT), "GITHUB_STEP_SUMMARY": str(summary), "ENGINEBUGS_CACHE": str(tmp_path / "cache"),
           "DIFFTEST_MODEL": str(spec), "DIFFTEST_BASELINE": str(tmp_path / "baseline.json"),
           "DIFFTEST_CONFIGS": "fake:f32,leading_space_dropper:f32:wraps=fake",
           "DIFFTEST_EXTRA": f"--engine-plugin tests.fake_engine:create --engine-plugin {FAULTS}leading_space_dropper "
                             "--reference fake:f32 --suite smoke"}
    # the baseline, made as the workflow's header says
    made = _bash('enginebugs difftest run --model "$DIFFTEST_MODEL" --configs "$DIFFTEST_CONFIGS" --quiet '
                 '--write-baseline "$DIFFTEST_BASELINE" $DIFFTEST_EXTRA', tmp_path, env)
    assert made.returncode == 1 and Path(env["DIFFTEST_BASELINE"]).exists(), made.stderr
    run = steps()
    gate = _bash(run["difftest"], tmp_path, env)
    assert gate.returncode == 0, gate.stderr
    assert _bash(run["report"], tmp_path, env).returncode == 0 and (tmp_path / "difftest-report" / "index.html").exists()
    assert _bash(run["summary"], tmp_path, env).returncode == 0 and "known" in summary.read_text()
    # a new fault: the gate fails, the always() steps still report it
    env["DIFFTEST_CONFIGS"] += ",logit_noise:f32:wraps=fake"
    env["DIFFTEST_EXTRA"] += f" --engine-plugin {FAULTS}logit_noise"
    summary.unlink()
    gate = _bash(run["difftest"], tmp_path, env)
    assert gate.returncode == 1, gate.stderr
    assert _bash(run["summary"], tmp_path, env).returncode == 0
    text = summary.read_text()
    assert "| new | precision" in text and "| known |" in text
