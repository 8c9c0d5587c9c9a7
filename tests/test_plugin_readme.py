"""The engine plugin of difftest/README.md, written to a module as a stranger would and run through
the CLI on the fake engine: its own knobs come from --configs, a knob it lacks is refused, and its
stop_early knob gives a length finding while the plain wrapper gives none."""
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from enginebugs.cli import main
from tests.fake_engine import fake_model

README = Path(__file__).resolve().parents[1] / "difftest" / "README.md"


def readme_plugin() -> str:
    section = README.read_text(encoding="utf-8").split("## Writing an engine plugin", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    (tmp_path / "my_plugin.py").write_text(readme_plugin(), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{Path(__file__).resolve().parents[1]}")
    spec = tmp_path / "fake.json"
    spec.write_text(json.dumps(fake_model().to_dict()))
    return spec


def run(spec, configs, out):
    args = ["difftest", "run", "--model", str(spec), "--engine-plugin", "tests.fake_engine:create",
            "--engine-plugin", "my_plugin:create", "--suite", "smoke", "--configs", configs,
            "--reference", "fake:f32", "--json-out", str(out)]
    return CliRunner().invoke(main, args, catch_exceptions=False)


def test_the_readme_plugin_runs_with_its_own_knobs(plugin, tmp_path):
    clean = run(plugin, "fake:f32,my_wrapper:f32:wrapped=fake", tmp_path / "clean.json")
    assert clean.exit_code == 0, clean.output
    data = json.loads((tmp_path / "clean.json").read_text())
    wrapper = next(c for c in data["run"]["configs"] if c["engine"] == "my_wrapper")
    assert wrapper["status"] == "ok" and "generate" in wrapper["capabilities"]

    early = run(plugin, "fake:f32,my_wrapper:f32:wrapped=fake:stop_early=true", tmp_path / "early.json")
    assert early.exit_code == 1
    findings = json.loads((tmp_path / "early.json").read_text())["findings"]
    assert {(f["oracle"], f["output_subtype"]) for f in findings} == {("precision.tokens", "length")}

    bad = run(plugin, "fake:f32,my_wrapper:f32:wrapped=fake:nosuch=1", tmp_path / "bad.json")
    assert bad.exit_code == 2 and "does not understand option(s) nosuch" in bad.output
    assert not (tmp_path / "bad.json").exists()
