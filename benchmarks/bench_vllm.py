"""vLLM (CPU build in ``.venv-vllm``) on the tiny model: environment build time and size, worker
start time, the first request's warm-up, per-call times, and the time of each vLLM case
(:mod:`enginebugs.difftest.vllm_cases`) with its verdict.

Run: ``python -m benchmarks.bench_vllm`` (after ``make vllm-env``; prints why it cannot run otherwise).
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

from enginebugs.difftest import vllm_cases as cases
from enginebugs.difftest.engines import vllm_engine
from enginebugs.difftest.models import get_model
from enginebugs.difftest.protocol import EngineConfig
from enginebugs.difftest.tolerances import load_profile
from enginebugs.difftest.worker import WorkerClient

PROMPTS = (
    "The cache stores the long prompt before noon, because the scheduler wants every request that shares a prefix "
    "to reuse the blocks it already computed; when the morning train arrives the lighthouse keeper writes each "
    "token twice, and the orchestra waits for the final chord.",
    "def scale(tokens, factor):\n    return [t * factor for t in tokens]\n",
    "In 2024 the engine measured 4481 requests (47.41%) and 1222 failures;",
)
NEW, REPEATS = 16, 5


def timed(fn, repeats: int = REPEATS) -> tuple[float, float]:
    """Median and minimum seconds of ``repeats`` calls (the minimum is the figure least disturbed
    by other processes: vLLM's CPU backend pins its compute thread to one core)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def start(model, python: str | None, engine: str, **options) -> tuple[WorkerClient, float]:
    t0 = time.perf_counter()
    client = WorkerClient(engine, model, EngineConfig(engine, "f32", options), python=python, timeout_s=600)
    client.start()
    return client, time.perf_counter() - t0


def environment() -> None:
    stamp = vllm_engine.VENV / vllm_engine.VENV_STAMP
    if stamp.exists():
        lines = stamp.read_text().splitlines()
        print(f"environment: {lines[0]}; " + ", ".join(lines[1:]))


def report_case(name: str, seconds: float, verdicts) -> None:
    bad = [v.message for v in verdicts if not v.ok]
    print(f"  case {name:<28} {seconds * 1e3:9.1f} ms  {'PASS' if not bad else 'FINDING: ' + bad[0][:150]}")


def main() -> None:
    python, why = vllm_engine.worker_python()
    if python is None:
        print(f"skipped: {why}")
        return
    environment()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    model = get_model("tiny")
    profile = load_profile("default")
    same, f32 = profile.for_class("same"), profile.for_class("f32~f32")
    vllm, vllm_start = start(model, python, "vllm")
    hf, hf_start = start(model, None, "transformers")
    try:
        print(f"worker start: vllm {vllm_start:.1f} s (python {Path(python).parent.parent.name}), "
              f"transformers {hf_start:.1f} s")
        ids = [hf.tokenize(p) for p in PROMPTS]
        t0 = time.perf_counter()
        vllm.prompt_logprobs(ids[1], 10)
        print(f"first vLLM request (warm-up): {(time.perf_counter() - t0) * 1e3:.0f} ms")
        for label, fn in (("tokenize", lambda: vllm.tokenize(PROMPTS[0])),
                          (f"prompt_logprobs top-10 ({len(ids[0])} tok)", lambda: vllm.prompt_logprobs(ids[0], 10)),
                          (f"prompt_logprobs full ({len(ids[0])} tok)", lambda: vllm.prompt_logprobs(ids[0], 10, True)),
                          (f"generate {NEW} tok", lambda: vllm.generate(ids[0], NEW, 10)),
                          (f"generate_batch 4x{NEW} tok", lambda: vllm.generate_batch([ids[0]] * 4, NEW, 10))):
            median, best = timed(fn)
            print(f"  call {label:<32} {median * 1e3:8.1f} ms median of {REPEATS}, min {best * 1e3:.1f} ms")
        t0 = time.perf_counter()
        rec_hf = cases.record(hf, list(ids), NEW)
        t_hf = time.perf_counter() - t0
        t0 = time.perf_counter()
        rec_vllm = cases.record(vllm, list(ids), NEW)
        t_rec = time.perf_counter() - t0
        print(f"record {len(ids)} prompts (full scores + generation): vllm {t_rec * 1e3:.0f} ms, transformers "
              f"{t_hf * 1e3:.0f} ms")
        t0 = time.perf_counter()
        verdicts = cases.tiered(rec_hf, rec_vllm, list(ids), f32)
        report_case("hf-vs-vllm tiered (judge)", time.perf_counter() - t0, verdicts)
        kld = verdicts[-1].metrics.get("kld", {})
        print(f"  tier 4: mean KLD {kld.get('mean', float('nan')):.3g}, max {kld.get('max', float('nan')):.3g}, "
              f"same top-1 {verdicts[-1].metrics.get('same_top1_pct', float('nan')):.1f}%; max |dlogprob| "
              f"{max(v.metrics.get('max_abs_logprob_delta', 0.0) for v in verdicts[:-1]):.3g}")
        t0 = time.perf_counter()
        verdict, cold, hot = cases.prefix_cold_vs_hot(vllm, ids[0], same, NEW)
        report_case(f"prefix cold/hot ({hot.cached_prompt_tokens} cached)", time.perf_counter() - t0, [verdict])
        t0 = time.perf_counter()
        needle = cases.needle(vllm, ids[0], [ids[1], ids[2], ids[1]], [0, 2], same, NEW)
        report_case("needle (2 placements)", time.perf_counter() - t0, needle)
        t0 = time.perf_counter()
        seeded, _ = cases.seeded_sampling(vllm, ids[1], [ids[0], ids[2], ids[0]], 1234, same, NEW)
        report_case("seeded sampling", time.perf_counter() - t0, seeded)
        chunked, chunked_start = start(model, python, "vllm", max_num_batched_tokens=16)
        try:
            t0 = time.perf_counter()
            verdicts = cases.chunked_vs_whole(rec_vllm, chunked, list(ids), same, NEW)
            report_case("chunked vs whole prefill", time.perf_counter() - t0, verdicts)
            print(f"  (chunked-prefill worker start {chunked_start:.1f} s)")
        finally:
            chunked.close()
    finally:
        vllm.close()
        hf.close()


if __name__ == "__main__":
    main()
