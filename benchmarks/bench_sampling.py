"""The statistical sampling oracle's cost and error rates (``sampling.distribution``).

Next-token distributions: the fake engine's (tests' pure-numpy model) after each default-suite
prompt, under the runner's sampler settings, plus random logits (vocabulary 320, N(0, 2)).
For each distribution and setting:

* identical engine: samples drawn from the exact distribution with fresh seeds; the fraction of
  trials the test calls *differ* is the false-alarm rate (goal: at most alpha), and the mean
  samples used is what agreeing engines cost;
* perturbed top-p: top-p (and min-p) applied before the temperature (llama.cpp's order where the
  documented chain is transformers'); the fraction flagged is the power, and the mean samples to
  reject;
* a subtler fault with the same support: the temperature 10 % too high (top-k settings only, where
  the kept set does not move).

Run: ``python -m benchmarks.bench_sampling [TRIALS [CONCENTRATION [BUDGET]]]`` (default 200 trials per
distribution and setting, the oracle's plan: concentration 100, budget 2048).
Pure computation on one core; timings are not reported (the shared machine is loaded).
"""
from __future__ import annotations

import sys

import numpy as np

from enginebugs.difftest.oracles.sampler_chain import CHAINS, SamplerSettings, next_token_distribution, sample
from enginebugs.difftest.oracles.sampling import SequentialPlan, sequential_test

SETTINGS = (SamplerSettings(temperature=0.8, top_k=20), SamplerSettings(temperature=0.8, top_p=0.8),
            SamplerSettings(temperature=0.7, min_p=0.05), SamplerSettings(temperature=0.6, top_p=0.9))


def distributions() -> list[tuple[str, np.ndarray]]:
    out = []
    rng = np.random.default_rng(7)
    for k in range(3):
        x = rng.normal(0, 2.0, 320)
        out.append((f"random-{k}", x - np.log(np.exp(x).sum())))
    try:
        from tests.fake_engine import FakeEngine, fake_model

        from enginebugs.difftest.protocol import EngineConfig
        from enginebugs.difftest.suites import load_suite

        engine = FakeEngine()
        engine.load(fake_model(), EngineConfig("fake"))
        for j, prompt in enumerate(load_suite("default").prompts[:3]):
            out.append((f"fake-prompt-{j}", engine.next_logprobs(engine.tokenize(prompt))))
    except ImportError:  # run outside the checkout: random logits only
        pass
    return out


def trials(source: np.ndarray, probs: np.ndarray, boundary: np.ndarray, plan: SequentialPlan, n: int,
           seed0: int) -> tuple[float, float]:
    """(fraction decided *differ*, mean samples used) over ``n`` seeded trials."""
    differ, used = 0, 0
    for t in range(n):
        d = sequential_test(sample(source, plan.budget, np.random.default_rng(seed0 + t)), probs, boundary, plan)
        differ += d.verdict == "differ"
        used += d.samples
    return differ / n, used / n


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    n = int(argv[0]) if argv else 200
    plan = SequentialPlan(**({"concentration": float(argv[1])} if len(argv) > 1 else {}),
                          **({"budget": int(argv[2])} if len(argv) > 2 else {}))
    print(f"plan: alpha={plan.alpha} beta={plan.beta} concentration={plan.concentration:g} looks={plan.looks()}")
    print(f"{'distribution':16} {'setting':28} {'false alarm':>11} {'n accept':>9} {'TV perturbed':>12} "
          f"{'power':>6} {'n reject':>9}")
    alarms, accepts, powers, rejects, hot = [], [], [], [], []
    for name, lp in distributions():
        for setting in SETTINGS:
            probs, boundary = next_token_distribution(lp, setting, CHAINS["transformers"])
            wrong, _ = next_token_distribution(lp, setting, CHAINS["llamacpp"])
            alarm, n_accept = trials(probs, probs, boundary, plan, n, 10_000)
            tv = 0.5 * float(np.abs(probs - wrong).sum())
            row = f"{name:16} {setting.label:28} {alarm:11.3f} {n_accept:9.0f} {tv:12.3f}"
            alarms.append(alarm)
            accepts.append(n_accept)
            if tv > 1e-9:
                power, n_reject = trials(wrong, probs, boundary, plan, n, 20_000)
                powers.append(power)
                rejects.append(n_reject)
                row += f" {power:6.2f} {n_reject:9.0f}"
            elif setting.top_k:
                warm = SamplerSettings(setting.temperature * 1.1, setting.top_k, setting.top_p, setting.min_p)
                hotter, _ = next_token_distribution(lp, warm, CHAINS["transformers"])
                power, n_reject = trials(hotter, probs, boundary, plan, n, 30_000)
                hot.append((0.5 * float(np.abs(probs - hotter).sum()), power, n_reject))
                row += f" {hot[-1][0]:12.3f} {power:6.2f} {n_reject:9.0f}  (temperature +10 %)"
            print(row, flush=True)
    print(f"false-alarm rate over all: {np.mean(alarms):.4f} (goal <= alpha = {plan.alpha}); "
          f"mean samples to accept identical engines: {np.mean(accepts):.0f}")
    if powers:
        print(f"perturbed top-p (where it changes the distribution): power {np.mean(powers):.3f}, "
              f"mean samples to reject {np.mean(rejects):.0f}")
    if hot:
        print(f"temperature +10 % (top-k settings, mean TV {np.mean([h[0] for h in hot]):.3f}): power "
              f"{np.mean([h[1] for h in hot]):.3f}, mean samples used {np.mean([h[2] for h in hot]):.0f}")


if __name__ == "__main__":
    main()
