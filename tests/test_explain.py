"""``difftest explain``: a planted numerical fault on the fake engine, explained by id and by
fingerprint from the results JSON (first divergence, both sides' top-k from a replay, the
configurations' fingerprints) and from the store; its reproduction script reruns the finding's
configurations and exits 1 while the fingerprint comes back (0 for a fingerprint that does not)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from enginebugs.cli import main
from enginebugs.difftest.campaign.repro import config_spec, rerun_argv
from tests.fake_engine import fake_model
from tests.paths import ROOT

FAULT = "enginebugs.difftest.faults:logit_noise"


def invoke(*args):
    return CliRunner().invoke(main, ["difftest", *args], catch_exceptions=False)


def test_rerun_argv_narrows_the_command_to_the_finding():
    command = ("enginebugs difftest run --model tiny --configs a:f32,b:f32,c:f16 --reference a:f32 --json-out r.json "
               "--junit=r.xml --quiet --seed 3 --baseline b.json")
    argv = rerun_argv(command, {"configs": ["b:f32", "c:f16"]}, "a:f32")
    assert argv == ["enginebugs", "difftest", "run", "--model", "tiny", "--seed", "3",
                    "--configs", "a:f32,b:f32,c:f16", "--reference", "a:f32"]
    assert config_spec("llamacpp:f32[n_batch=4,prefix_cache=False]") == "llamacpp:f32:n_batch=4:prefix_cache=False"
    assert rerun_argv("enginebugs difftest campaign --model tiny", {"configs": ["x"]}, None) is None


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explain")
    spec = tmp / "fake.json"
    spec.write_text(json.dumps(fake_model().to_dict()))
    args = ["difftest", "run", "--model", str(spec), "--engine-plugin", "tests.fake_engine:create",
            "--engine-plugin", FAULT, "--configs", "fake:f32,logit_noise:f32:wraps=fake", "--reference", "fake:f32",
            "--suite", "smoke", "--quiet", "--json-out", str(tmp / "r.json"), "--db", str(tmp / "s.db")]
    saved = sys.argv
    sys.argv = ["enginebugs", *args]  # the command the run records, as a shell would pass it
    try:
        result = CliRunner().invoke(main, args, catch_exceptions=False)
    finally:
        sys.argv = saved
    assert result.exit_code == 1, result.output
    return tmp


def _precision(results: Path) -> dict:
    return next(f for f in json.loads(results.read_text())["findings"] if f["oracle"].startswith("precision."))


@pytest.mark.slow
def test_explain_by_id_replays_topk_and_writes_a_script_that_reproduces(planted, monkeypatch):
    monkeypatch.chdir(planted)
    finding = _precision(planted / "r.json")
    result = invoke("explain", str(finding["id"]), "--results", "r.json", "--script", "repro.py", "--top-k", "3")
    assert result.exit_code == 0, result.output
    out = result.output
    for needle in ("First divergence:", "Top-k at the first divergent step", "fake:f32", "logit_noise:f32",
                   "Configuration fingerprints:", "planted_fault", finding["fingerprint"], "Reproduction script: repro.py"):
        assert needle in out, needle
    table = out.split("Top-k at the first divergent step", 1)[1].splitlines()[1:]
    assert sum(1 for line in table if line.strip()[:1].isdigit()) == 3
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    script = (planted / "repro.py").read_text()
    assert "Written by `enginebugs difftest campaign`" in script  # the campaign's mechanism and header
    run = subprocess.run([sys.executable, "repro.py"], cwd=planted, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and "reproduced" in run.stdout, run.stdout + run.stderr
    (planted / "other.py").write_text(script.replace(finding["fingerprint"], "0000000000000000"))
    run = subprocess.run([sys.executable, "other.py"], cwd=planted, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "not seen" in run.stdout


def test_explain_from_the_store_by_fingerprint_prefix(planted):
    finding = _precision(planted / "r.json")
    result = invoke("explain", finding["fingerprint"][:8], "--db", str(planted / "s.db"), "--no-replay", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["finding"]["fingerprint"] == finding["fingerprint"] and data["script"] is None
    assert data["configs"]["logit_noise:f32[wraps=fake]"]["planted_fault"] == "logit_noise"


@pytest.mark.parametrize("args, message", [
    (["1"], "give one of --results FILE or --db FILE"),
    (["999", "--results", "r.json"], "no finding '999'"),
    (["1", "--results", "missing.json"], "cannot read results"),
])
def test_explain_errors(planted, monkeypatch, args, message):
    monkeypatch.chdir(planted)
    result = invoke("explain", *args)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output


def test_script_for_picks_the_campaigns_specialised_scripts():
    from enginebugs.difftest.campaign.repro import script_for

    configs = [{"label": "llamacpp:q4_K", "engine": "llamacpp", "dtype": "q4_K", "options": {}},
               {"label": "llamacpp:q4_K[n_batch=8]", "engine": "llamacpp", "dtype": "q4_K", "options": {"n_batch": 8}}]
    results = {"run": {"configs": configs, "model": {"name": "m"}, "command": "enginebugs difftest run --model m",
                       "reference": "llamacpp:q4_K"}}
    knobs = {"oracle": "precision.knobs", "configs": [c["label"] for c in configs], "prompt": "hi", "fingerprint": "ab"}
    title, _, body = script_for(knobs, results, {"gguf-q4_K": "/m.gguf"}, ["hi"])
    assert "llama.cpp" in title and "'n_batch': 8" in body and "import llama_cpp" in body
    crash = {"oracle": "engine.crash", "configs": ["llamacpp:q4_K"], "metrics": {"method": "generate"}, "fingerprint": "cd"}
    assert "WorkerClient" in script_for(crash, results, {"gguf-q4_K": "/m.gguf"}, ["hi"])[2]
    other = {"oracle": "batch.needle", "configs": ["llamacpp:q4_K[n_batch=8]"], "fingerprint": "ef"}
    assert script_for(other, results, {}, []) is None  # the campaign writes no generic script
    assert '"llamacpp:q4_K,llamacpp:q4_K:n_batch=8"' in script_for(other, results, {}, [], cwd="/w")[2]
