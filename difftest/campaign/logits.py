"""Logit campaign: every prompt scored with full log-probabilities and continued greedily by each
configuration, judged against the fp32 reference with the runner's oracles.

Unlike :class:`~enginebugs.difftest.runner.Runner`, which keeps every prompt's full-vocabulary log-probabilities
in memory until judging (fine for the tiny model's 512-token vocabulary), this part turns each
prompt's arrays into per-position statistics (KL divergence, top-1 agreement, Δp) as soon as both
sides have scored it and deletes them: a 262k vocabulary costs 1 MB per position. Everything else is
the runner's: sessions (crashes and hangs become findings), :func:`~enginebugs.difftest.checks.precision_checks`
and :func:`~enginebugs.difftest.checks.sanity_checks` over the recorded top-k, tier 4 from
:mod:`enginebugs.difftest.oracles.precision`.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from enginebugs.difftest.checks import Outcome, RunData, precision_checks, sanity_checks
from enginebugs.difftest.oracles import precision
from enginebugs.difftest.protocol import EngineConfig, ModelSpec, PromptScores
from enginebugs.difftest.runner import concurrently
from enginebugs.difftest.session import Session
from enginebugs.difftest.suites import Suite
from enginebugs.difftest.tolerances import ToleranceProfile, pair_class

from .plan import KINDS, prompt_kind

#: Rows per chunk when computing per-position statistics (bounds the fp32 temporaries).
ROWS_PER_CHUNK = 64
#: Copies of one prompt's full-vocabulary array alive per configuration while it is scored: the
#: engine's logits and their log-softmax in the worker, the frame the client receives (with
#: Gemma's 262k-token vocabulary an 800-token prompt is ~0.9 GB per copy).
COPIES_PER_ARRAY = 3


def memory_budget() -> int:
    """Bytes the scoring of one prompt may take: half the memory available now (called once the
    engines have loaded their models), at most half of the machine's memory."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2 * 2**30
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            available = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError, IndexError):
        available = total // 2
    return min(total, available) // 2


#: Significant digits kept of each per-position value written for the histograms.
DIGITS = 4


@dataclass
class LogitPart:
    sessions: list[Session]
    outcomes: list[Outcome] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    by_kind: list[dict[str, Any]] = field(default_factory=list)
    prompt_ids: list[list[int]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)


def chunked_position_stats(expected: np.ndarray, actuals: dict[str, np.ndarray],
                           next_ids: list[int]) -> dict[str, dict[str, np.ndarray]]:
    """:func:`precision.position_stats` of each actual array against ``expected``, row chunk by row
    chunk (it is row-wise, so this is exact); each chunk of the reference is normalised once for
    all of them. Arrays whose shape differs from the reference's are left out."""
    same = {label: a for label, a in actuals.items() if a is not None and a.shape == expected.shape}
    parts: dict[str, list[dict[str, np.ndarray]]] = {label: [] for label in same}
    for r in range(0, len(expected), ROWS_PER_CHUNK):
        rows = expected[r:r + ROWS_PER_CHUNK]
        ref = precision.ReferenceRows.of(rows)
        for label, actual in same.items():
            parts[label].append(precision.position_stats(rows, actual[r:r + ROWS_PER_CHUNK],
                                                         next_ids[r:r + ROWS_PER_CHUNK], ref))
    return {label: {k: np.concatenate([p[k] for p in chunks]) for k in chunks[0]}
            for label, chunks in parts.items() if chunks}


def _take_array(s: Session, key: Any) -> np.ndarray | None:
    """The full log-probabilities the session loaded for ``key``, removed from memory and disk."""
    array = s.arrays.pop(key, None)
    value = s.records.get(key)
    if isinstance(value, PromptScores) and value.full_logprobs_file:
        try:
            os.unlink(value.full_logprobs_file)
        except OSError:
            pass
    return array


def _rounded(values: np.ndarray) -> list[float]:
    return [float(f"{v:.{DIGITS}g}") for v in np.asarray(values, dtype=np.float64)]


def _kld_outcome(ref: Session, s: Session, summary: dict[str, Any] | None, profile: ToleranceProfile) -> Outcome:
    configs, engines = (ref.label, s.label), (ref.config.engine, s.config.engine)
    if summary is None:
        return Outcome("precision.kld", configs, engines, skipped=f"no prompt scored with full log-probabilities "
                                                                  f"by both {ref.label} and {s.label}")
    tol = profile.for_class(pair_class(ref.config, s.config))
    same_dtype = ref.config.dtype == s.config.dtype
    verdict = precision.distribution_close(summary, tol, "numerical-issue" if same_dtype else "mismatched-precision")
    return Outcome("precision.kld", configs, engines, None, verdict=verdict)


