"""Tokenizer comparison throughput on the tiny model, per engine pair: strings per second for
tokenizing every edge-case string in both engines and running the token-ids oracle on the pair.

Figures per pair: the oracle alone on recorded ids (what judging costs); engines loaded in this
process, one ``tokenize`` per string and one ``tokenize_batch`` for all; engines in their worker
subprocesses, one JSON round trip per string and engine, and one ``tokenize_batch`` round trip per
engine for all strings (what ``difftest run`` does). Goal: >= 10,000 strings/s per engine pair
through workers.

Run: ``python -m benchmarks.bench_tokenizer_compare``.
"""
from __future__ import annotations

import time

from enginebugs.difftest import strings
from enginebugs.difftest.engines.registry import create_engine
from enginebugs.difftest.models import get_model
from enginebugs.difftest.oracles.tokenization import token_ids_match
from enginebugs.difftest.protocol import EngineConfig, call_batched
from enginebugs.difftest.worker import WorkerClient

ENGINES = ("transformers", "llamacpp", "onnxruntime")
PAIRS = (("transformers", "llamacpp"), ("transformers", "onnxruntime"), ("llamacpp", "onnxruntime"))
PER_GENERATOR = 200
GOAL = 10_000


def compare(a, b, texts: list[str]) -> tuple[float, int]:
    """Strings per second and number of disagreeing strings for one engine pair."""
    t0 = time.perf_counter()
    differ = 0
    for text in texts:
        if not token_ids_match(text, a.tokenize(text, False), b.tokenize(text, False)).ok:
            differ += 1
    return len(texts) / (time.perf_counter() - t0), differ


def compare_batch(a, b, texts: list[str]) -> tuple[float, int]:
    """Like :func:`compare`, with one ``tokenize_batch`` call per engine for all of ``texts``."""
    t0 = time.perf_counter()
    ids_a, ids_b = (call_batched(e, "tokenize_batch", texts, add_special=False) for e in (a, b))
    differ = sum(not token_ids_match(t, x, y).ok for t, x, y in zip(texts, ids_a, ids_b))
    return len(texts) / (time.perf_counter() - t0), differ


def main() -> None:
    model = get_model("tiny")
    texts = [t for _, t in strings.cases(seed=0, per_generator=PER_GENERATOR)]
    print(f"{len(texts)} edge-case strings ({PER_GENERATOR} per generator + datasets/tokenizer_edge_cases.txt)")
    local = {}
    for name in ENGINES:
        engine = create_engine(name)
        engine.load(model, EngineConfig(name, "f32", {"threads": 1}))
        local[name] = engine
    workers = {name: WorkerClient(name, model, EngineConfig(name, "f32", {"threads": 1})) for name in ENGINES}
    for w in workers.values():
        w.start()
    try:
        print(f"{'pair':28} {'oracle on recorded':>19} {'in-process':>11} {'in-proc batch':>14} "
              f"{'via workers':>12} {'workers batch':>14} {'disagree':>9}   strings/s, goal >= {GOAL:,} via workers")
        for a, b in PAIRS:
            recorded = [(t, local[a].tokenize(t, False), local[b].tokenize(t, False)) for t in texts]
            t0 = time.perf_counter()
            for text, x, y in recorded:
                token_ids_match(text, x, y)
            oracle = len(texts) / (time.perf_counter() - t0)
            best_local = max(compare(local[a], local[b], texts)[0] for _ in range(3))
            best_local_batch = max(compare_batch(local[a], local[b], texts)[0] for _ in range(3))
            best_worker, differ = max(compare(workers[a], workers[b], texts) for _ in range(2))
            best_batch, batch_differ = max(compare_batch(workers[a], workers[b], texts) for _ in range(3))
            assert batch_differ == differ, "tokenize_batch must give the ids of one tokenize per string"
            verdict = "ok" if best_batch >= GOAL else "BELOW GOAL"
            print(f"{a + ' vs ' + b:28} {oracle:19,.0f} {best_local:11,.0f} {best_local_batch:14,.0f} "
                  f"{best_worker:12,.0f} {best_batch:14,.0f} {differ:9d}   {verdict}")
    finally:
        for w in workers.values():
            w.close()
        for e in local.values():
            e.close()


if __name__ == "__main__":
    main()
