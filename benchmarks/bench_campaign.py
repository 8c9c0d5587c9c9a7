"""Campaign wall time per part and tokenizer throughput, on the tiny model (about a minute).

With ``ENGINEBUGS_BENCH_GEMMA=1`` it runs the full Gemma-3 270M campaign instead (goal: the whole
campaign in 15 minutes on a 2-core machine; the F32 GGUF and ONNX export are built once before
and not counted). Prints per part wall seconds, per tokenizer strings/s, and the tier-4 figures.

Run: ``python -m benchmarks.bench_campaign``.
"""
from __future__ import annotations

import os
import time

from enginebugs.difftest.campaign import Campaign, CampaignOptions
from enginebugs.difftest.campaign.formats import ensure_formats
from enginebugs.difftest.models import get_model
from enginebugs.difftest.suites import load_suite

GOAL_S = 15 * 60


def main() -> None:
    gemma = os.environ.get("ENGINEBUGS_BENCH_GEMMA") == "1"
    model = get_model("gemma3-270m" if gemma else "tiny")
    model, _ = ensure_formats(model, ("gguf-f32", "onnx"), print)  # built once, outside the timing
    suite = load_suite("campaign" if gemma else "default")
    options = CampaignOptions(progress=False, soup=1000 if gemma else 200)
    t0 = time.perf_counter()
    results = Campaign(model, suite, options).run()
    wall = time.perf_counter() - t0
    print(f"model {model.name}: campaign {wall:.1f} s" + (f" (goal {GOAL_S} s)" if gemma else ""))
    for part in results["campaign"]["parts"]:
        print(f"  part {part['name']:9} {part['status']:8} {part['wall_s']:8.1f} s")
    for t in results["campaign"]["tokenizer"].get("throughput", []):
        print(f"  {t['engine']:18} {t['source']:28} {t['strings_per_s']:10.0f} strings/s {t['tokens_per_s']:10.0f} tokens/s")
    for m in results["metrics"]["pairs"]:
        if m.get("part") == "logits":
            print(f"  {m['expected']} vs {m['actual']}: mean KLD {m['kld']['mean']:.4g}, p99 {m['kld']['p99']:.4g}, "
                  f"same top-1 {m['same_top1_pct']:.2f}% over {m['positions']} positions")
    print(f"  findings: {len(results['findings'])}")


if __name__ == "__main__":
    main()