def run_logit_part(model: ModelSpec, configs: list[EngineConfig], suite: Suite, profile: ToleranceProfile,
                   factory: Callable[[EngineConfig], Any], advance: Callable[[int], None] = lambda n: None,
                   status: Callable[[str], None] = lambda m: None, budget: int | None = None) -> LogitPart:
    """Score and generate every prompt of ``suite`` with ``configs`` (the first is the reference).
    The engines score a prompt at once while its full-vocabulary arrays fit in ``budget`` bytes
    (default :func:`memory_budget`); a longer prompt is scored by as many engines at once as fit,
    the reference first, each array compared with the reference's and dropped before the next
    group starts."""
    sessions = [Session(c, factory(c)) for c in configs]
    part = LogitPart(sessions)
    status(f"loading {len(sessions)} configurations")

    def start(s: Session) -> None:
        s.start()
        advance(1)
    concurrently(sessions, start)  # workers start (import their engines, load the model) side by side
    ref, others = sessions[0], [s for s in sessions[1:] if s.alive]
    if not ref.alive:
        return part
    budget = memory_budget() if budget is None else budget
    k, n = suite.top_k, suite.max_new_tokens
    stats: dict[str, list[tuple[str, dict[str, np.ndarray]]]] = {s.label: [] for s in others}
    for j, prompt in enumerate(suite.prompts):
        ids = ref.call(("tokp", j), "tokenize", text=prompt, add_special=True)
        ids = ids if isinstance(ids, list) else []
        part.prompt_ids.append(ids)
        part.kinds.append(prompt_kind(prompt, len(ids)))
        if len(ids) < 2:
            advance(len(sessions))
            continue
        status(f"prompt {j + 1}/{len(suite.prompts)} ({len(ids)} tokens)")
        arrays: dict[str, np.ndarray | None] = {}

        def score(s: Session, j: int = j, ids: list[int] = ids) -> None:
            s.call(("scores", j), "prompt_logprobs", ids=ids, top_k=k, full=True)
            s.call(("gen", j), "generate", ids=ids, max_new_tokens=n, top_k=k)
            arrays[s.label] = _take_array(s, ("scores", j))
            advance(1)
        def compare(group: list[Session], expected: np.ndarray | None, ids: list[int] = ids) -> None:
            actual = {s.label: arrays.pop(s.label, None) for s in group}
            if expected is not None:
                for label, st in chunked_position_stats(expected, actual, ids[1:]).items():
                    stats[label].append((part.kinds[-1], st))

        # The KLD, top-1 and Δp statistics are taken as soon as a group of engines has scored, so
        # at most one full-vocabulary array per configuration (and one prompt) is ever held.
        array_bytes = len(ids) * max(model.vocab_size, 1) * 4
        width = max(1, int(budget // (array_bytes * COPIES_PER_ARRAY)))  # engines scoring at once
        first = others[: width - 1]
        concurrently([ref, *first], score)
        expected = arrays.pop(ref.label)
        compare(first, expected)
        rest, step = others[len(first):], max(1, int((budget - array_bytes) // (array_bytes * COPIES_PER_ARRAY)))
        for g in range(0, len(rest), step):
            concurrently(rest[g:g + step], score)
            compare(rest[g:g + step], expected)
    data = RunData(sessions, ref, suite, profile, [], list(suite.prompts), part.prompt_ids,
                   vocab_size=model.vocab_size)
    for outcome in (*sanity_checks(data), *precision_checks(data, [])):
        if outcome.oracle != "precision.kld":  # no arrays were kept; tier 4 is judged below
            part.outcomes.append(outcome)
    for s in others:
        summary = precision.summarize([p for _, p in stats[s.label]]) if stats[s.label] else None
        part.outcomes.append(_kld_outcome(ref, s, summary, profile))
        if summary is None:
            continue
        worst = _worst_deltas(part.outcomes, ref.label, s.label)
        everything = {key: np.concatenate([p[key] for _, p in stats[s.label]]) for key in ("kld", "delta_p")}
        part.metrics.append({"expected": ref.label, "actual": s.label, "pair_class": pair_class(ref.config, s.config),
                             "oracle": "precision.kld",
                             "tolerance": profile.for_class(pair_class(ref.config, s.config)).to_dict(),
                             "max_abs_logprob_delta": worst, **summary,
                             "distribution": {key: _rounded(v) for key, v in everything.items()}})
        part.by_kind += _by_kind(ref, s, stats[s.label], part)
    return part


def _worst_deltas(outcomes: list[Outcome], expected: str, actual: str) -> dict[str, float]:
    worst = {"generation": 0.0, "scores": 0.0}
    for o in outcomes:
        if o.configs == (expected, actual) and o.verdict is not None:
            kind = "generation" if o.oracle == "precision.tokens" else "scores"
            worst[kind] = max(worst[kind], o.verdict.metrics.get("max_abs_logprob_delta") or 0.0)
    return worst


def _by_kind(ref: Session, s: Session, stats: list[tuple[str, dict[str, np.ndarray]]],
             part: LogitPart) -> list[dict[str, Any]]:
    """Tier-4 statistics and identical greedy continuations per prompt kind."""
    rows = []
    for kind in KINDS:
        chosen = [p for k, p in stats if k == kind]
        if not chosen:
            continue
        summary = precision.summarize(chosen)
        prompts = [j for j, k in enumerate(part.kinds) if k == kind]
        same = sum(1 for j in prompts if _same_generation(ref, s, j))
        rows.append({"expected": ref.label, "actual": s.label, "kind": kind, "prompts": len(prompts),
                     "positions": summary["positions"], "kld_mean": summary["kld"]["mean"],
                     "kld_p99": summary["kld"]["p99"], "same_top1_pct": summary["same_top1_pct"],
                     "greedy_exact": f"{same}/{len(prompts)}"})
    return rows


def _same_generation(a: Session, b: Session, j: int) -> bool:
    x, y = a.get(("gen", j)), b.get(("gen", j))
    return bool(x) and bool(y) and x.token_ids == y.token_ids
