"""The exact next-token distribution of a sampler, from fp32 log-probabilities, under each engine's
documented order of the sampling steps.

Engines apply the same knobs in different orders, which changes the distribution:

* transformers (``generate``: logits warpers in this order): temperature, top-k, top-p, min-p;
* llama.cpp (``common_sampler`` default chain, llama-cpp-python's sampler): top-k, top-p, min-p,
  then temperature (so top-p and min-p see the untempered distribution);
* vLLM (v1 ``Sampler``): temperature, then min-p, then top-k and top-p.

Each step works on logits (here: log-probabilities, which differ from logits by a constant, so
temperature, top-k, top-p and min-p are unchanged; penalties that depend on the sign of a logit are
not modelled). ``next_token_distribution`` also returns the *boundary* tokens: those whose
inclusion flips when the cut moves by ``margin`` (ties at the k-th logit, a cumulative mass within
``margin`` of top-p, a probability within ``margin`` of the min-p threshold). Another engine's own
logits differ from the reference's by rounding, so those tokens are left out of the test (the
distribution conditioned on the other tokens does not depend on them).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

CHAINS: dict[str, tuple[str, ...]] = {
    "transformers": ("temperature", "top_k", "top_p", "min_p"),
    "llamacpp": ("top_k", "top_p", "min_p", "temperature"),
    "vllm": ("temperature", "min_p", "top_k", "top_p"),
}
DEFAULT_CHAIN = CHAINS["transformers"]


@dataclass(frozen=True)
class SamplerSettings:
    """Sampler knobs (0 / 1.0 = off)."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0

    @property
    def label(self) -> str:
        parts = [f"{k}={v:g}" for k, v in asdict(self).items() if v != getattr(SamplerSettings, k)]
        return ",".join(parts) or "plain"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def chain_of(engine: str) -> tuple[str, ...]:
    """The documented step order of ``engine`` (a planted fault: ``name@...`` keeps its engine's)."""
    return CHAINS.get(engine.split("@", 1)[0], DEFAULT_CHAIN)


def _softmax(x: np.ndarray) -> np.ndarray:
    finite = np.isfinite(x)
    p = np.zeros_like(x)
    if finite.any():
        m = x[finite].max()
        p[finite] = np.exp(x[finite] - m)
        p /= p.sum()
    return p


def _step(name: str, x: np.ndarray, s: SamplerSettings, margin: float, boundary: np.ndarray) -> np.ndarray:
    if name == "temperature":
        return x / s.temperature if s.temperature != 1.0 else x
    kept = np.isfinite(x)
    if name == "top_k" and 0 < s.top_k < kept.sum():
        ranked = np.sort(x[kept])[::-1]
        kth, first_out = ranked[s.top_k - 1], ranked[s.top_k]
        tol = margin * max(1.0, abs(kth))
        if kth - first_out <= tol:  # the k-th and the (k+1)-th are (nearly) tied: either may be kept
            boundary |= kept & (x >= first_out - tol) & (x <= kth + tol)
        return np.where(x >= kth, x, -np.inf)
    if name == "top_p" and s.top_p < 1.0:
        p = _softmax(x)
        order = np.argsort(-p, kind="stable")
        before = np.concatenate([[0.0], np.cumsum(p[order])[:-1]])  # mass of the better tokens
        keep = before < s.top_p
        keep[0] = True
        boundary[order[np.abs(before - s.top_p) <= margin]] = True
        out = np.full_like(x, -np.inf)
        out[order[keep]] = x[order[keep]]
        return out
    if name == "min_p" and s.min_p > 0.0:
        p = _softmax(x)
        threshold = s.min_p * p.max()
        boundary |= kept & (np.abs(p - threshold) <= margin * p.max())
        return np.where(p >= threshold, x, -np.inf)
    return x


def next_token_distribution(logprobs: np.ndarray, settings: SamplerSettings, chain: tuple[str, ...] = DEFAULT_CHAIN,
                            margin: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """``(probabilities, boundary)`` of the next token: fp64 probabilities over the vocabulary after
    ``chain``'s steps, and the boolean mask of boundary tokens (see the module docstring)."""
    x = np.asarray(logprobs, dtype=np.float64).copy()
    boundary = np.zeros(x.shape, dtype=bool)
    for name in chain:
        x = _step(name, x, settings, margin, boundary)
    return _softmax(x), boundary


def sample(probs: np.ndarray, n: int, rng: np.random.Generator) -> list[int]:
    """``n`` draws from ``probs`` (inverse CDF on fp64: what every engine's sampler amounts to)."""
    cdf = np.cumsum(probs)
    return [int(i) for i in np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), len(probs) - 1)]
