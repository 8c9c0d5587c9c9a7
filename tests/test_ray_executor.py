"""``--executor ray`` on a local Ray instance (``num_cpus=2``): the same findings as the local
executor, a killed or aborting actor is a Crash finding while the run goes on, bad options are
one-line errors."""
from __future__ import annotations

import json

import pytest

from enginebugs.difftest.runner import Runner, RunOptions, parse_config, worker_factory
from enginebugs.difftest.suites import load_suite
from tests.fake_engine import fake_model, in_process_factory

ray = pytest.importorskip("ray")

from enginebugs.difftest.ray_executor import (  # noqa: E402
    Resources, demand, parse_resources, ray_factory, resources_for, timing_free)

FAULTS = ("enginebugs.difftest.faults:logit_noise", "enginebugs.difftest.faults:leading_space_dropper",
          "enginebugs.difftest.faults:abort_on_generate", "enginebugs.difftest.faults:hang_on_generate")
PLUGINS = ("tests.fake_engine:create", *FAULTS)
#: Quarter CPUs: every actor of a test run fits on the 2-CPU instance at once.
SMALL = parse_resources(["fake=cpus:0.25", "logit_noise=cpus:0.25", "leading_space_dropper=cpus:0.25",
                         "abort_on_generate=cpus:0.25", "hang_on_generate=cpus:0.25", "transformers=cpus:0.5", "llamacpp=cpus:0.5"])


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance (slow tests: it takes ~10-20 s to start)."""
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=96 * 1024 ** 2, log_to_driver=False)
    yield ray
    ray.shutdown()


def _run(configs, factory_of, **options):
    model = fake_model()
    opts = RunOptions(progress=False, plugins=PLUGINS, reference="fake:f32", **options)
    parsed = [parse_config(c) for c in configs]
    return Runner(model, parsed, load_suite("smoke"), opts, client_factory=factory_of(model, opts, parsed)).run()


def _ray(replicas=1):
    return lambda model, opts, parsed: ray_factory(model, opts, parsed, overrides=SMALL, replicas=replicas)


@pytest.mark.slow
def test_ray_findings_equal_the_local_executors_with_sharded_replicas(local_ray):
    configs = ["fake:f32", "fake:q8_0", "logit_noise:f32:wraps=fake", "leading_space_dropper:f32:wraps=fake"]
    local = _run(configs, lambda model, opts, parsed: in_process_factory(model))
    on_ray = _run(configs, _ray(replicas=2))
    assert local.findings, "the planted faults must be found (negative control)"
    assert {f.oracle for f in local.findings} >= {"precision.kld", "tokenization.ids"}
    assert [f.fingerprint for f in on_ray.findings] == [f.fingerprint for f in local.findings]
    assert timing_free(on_ray.to_dict()) == timing_free(local.to_dict())
    assert json.dumps(timing_free(on_ray.to_dict()), default=str) == json.dumps(timing_free(local.to_dict()), default=str)


@pytest.mark.slow
def test_aborting_and_killed_actors_are_crash_findings_and_the_run_goes_on(local_ray):
    make = _ray()

    def killing(model, opts, parsed):
        inner = make(model, opts, parsed)

        def factory(config):
            client = inner(config)
            if config.dtype == "bf16":  # killed from outside right after loading
                start = client.start
                client.start = lambda: (info := start(), local_ray.kill(client.actors[0]))[0]
            return client
        return factory
    r = _run(["fake:f32", "abort_on_generate:f32:wraps=fake", "fake:bf16", "fake:q8_0"], killing)
    status = {c["label"]: c["status"] for c in r.run["configs"]}
    assert status == {"fake:f32": "ok", "abort_on_generate:f32[wraps=fake]": "crashed", "fake:bf16": "crashed",
                      "fake:q8_0": "ok"}
    crashes = {tuple(f.configs): f for f in r.findings if f.oracle == "engine.crash"}
    assert set(crashes) == {("abort_on_generate:f32[wraps=fake]",), ("fake:bf16",)}
    assert all(f.symptom == "crash" and "died" in f.message for f in crashes.values())
    # The others were judged in full.
    assert any(o["oracle"] == "precision.kld" and o["configs"] == ["fake:f32", "fake:q8_0"] and o["status"] == "pass"
               for o in r.oracles)


@pytest.mark.slow
def test_a_hanging_actor_is_a_system_hang_and_is_killed(local_ray):
    r = _run(["fake:f32", "hang_on_generate:f32:wraps=fake"], _ray(), timeout_s=4)
    hang = [f for f in r.findings if f.oracle == "engine.hang"]
    assert len(hang) == 1 and hang[0].symptom == "system-hang" and "did not finish within 4" in hang[0].message
    assert {c["label"]: c["status"] for c in r.run["configs"]} == {"fake:f32": "ok",
                                                                   "hang_on_generate:f32[wraps=fake]": "hung"}


@pytest.mark.slow
@pytest.mark.engines
def test_tiny_model_smoke_suite_same_findings_as_local_workers(local_ray, tiny_model):
    pytest.importorskip("torch")
    pytest.importorskip("llama_cpp")
    configs = [parse_config(c) for c in ("transformers:f32", "llamacpp:f32", "llamacpp:q8_0")]
    opts = RunOptions(progress=False)
    results = [Runner(tiny_model, configs, load_suite("smoke"), opts, client_factory=factory).run()
               for factory in (worker_factory(tiny_model, opts),
                               ray_factory(tiny_model, opts, configs, overrides=SMALL, replicas=1))]
    local, on_ray = (timing_free(r.to_dict()) for r in results)
    assert [c["status"] for c in on_ray["run"]["configs"]] == ["ok", "ok", "ok"]
    assert on_ray == local


def test_resources_requests_and_bad_specs():
    assert resources_for(parse_config("llamacpp:f32:threads=4")) == Resources(4, 0, 1)
    assert resources_for(parse_config("vllm:bf16:device=cuda:tensor_parallel_size=2")).num_gpus == 2
    assert resources_for(parse_config("transformers-cuda:bf16")).num_gpus == 1
    over = parse_resources(["llamacpp=cpus:2", "transformers:f32=gpus:1,replicas:3"])
    assert resources_for(parse_config("transformers:f32"), over) == Resources(1, 1, 3)
    assert demand([parse_config("llamacpp:f32"), parse_config("llamacpp:q8_0")], over, 1) == {"CPU": 4, "GPU": 0}
    for bad in ("llamacpp", "llamacpp=cpus", "llamacpp=disks:1", "llamacpp=cpus:x"):
        with pytest.raises(ValueError):
            parse_resources([bad])


@pytest.mark.slow
def test_cli_rejects_ray_options_without_the_ray_executor_and_oversized_requests(local_ray):
    from click.testing import CliRunner

    from enginebugs.cli import main

    def invoke(*args):
        return CliRunner().invoke(main, ["difftest", "run", "--model", str(_model_file()), "--configs", "fake:f32",
                                         "--engine-plugin", "tests.fake_engine:create", "--quiet", *args])
    r = invoke("--ray-address", "auto")
    assert r.exit_code == 2 and "need --executor ray" in r.output
    r = invoke("--executor", "ray", "--ray-resources", "fake=cpus:64")
    assert r.exit_code == 2 and "ask for 64 CPU" in r.output and "Traceback" not in r.output


def _model_file():
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "fake.json"
    path.write_text(json.dumps(fake_model().to_dict()))
    return path


@pytest.mark.slow
def test_matrix_on_ray_resumes_after_interruption(local_ray, tmp_path, monkeypatch):
    from tests.test_matrix import interrupted_then_resumed, write_plan

    plan = write_plan(tmp_path, "ray", '[ray.resources]\nfake = "cpus:0.25"\nleading_space_dropper = "cpus:0.25"\n')
    ran, again, second = interrupted_then_resumed(plan, tmp_path / "out", monkeypatch)
    assert second.exit_code == 1, second.output
    assert ran == ["fake__installed__smoke"] and again == ["fake__patched__smoke"]
    report = json.loads((tmp_path / "out" / "matrix.json").read_text())
    assert report["executor"] == "ray" and [r["status"] for r in report["cells"]] == ["finished", "finished"]
    assert any(d["oracle"] == "tokenization.ids" and len(d["cells"]) == 2 for d in report["divergences"])


def test_campaign_takes_the_executor_options():
    from click.testing import CliRunner

    from enginebugs.cli import main

    r = CliRunner().invoke(main, ["difftest", "campaign", "--model", "tiny", "--ray-replicas", "2"])
    assert r.exit_code == 2 and "need --executor ray" in r.output
    assert "--executor [local|ray]" in CliRunner().invoke(main, ["difftest", "campaign", "--help"]).output
