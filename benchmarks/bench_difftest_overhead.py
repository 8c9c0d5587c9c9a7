"""Harness overhead of ``difftest run`` on the tiny model: the run's wall time against the bare
engine calls doing the same work.

The runner records every call it sends (``keep_call_log``); the same calls are then replayed on
the same engines loaded in this process, with no worker, no pipe and no oracle. Figures:

* ``calls ratio``  = (recording + judging time of the run) / (bare replay of the calls): the cost
  of worker pipes, JSON, recording and every oracle on top of the engine work. Goal <= 1.10.
* ``total ratio``  = run wall time / (bare model loads + bare replay): includes worker start-up
  (each worker imports its engine library; they start in parallel).

On the tiny model an engine call takes a few milliseconds, so the worker pipe weighs more than it
does on a real model, where a call takes tens to hundreds: ``gemma3-270m`` measures that case
(llama.cpp on the shipped Q4_K_M GGUF; ONNX Runtime on the campaign's export, built once).

Run: ``python -m benchmarks.bench_difftest_overhead [N_PROMPTS] [MODEL]`` (N_PROMPTS 0 or absent:
the default suite's own prompts; MODEL ``tiny`` by default).
"""
from __future__ import annotations

import dataclasses
import sys
import time

from enginebugs.difftest.engines.registry import create_engine
from enginebugs.difftest.models import get_model
from enginebugs.difftest.protocol import EngineConfig, Unsupported
from enginebugs.difftest.runner import Runner, RunOptions
from enginebugs.difftest.suites import load_suite
from enginebugs.difftest.worker import bound_method

CONFIGS = {"tiny": (("transformers", "f32"), ("llamacpp", "f32"), ("onnxruntime", "f32")),
           "gemma3-270m": (("transformers", "f32"), ("llamacpp", "q4_K"), ("onnxruntime", "f32"))}
GOAL = 1.10


def replay(model, config: EngineConfig, calls: list) -> tuple[float, float]:
    """Load ``config`` in this process and run ``calls``; (load seconds, call seconds)."""
    t0 = time.perf_counter()
    engine = create_engine(config.engine)
    engine.load(model, config)
    t1 = time.perf_counter()
    for method, kwargs in calls:
        try:
            bound_method(engine, method)(**kwargs)  # batch methods: the same per-row loop as the worker's
        except Unsupported:
            pass
    t2 = time.perf_counter()
    engine.close()
    return t1 - t0, t2 - t1


def harness(model, configs, suite, parallel: bool) -> tuple[Runner, float, object]:
    runner = Runner(model, configs, suite, RunOptions(progress=False, keep_call_log=True, parallel=parallel))
    t0 = time.perf_counter()
    result = runner.run()
    return runner, time.perf_counter() - t0, result


def main(n_prompts: int | None = None, model_name: str = "tiny") -> None:
    model = get_model(model_name)
    if model_name != "tiny":
        from enginebugs.difftest.campaign.formats import ensure_formats

        model, _ = ensure_formats(model, ("onnx",), print)
    suite = load_suite("default")
    if n_prompts:
        prompts = tuple(suite.prompts[i % len(suite.prompts)] + f" ({i})" for i in range(n_prompts))
        suite = dataclasses.replace(suite, prompts=prompts)
    configs = [EngineConfig(e, d, {"threads": 1}, f"{e}:{d}") for e, d in CONFIGS[model_name]]
    runs = {parallel: harness(model, configs, suite, parallel) for parallel in (True, False)}
    runner, _, result = runs[True]
    calls = sum(len(s.call_log or []) for s in runner.sessions)
    print(f"{model_name}: {len(suite.prompts)} prompts, {result.run['strings']} strings, {len(configs)} configurations, "
          f"{calls} engine calls, {len(result.findings)} findings")
    bare_load = bare_calls = 0.0
    for s in runner.sessions:
        first = replay(model, s.config, s.call_log or [])  # includes importing the engine library
        again = replay(model, s.config, s.call_log or [])
        bare_load += first[0]
        bare_calls += min(first[1], again[1])
        print(f"  bare {s.label:18} load {first[0]:6.2f} s  calls {min(first[1], again[1]):6.2f} s  "
              f"({len(s.call_log or [])} calls)")
    for parallel, (r, wall, _) in runs.items():
        t = r.timings
        mode = "workers recorded concurrently" if parallel else "workers recorded one after another"
        ratio = (t["record_s"] + t["judge_s"]) / bare_calls
        print(f"{mode}: wall {wall:.2f} s = start {t['start_s']:.2f} + record {t['record_s']:.2f} + judge "
              f"{t['judge_s']:.2f}; time inside client calls {t['engine_s']:.2f} s")
        print(f"  calls ratio (record + judge) / bare calls = {ratio:.3f}  (goal <= {GOAL}: "
              f"{'met' if ratio <= GOAL else 'missed'});  total ratio wall / (bare loads + calls) = "
              f"{wall / (bare_load + bare_calls):.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] != "0" else None,
         sys.argv[2] if len(sys.argv) > 2 else "tiny")
