"""Campaign wall time per part and tokenizer throughput, on the tiny model (about a minute).

With ``ENGINEBUGS_BENCH_GEMMA=1`` it runs the full Gemma-3 270M campaign instead (goal: the whole
campaign in 5 minutes on a 2-core machine; the F32 GGUF and ONNX export are built once before
and not counted); ``ENGINEBUGS_BENCH_PARTS=logits`` runs only those parts. Prints per part wall
seconds, per tokenizer strings/s, the tier-4 figures, the logits part against the slowest engine's
bare time for the same scoring and generation (goal <= 1.25; engines loaded and called in this
process, one after another), the CPU seconds of the campaign against the engines' bare CPU seconds
(a figure a busy machine disturbs less than wall time), the floor on this machine's cores
(max(slowest engine, sum of engines / cores)), and the peak RSS of this process and of its
largest worker.

Run: ``python -m benchmarks.bench_campaign``.
"""
from __future__ import annotations

import os
import resource
import time

from enginebugs.difftest.campaign import Campaign, CampaignOptions
from enginebugs.difftest.campaign.formats import ensure_formats
from enginebugs.difftest.campaign.plan import make_plan
from enginebugs.difftest.engines.registry import create_engine
from enginebugs.difftest.models import get_model
from enginebugs.difftest.suites import load_suite

GOAL_S = 5 * 60
LOGITS_GOAL = 1.25


def bare_logits(model, suite, options) -> dict[str, tuple[float, float]]:
    """(load s, call s) per logit-part configuration: the part's scoring and generation of every
    prompt, replayed on the engine loaded in this process (no worker, no oracle)."""
    from benchmarks.bench_difftest_overhead import replay

    tokenizer = create_engine("transformers")
    plan = make_plan(model, list(options.engines), 1, 1, options.threads)
    tokenizer.load(model, plan.reference)
    prompt_ids = [tokenizer.tokenize(p, True) for p in suite.prompts]
    tokenizer.close()
    plan = make_plan(model, list(options.engines), max(map(len, prompt_ids)), max(map(len, prompt_ids)),
                     options.threads)
    calls = [c for ids in prompt_ids if len(ids) >= 2
             for c in (("prompt_logprobs", {"ids": ids, "top_k": suite.top_k, "full": True}),
                       ("generate", {"ids": ids, "max_new_tokens": suite.max_new_tokens, "top_k": suite.top_k}))]
    out = {}
    for c in plan.logit_all:
        cpu = time.process_time()
        load, run = replay(model, c, calls)
        out[c.label] = (load, run, time.process_time() - cpu)
    return out


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def peak_rss_mb() -> tuple[float, float]:
    """Peak resident memory of this process and of its largest finished child (MB)."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def main() -> None:
    gemma = os.environ.get("ENGINEBUGS_BENCH_GEMMA") == "1"
    model = get_model("gemma3-270m" if gemma else "tiny")
    model, _ = ensure_formats(model, ("gguf-f32", "onnx"), print)  # built once, outside the timing
    suite = load_suite("campaign" if gemma else "default")
    parts = tuple(os.environ.get("ENGINEBUGS_BENCH_PARTS", "tokenizer,logits,cache").split(","))
    options = CampaignOptions(progress=False, soup=1000 if gemma else 200, parts=parts)
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    results = Campaign(model, suite, options).run()
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    print(f"model {model.name}: campaign {wall:.1f} s, {cpu:.0f} CPU s" + (f" (goal {GOAL_S} s)" if gemma else ""))
    for part in results["campaign"]["parts"]:
        print(f"  part {part['name']:9} {part['status']:8} {part['wall_s']:8.1f} s")
    for t in results["campaign"]["tokenizer"].get("throughput", []):
        print(f"  {t['engine']:18} {t['source']:28} {t['strings_per_s']:10.0f} strings/s {t['tokens_per_s']:10.0f} tokens/s")
    for m in results["metrics"]["pairs"]:
        if m.get("part") == "logits":
            print(f"  {m['expected']} vs {m['actual']}: mean KLD {m['kld']['mean']:.4g}, p99 {m['kld']['p99']:.4g}, "
                  f"same top-1 {m['same_top1_pct']:.2f}% over {m['positions']} positions")
    print(f"  findings: {len(results['findings'])}")
    own, child = peak_rss_mb()
    print(f"  peak RSS: this process {own:.0f} MB, largest worker {child:.0f} MB")
    if "logits" not in parts:
        print(f"  machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        return
    logits = next(p for p in results["campaign"]["parts"] if p["name"] == "logits")
    bare = bare_logits(model, suite, options)
    for label, (load, calls, busy) in bare.items():
        print(f"  bare {label:40} load {load:6.2f} s  calls {calls:7.2f} s  CPU {busy:7.1f} s")
    slowest = max(load + calls for load, calls, _ in bare.values())
    floor = max(slowest, sum(load + calls for load, calls, _ in bare.values()) / (os.cpu_count() or 1))
    bare_cpu = sum(busy for _, _, busy in bare.values())
    print(f"  logits part {logits['wall_s']:.1f} s / slowest engine bare (load + calls) {slowest:.1f} s = "
          f"{logits['wall_s'] / slowest:.2f} (goal <= {LOGITS_GOAL}); / floor on {os.cpu_count()} CPUs "
          f"{floor:.1f} s = {logits['wall_s'] / floor:.2f}")
    if parts == ("logits",):
        print(f"  CPU: logits part {cpu:.0f} s / bare engines {bare_cpu:.0f} s = {cpu / bare_cpu:.2f}")
    print(f"  machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
