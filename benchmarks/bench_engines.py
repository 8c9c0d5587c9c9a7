"""Per engine configuration on the tiny model: worker start (model load), prompt scoring, greedy and
batched generation speed, and the largest |Δ logprob| against transformers f32 on the same prompt.

Run: ``python -m benchmarks.bench_engines`` (builds the tiny model into the cache on first use;
``--gemma`` adds llama.cpp on the Gemma-3 270M Q4_K_M GGUF when its package is installed).
"""
from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from enginebugs.difftest.models import ModelUnavailable, get_model
from enginebugs.difftest.protocol import EngineConfig
from enginebugs.difftest.worker import WorkerClient, full_logprobs

EXACT_KV = {"type_k": "f32", "type_v": "f32"}
CONFIGS = [
    EngineConfig("transformers", "f32"),
    EngineConfig("transformers", "bf16"),
    EngineConfig("transformers", "f32", {"use_cache": False}),
    EngineConfig("llamacpp", "f32", EXACT_KV),
    EngineConfig("llamacpp", "f32"),
    EngineConfig("llamacpp", "f16"),
    EngineConfig("llamacpp", "q8_0"),
    EngineConfig("llamacpp", "f32", {**EXACT_KV, "n_batch": 16, "n_ubatch": 8}),
    EngineConfig("onnxruntime", "f32"),
    EngineConfig("onnxruntime", "f32", {"use_cache": False}),
]
PROMPT = ("The engine compares every token slowly, because the cache remembers two numbers. "
          "def load_tokens(tokens, cache=12):\n    return [t // 3 for t in tokens]\n") * 3
GEN_TOKENS, BATCH, REPEATS = 32, 4, 5


def timed(fn, repeats: int = REPEATS) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def measure(model, config: EngineConfig, ids: list[int], reference: np.ndarray | None) -> dict:
    t0 = time.perf_counter()
    with WorkerClient(config.engine, model, config, timeout_s=600) as w:
        start = time.perf_counter() - t0
        score_s, scores = timed(lambda: w.prompt_logprobs(ids, top_k=10, full=True))
        gen_s, gen = timed(lambda: w.generate(ids, GEN_TOKENS, top_k=5), repeats=3)
        batch_s, batch = timed(lambda: w.generate_batch([ids] * BATCH, GEN_TOKENS, top_k=5), repeats=3)
        full = full_logprobs(scores)
    return {
        "label": config.label, "start_s": start, "score_ms": score_s * 1e3,
        "gen_tok_s": len(gen.token_ids) / gen_s,
        "batch_tok_s": sum(len(g.token_ids) for g in batch) / batch_s,
        "max_dlogprob": float(np.abs(full - reference).max()) if reference is not None else 0.0,
        "full": full,
    }


def main() -> None:
    model = get_model("tiny", progress=lambda m: print(f"  preparing: {m}", flush=True))
    with WorkerClient("transformers", model, EngineConfig("transformers")) as hf:
        ids = hf.tokenize(PROMPT)
    print(f"tiny model {model.recipe_hash}: prompt {len(ids)} tokens, generate {GEN_TOKENS}, batch {BATCH}")
    print(f"{'configuration':58} {'start s':>8} {'score ms':>9} {'gen tok/s':>10} {'batch tok/s':>12} {'max|Δlp|':>10}")
    reference = None
    for config in CONFIGS:
        row = measure(model, config, ids, reference)
        if reference is None:
            reference = row["full"]
        print(f"{row['label']:58} {row['start_s']:8.2f} {row['score_ms']:9.1f} {row['gen_tok_s']:10.1f} "
              f"{row['batch_tok_s']:12.1f} {row['max_dlogprob']:10.2e}", flush=True)
    if "--gemma" in sys.argv:
        try:
            gemma = get_model("gemma3-270m", formats=["gguf-q4_K"])
        except ModelUnavailable as exc:
            print(f"gemma3-270m skipped: {exc}")
            return
        config = EngineConfig("llamacpp", "q4_K", {"n_ctx": 512})
        with WorkerClient("llamacpp", gemma, config) as w:
            gids = w.tokenize(PROMPT)
        row = measure(gemma, config, gids, None)
        print(f"{'gemma3-270m ' + row['label']:58} {row['start_s']:8.2f} {row['score_ms']:9.1f} "
              f"{row['gen_tok_s']:10.1f} {row['batch_tok_s']:12.1f} {'-':>10}")


if __name__ == "__main__":
    main()
