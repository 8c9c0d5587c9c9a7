"""The pytest plugin (entry point ``pytest11``): a user's test suite with the ``enginebugs_difftest``
fixture, run with ``pytester`` in a subprocess on the fake engine. A planted fault is a new finding
(the user's guard fails, with the finding in the message); accepted in a baseline it is known."""
import json
from importlib.metadata import entry_points

import pytest

from tests.fake_engine import fake_model
from tests.paths import ROOT

pytest_plugins = ("pytester",)

USER_TESTS = '''
import pytest

SPEC = {spec!r}
CONFIGS = ["fake:f32", "leading_space_dropper:f32:wraps=fake"]
PLUGINS = ["tests.fake_engine:create", "enginebugs.difftest.faults:leading_space_dropper"]


def run(fixture, **kw):
    return fixture(model=SPEC, configs=CONFIGS, plugins=PLUGINS, reference="fake:f32", **kw)


def test_baseline_makes_the_fault_known(enginebugs_difftest, tmp_path):
    first = run(enginebugs_difftest, write_baseline=tmp_path / "b.json", junit=tmp_path / "r.xml")
    assert first.new_findings and first.exit_code == 1 and (tmp_path / "r.xml").exists()
    again = run(enginebugs_difftest, baseline=tmp_path / "b.json")
    assert not again.new_findings and again.known_findings and again.exit_code == 0


def test_guard_without_baseline(enginebugs_difftest):
    result = run(enginebugs_difftest)
    assert not result.new_findings, result.describe_new()


def test_bad_arguments(enginebugs_difftest):
    with pytest.raises(ValueError, match="unknown engine 'nosuch'"):
        enginebugs_difftest(configs=["nosuch:f32"])
'''


def test_entry_point_is_declared():
    assert 'enginebugs_difftest = "enginebugs.difftest.pytest_plugin"' in (ROOT / "pyproject.toml").read_text()


@pytest.mark.slow
def test_fixture_in_a_user_suite(pytester, monkeypatch):
    spec = pytester.path / "fake.json"
    spec.write_text(json.dumps(fake_model().to_dict()))
    pytester.makepyfile(test_user=USER_TESTS.format(spec=str(spec)))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the fake engine lives in this repository's tests/
    installed = any(e.value == "enginebugs.difftest.pytest_plugin" for e in entry_points(group="pytest11"))
    args = () if installed else ("-p", "enginebugs.difftest.pytest_plugin")
    result = pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider", "--enginebugs-cache", str(pytester.path / "c"))
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*test_guard_without_baseline*", "*tokenization.ids*"])
