"""Overhead of ``--executor ray`` against the local executor, side by side in one process, on the
tiny model (transformers f32, llama.cpp f32 and q8_0, default suite): the same run with local worker
subprocesses, with one Ray actor per configuration and with two (prompt set sharded), on a local
Ray instance (``num_cpus=2``). Ray's own start-up is quoted apart (a cluster is started once).
Each run's timing-free results JSON is compared with the local one (they must be equal).

Run: ``python -m benchmarks.bench_ray_overhead [SUITE]`` (needs ``enginebugs[ray]``). Timings on
a shared, loaded machine are noisy: compare the ratios, not the seconds.
"""
from __future__ import annotations

import os
import sys
import time

from enginebugs.difftest.models import get_model
from enginebugs.difftest.ray_executor import parse_resources, ray_factory, timing_free
from enginebugs.difftest.runner import Runner, RunOptions, parse_config, worker_factory
from enginebugs.difftest.suites import load_suite

CONFIGS = ("transformers:f32:threads=1", "llamacpp:f32:threads=1", "llamacpp:q8_0:threads=1")
#: Half a CPU per actor: two replicas of three configurations fit the 2-CPU instance.
HALF = parse_resources(["transformers=cpus:0.5", "llamacpp=cpus:0.5"])


def timed(model, configs, suite, factory) -> tuple[float, dict, dict]:
    opts = RunOptions(progress=False)
    t0 = time.perf_counter()
    runner = Runner(model, configs, suite, opts, client_factory=factory(opts))
    result = runner.run()
    return time.perf_counter() - t0, runner.timings, timing_free(result.to_dict())


def main(suite_name: str = "default") -> None:
    import ray

    model, suite = get_model("tiny"), load_suite(suite_name)
    configs = [parse_config(c) for c in CONFIGS]
    print(f"tiny, suite {suite_name} ({len(suite.prompts)} prompts), {len(configs)} configurations; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    local = timed(model, configs, suite, lambda o: worker_factory(model, o))
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=96 * 1024 ** 2, log_to_driver=False)
    print(f"  Ray start-up (once per cluster): {time.perf_counter() - t0:.2f} s")
    rows = [("local workers", local)]
    for replicas in (1, 2):
        rows.append((f"ray, {replicas} actor(s)/config",
                     timed(model, configs, suite, lambda o: ray_factory(model, o, configs, overrides=HALF,
                                                                        replicas=replicas))))
    ray.shutdown()
    for name, (wall, t, results) in rows:
        same = "same results" if results == local[2] else "RESULTS DIFFER"
        print(f"  {name:24} wall {wall:7.2f} s (start {t['start_s']:.2f}, record {t['record_s']:.2f}, judge "
              f"{t['judge_s']:.2f}); wall / local {wall / local[0]:.2f}, record / local "
              f"{t['record_s'] / local[1]['record_s']:.2f}; {same}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "default")
