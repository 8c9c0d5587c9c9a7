"""Every oracle the runner applies, with what a finding of it is tagged with in the taxonomy."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OracleInfo:
    name: str
    family: str
    description: str
    component: str
    output_subtype: str | None = "inconsistent-output"
    symptom: str = "unexpected-output"


_ALL = (
    OracleInfo("tokenization.ids", "tokenization", "same text -> same token ids as the reference engine",
               "input-processor"),
    OracleInfo("tokenization.offsets", "tokenization",
               "same text -> same ids -> same character span per token as the reference engine", "input-processor"),
    OracleInfo("tokenization.round_trip", "tokenization", "decode(encode(text)) == text (or the reference's decode)",
               "output-processor", "character"),
    OracleInfo("tokenization.decode", "tokenization", "same ids -> same text as the reference engine",
               "output-processor", "character"),
    OracleInfo("tokenization.streaming", "tokenization",
               "concatenated streaming detokenization == full decode, no split UTF-8 in any chunk",
               "output-processor", "character"),
    OracleInfo("tokenization.generated_text", "tokenization",
               "generated text == the engine's own decode of its generated ids, and the reference's decode of them",
               "output-processor", "character"),
    OracleInfo("sanity.logprobs", "sanity", "log-probabilities finite, <= 0, sorted, summing to <= 1",
               "operators", None, "silent-error"),
    OracleInfo("precision.tokens", "precision",
               "tiers 1-2: greedy tokens equal, else each side's token in the other's top-k at the first divergence",
               "operators"),
    OracleInfo("precision.logprobs", "precision", "tier 3: per-position |delta logprob| within the pair's tolerance",
               "operators"),
    OracleInfo("precision.kld", "precision", "tier 4: KL divergence, same-top-1 % over all positions (fp32)",
               "operators"),
    OracleInfo("precision.knobs", "precision", "same engine and dtype, other knobs (threads, ...): same output",
               "operators"),
    OracleInfo("cache.kv_recompute", "cache", "generation with the KV cache == full recompute of the same tokens",
               "resource-manager"),
    OracleInfo("cache.prefix_reuse", "cache", "a prompt generated cold == generated after a call sharing its prefix",
               "resource-manager"),
    OracleInfo("cache.chunked_prefill", "cache", "prefill in chunks (n_batch, ...) == prefill in one piece",
               "resource-manager"),
    OracleInfo("cache.use_cache", "cache", "generation with use_cache off == with it on", "resource-manager"),
    OracleInfo("batch.needle", "batch", "a needle prompt alone == the needle at other rows of a batch",
               "job-manager"),
    OracleInfo("batch.order", "batch", "a batch == the same batch in another order, row by row", "job-manager"),
    OracleInfo("sampling.seeded", "sampling",
               "a seeded request samples the same tokens repeated alone and co-batched with unseeded requests",
               "job-manager"),
    OracleInfo("sampling.distribution", "sampling",
               "next-token samples under sampler settings follow the exact distribution of the engine's documented "
               "sampler chain on the reference's fp32 log-probabilities (sequential G-test / likelihood ratio)",
               "output-processor"),
    OracleInfo("engine.crash", "engine", "the worker process died (abort, segfault, OOM kill)", "operators",
               None, "crash"),
    OracleInfo("engine.error", "engine", "the engine raised an exception", "operators", None, "crash"),
    OracleInfo("engine.hang", "engine", "a call did not return within the timeout", "operators", None,
               "system-hang"),
)
ORACLES: dict[str, OracleInfo] = {o.name: o for o in _ALL}
FAMILIES = tuple(dict.fromkeys(o.family for o in _ALL))

#: Where a tokenization finding points depends on its candidate root cause.
COMPONENT_OF_ROOT_CAUSE = {"incorrect-tokenization": "input-processor",
                           "incorrect-detokenization": "output-processor",
                           "incorrect-character-encoding": "output-processor"}
#: Component of a crash or hang by the method it happened in (a batch method: its single method's).
COMPONENT_OF_METHOD = {"load": "model-loader", "tokenize": "input-processor", "detokenize": "output-processor",
                       "stream_detokenize": "output-processor", "generate_batch": "job-manager"}
#: Calls of the prefix-reuse sequence that follow a call sharing their prefix (a cache hit): an
#: engine failure there is filed as a cache fault, with the call named.
AFTER_CACHE_HIT = frozenset({"prefix.branch", "prefix.hot", "prefix.after"})
ROOT_CAUSE_OF_METHOD = {"load": "incompatible-model", "tokenize": "incorrect-tokenization",
                        "detokenize": "incorrect-detokenization", "stream_detokenize": "incorrect-detokenization"}
