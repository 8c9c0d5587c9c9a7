"""``difftest matrix PLAN.toml``: cells of models x versions x suites, resumable after an
interruption, one merged report; bad plans are one-line errors."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from enginebugs.cli import main
from enginebugs.difftest import matrix_cli
from enginebugs.difftest.matrix import PlanError, load_plan
from tests.fake_engine import fake_model

PLAN = """
executor = "{executor}"
models = ["fake.json"]
suites = ["smoke"]
configurations = ["fake:f32", "leading_space_dropper:f32:wraps=fake"]
reference = "fake:f32"
plugins = ["tests.fake_engine:create", "enginebugs.difftest.faults:leading_space_dropper"]
{extra}
[versions.installed]
[versions.patched]
env = {{ ENGINEBUGS_MATRIX_TEST = "patched" }}
"""


def write_plan(tmp_path, executor="local", extra=""):
    (tmp_path / "fake.json").write_text(json.dumps(fake_model().to_dict()))
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN.format(executor=executor, extra=extra))
    return plan


def interrupted_then_resumed(plan, out, monkeypatch):
    """Run the matrix, interrupted during its second cell; then run it again. Returns the cells
    run by each invocation and the second invocation's result."""
    real, ran = matrix_cli.run_cell, []

    def interrupting(p, cell, **kw):
        if ran:
            raise KeyboardInterrupt
        ran.append(cell.id)
        return real(p, cell, **kw)
    monkeypatch.setattr(matrix_cli, "run_cell", interrupting)
    first = CliRunner().invoke(main, ["difftest", "matrix", str(plan), "--out", str(out), "--quiet"])
    assert first.exit_code != 0
    assert sorted(p.name for p in (out / "cells").iterdir()) == [f"{ran[0]}.json"]  # nothing half-written
    again = []
    monkeypatch.setattr(matrix_cli, "run_cell", lambda p, cell, **kw: (again.append(cell.id), real(p, cell, **kw))[1])
    second = CliRunner().invoke(main, ["difftest", "matrix", str(plan), "--out", str(out), "--quiet"])
    return ran, again, second


@pytest.mark.slow
def test_matrix_resumes_after_interruption_and_merges_cells(tmp_path, monkeypatch):
    plan, out = write_plan(tmp_path), tmp_path / "out"
    ran, again, second = interrupted_then_resumed(plan, out, monkeypatch)
    assert second.exit_code == 1, second.output  # the planted fault is found
    assert ran == ["fake__installed__smoke"] and again == ["fake__patched__smoke"]
    assert "fake__installed__smoke: finished earlier, skipped" in second.output
    report = json.loads((out / "matrix.json").read_text())
    assert [r["status"] for r in report["cells"]] == ["finished", "finished"]
    tokenization = [d for d in report["divergences"] if d["oracle"] == "tokenization.ids"]
    assert tokenization and tokenization[0]["cells"] == ["fake__installed__smoke", "fake__patched__smoke"]
    assert "| tokenization.ids | fake:f32 vs leading_space_dropper:f32[wraps=fake] | x | x |" in \
        (out / "matrix.md").read_text()
    # A third run has nothing left to do.
    monkeypatch.setattr(matrix_cli, "run_cell", lambda *a, **k: pytest.fail("a finished cell ran again"))
    assert CliRunner().invoke(main, ["difftest", "matrix", str(plan), "--out", str(out), "--quiet"]).exit_code == 1


def test_version_environment_reaches_the_cells_workers_and_is_restored(tmp_path, monkeypatch):
    import os

    from enginebugs.difftest import runner

    seen = {}

    class Recording:
        def __init__(self, spec, configs, suite, options, **kw):
            self.labels = [c.label for c in configs]

        def run(self):
            seen[os.environ.get("ENGINEBUGS_MATRIX_TEST")] = self.labels
            return type("R", (), {"to_dict": lambda _: {"findings": [], "run": {"configs": []}}})()
    monkeypatch.setattr(runner, "Runner", Recording)
    monkeypatch.delenv("ENGINEBUGS_MATRIX_TEST", raising=False)
    plan = load_plan(write_plan(tmp_path))
    for cell in plan.cells():
        matrix_cli.run_cell(plan, cell)
    labels = ["fake:f32", "leading_space_dropper:f32[wraps=fake]"]
    assert seen == {None: labels, "patched": labels} and "ENGINEBUGS_MATRIX_TEST" not in os.environ


@pytest.mark.parametrize("text, message", [
    ("models = ['tiny']", "configurations must be a non-empty list"),
    ("models = ['tiny']\nconfigurations = ['fake:f32']\nexecutor = 'slurm'", "executor must be local or ray"),
    ("models = ['tiny']\nconfigurations = ['fake:f32']\ncolour = 1", "unknown key(s) colour"),
    ("models = [", "not valid TOML"),
])
def test_bad_plans_are_one_line_errors(tmp_path, text, message):
    plan = tmp_path / "p.toml"
    plan.write_text(text)
    with pytest.raises(PlanError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_plan(plan)
    r = CliRunner().invoke(main, ["difftest", "matrix", str(plan)])
    assert r.exit_code == 2 and r.output.startswith("error: ") and message in r.output
    assert not (tmp_path / "p-matrix").exists()
