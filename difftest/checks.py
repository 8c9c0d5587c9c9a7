"""How each oracle is applied to the recordings of a run.

Every function here reads recorded values from the sessions and yields :class:`Outcome`s: a
verdict of one oracle on one prompt (or string) for one set of configurations, or a skip with
the reason a value it needs is missing. Nothing here calls an engine.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from enginebugs.difftest.oracles import cache, precision, sanity, tokenization
from enginebugs.difftest.oracles import sampler_chain
from enginebugs.difftest.oracles.sampling import SequentialPlan, sampling_matches, seeded_draws_match, seeded_reproducible
from enginebugs.difftest.oracles.base import Verdict
from enginebugs.difftest.protocol import KNOB_CAPABILITIES
from enginebugs.difftest.session import Missing, Session
from enginebugs.difftest.suites import Suite
from enginebugs.difftest.tolerances import ToleranceProfile, pair_class, same_class

#: The oracle of a same-engine pair whose differing knobs all exercise one capability.
ORACLE_OF_KNOB_CAPABILITY = {"chunked_prefill": "cache.chunked_prefill", "prefix_reuse": "cache.prefix_reuse",
                             "kv_cache_toggle": "cache.use_cache"}


@dataclass
class Outcome:
    oracle: str
    configs: tuple[str, ...]
    engines: tuple[str, ...]
    prompt: str | None = None
    verdict: Verdict | None = None
    skipped: str | None = None


@dataclass
class RunData:
    """Everything the checks read: sessions and recordings, the inputs the runner sent."""

    sessions: list[Session]
    reference: Session
    suite: Suite
    profile: ToleranceProfile
    strings: list[tuple[str, str]]
    prompts: list[str]
    prompt_ids: list[list[int]]
    needle: str = ""
    placements: list[int] = field(default_factory=list)
    special_ids: set[int] = field(default_factory=set)
    special_cases: list[tuple[int, list[int]]] = field(default_factory=list)
    prefix_prompts: list[int] = field(default_factory=list)
    vocab_size: int = 0
    sampling_seed: int = 0
    sampling_plan: SequentialPlan = field(default_factory=SequentialPlan)
    #: The model's name: calibrated tolerance tables (``...#<model>``) apply to their model only.
    model: str = ""

    def token_sessions(self) -> list[Session]:
        """One session per engine build (the first configuration listed; the reference for its
        own): configurations of one engine at one version share its tokenizer, other versions
        (``transformers@5.4.0`` beside ``transformers@5.23.0``) are tokenizers of their own."""
        chosen: dict[tuple, Session] = {self.reference.config.build: self.reference}
        for s in self.sessions:
            chosen.setdefault(s.config.build, s)
        return list(chosen.values())


def _check(oracle: str, sessions: tuple[Session, ...], prompt: str | None, fn: Callable[..., Verdict],
           *needs: Any) -> Outcome:
    configs = tuple(s.label for s in sessions)
    engines = tuple(s.config.engine for s in sessions)
    for value in needs:
        if isinstance(value, Missing):
            return Outcome(oracle, configs, engines, prompt, skipped=value.reason)
    return Outcome(oracle, configs, engines, prompt, verdict=fn(*needs))


def _with_root_cause(fn: Callable[..., Verdict], same_dtype: bool) -> Callable[..., Verdict]:
    """Across dtypes a precision failure points to Mismatched Precision; within one dtype a token
    outside the other's top-k (tier 2) to Incorrect Algorithm Implementation, else Numerical Issue."""
    def wrapped(*args: Any) -> Verdict:
        verdict = fn(*args, root_cause="numerical-issue" if same_dtype else "mismatched-precision")
        if not verdict.ok and same_dtype and verdict.metrics.get("tier") == 2 and verdict.root_cause == "numerical-issue":
            verdict.root_cause = "incorrect-algorithm-implementation"
        return verdict
    return wrapped


# -- tokenization -------------------------------------------------------------------------------
def tokenization_checks(d: RunData) -> Iterator[Outcome]:
    ref = d.reference
    for s in d.token_sessions():
        pair = (ref, s)
        for i, (_, text) in enumerate(d.strings):
            ref_ids, ids = ref.get(("tok", i)), s.get(("tok", i))
            if s is not ref:
                yield _check("tokenization.ids", pair, text, lambda a, b, t=text: tokenization.token_ids_match(t, a, b),
                             ref_ids, ids)
                yield _check("tokenization.decode", pair, text, lambda e, a, r=ref_ids: tokenization.decode_match(r, e, a),
                             ref.get(("dec", i)), s.get(("dec", i)))
                if isinstance(ids, list) and ids == ref_ids and "offsets" in s.capabilities & ref.capabilities:
                    yield _check("tokenization.offsets", pair, text,
                                 lambda e, a, t=text, x=ids: tokenization.offsets_match(t, x, e, a),
                                 ref.get(("off", i)), s.get(("off", i)))
            ref_rt = ref.get(("rt", i)) if s is not ref else peer_round_trip(d, i)
            yield _check("tokenization.round_trip", (s,), text,
                         lambda own, dec, r=ref_ids, rr=ref_rt, t=text: tokenization.round_trip(
                             t, own, dec, reference_ids=r if s is not ref else None,
                             reference_decoded=rr if isinstance(rr, str) else None),
                         ids, s.get(("rt", i)))
            yield _check("tokenization.streaming", (s,), text,
                         lambda r, full, chunks: tokenization.streaming_matches(r, full, chunks),
                         ref_ids, s.get(("dec", i)), s.get(("stream", i)))
        if s is not ref:
            for j, prompt in enumerate(d.prompts):
                yield _check("tokenization.ids", pair, prompt,
                             lambda a, b, t=prompt: tokenization.token_ids_match(t, a, b),
                             ref.get(("tokp", j)), s.get(("tokp", j)))
        for j, prompt in enumerate(d.prompts):  # the text tokens this engine generated for the prompt
            yield _check("tokenization.streaming", (s,), prompt, tokenization.streaming_matches,
                         s.get(("genids", j)), s.get(("gendec", j)), s.get(("genstream", j)))
        yield from special_token_checks(d, s)
    yield from generated_text_checks(d)


def peer_round_trip(d: RunData, i: int) -> str | None:
    """The reference's counterpart of ``ref_rt`` for string ``i``: a text another engine build
    round-trips the reference's ids to, where it equals the reference's own (then the loss is the
    tokenizer's design, exempt on the reference as it is on every engine that matches the
    reference), else None. Without it the reference alone would be flagged, a difference between
    builds that decode identically."""
    ref = d.reference
    own, ids = ref.get(("rt", i)), ref.get(("tok", i))
    for s in d.token_sessions():
        if s is not ref and isinstance(own, str) and isinstance(ids, list) and s.get(("tok", i)) == ids \
                and s.get(("rt", i)) == own:
            return own
    return None


def special_token_checks(d: RunData, s: Session) -> Iterator[Outcome]:
    """Decode (against the reference) and streaming (against the engine's own decode, with the
    special tokens rendered or dropped) of ids holding special tokens."""
    ref = d.reference
    for n, (i, ids) in enumerate(d.special_cases):
        text = d.strings[i][1]
        if s is not ref:
            yield _check("tokenization.decode", (ref, s), text, lambda e, a, r=ids: tokenization.decode_match(r, e, a),
                         ref.get(("sdec", n)), s.get(("sdec", n)))
        yield _check("tokenization.streaming", (s,), text,
                     lambda full, plain, chunks, r=ids: tokenization.streaming_matches_special(r, full, plain, chunks),
                     s.get(("sdec", n)), s.get(("dec", i)), s.get(("sstream", n)))


def generated_text_checks(d: RunData) -> Iterator[Outcome]:
    """Every configuration's generated text against its own decode of its generated ids; for one
    configuration per engine also against the reference's decode of the same ids."""
    ref = d.reference
    compared = {t.label for t in d.token_sessions()} - {ref.label}
    for s in d.sessions:
        pair = (ref, s) if s.label in compared else (s,)
        for j, prompt in enumerate(d.prompts):
            refs = ((ref.get(("gentext.ref", s.label, j)), ref.get(("gentext.refplain", s.label, j)))
                    if s.label in compared else (None, None))
            yield _check("tokenization.generated_text", pair, prompt,
                         lambda g, full, plain, r=refs: tokenization.generated_text(
                             g.token_ids, g.text, full, plain, *(x if isinstance(x, str) else None for x in r)),
                         s.get(("gen", j)), s.get(("gentext.full", j)), s.get(("gendec", j)))


# -- one engine's numbers -----------------------------------------------------------------------
def sanity_checks(d: RunData) -> Iterator[Outcome]:
    for s in d.sessions:
        for j, prompt in enumerate(d.prompts):
            yield _check("sanity.logprobs", (s,), prompt, lambda x: sanity.scores_sane(x, d.vocab_size),
                         s.get(("scores", j)))
            yield _check("sanity.logprobs", (s,), prompt, lambda g: sanity.generation_sane(g, d.vocab_size),
                         s.get(("gen", j)))


# -- precision across configurations ------------------------------------------------------------
def knob_oracle(a: Session, b: Session) -> str:
    """The oracle a same-engine, same-dtype pair is judged by: the capability every differing knob
    exercises, as the engine declares it (``knob_capabilities``), else as
    :data:`~enginebugs.difftest.protocol.KNOB_CAPABILITIES` names it; mixed or other knobs: precision.knobs."""
    keys = {k for k in {*a.config.options, *b.config.options} if a.config.options.get(k) != b.config.options.get(k)}
    roles = b.knob_capabilities or a.knob_capabilities or KNOB_CAPABILITIES
    kinds = {roles.get(k) for k in keys}
    if len(kinds) == 1:
        return ORACLE_OF_KNOB_CAPABILITY.get(kinds.pop(), "precision.knobs")
    return "precision.knobs"


def base_of(s: Session, sessions: list[Session]) -> Session | None:
    """The configuration of the same engine and dtype whose knobs are a strict subset of ``s``'s
    (the closest one), e.g. ``llamacpp:f32`` for ``llamacpp:f32[n_batch=4]``."""
    mine = set(s.config.options.items())
    bases = [b for b in sessions if b is not s and (b.config.build, b.config.dtype) == (s.config.build, s.config.dtype)
             and set(b.config.options.items()) < mine]
    return max(bases, key=lambda b: len(b.config.options), default=None)


def config_pairs(d: RunData) -> list[tuple[Session, Session]]:
    """Reference vs every configuration without a knob-less base in the run; each knob variant
    vs its base (so ``llamacpp:f32[n_batch=4]`` is judged against ``llamacpp:f32`` only)."""
    pairs = []
    for s in d.sessions:
        if s is d.reference:
            continue
        base = base_of(s, d.sessions)
        pairs.append((base or d.reference, s))
    return pairs


def kld_summary(a: Session, b: Session, d: RunData) -> tuple[dict[str, Any] | None, str]:
    """Tier-4 statistics over every prompt both sides scored with full log-probabilities
    (``worst_prompt`` is the index of the prompt holding the largest KL divergence)."""
    parts, missing, worst = [], "", (-1.0, None)
    for j in range(len(d.prompts)):
        x, y = a.arrays.get(("scores", j)), b.arrays.get(("scores", j))
        if x is None or y is None:
            missing = missing or (f"no full log-probabilities from {a.label if x is None else b.label} "
                                  f"for prompt {j}")
            continue
        parts.append(precision.position_stats(x, y, d.prompt_ids[j][1:]))
        top = float(parts[-1]["kld"].max()) if len(parts[-1]["kld"]) else -1.0
        worst = max(worst, (top, j), key=lambda t: t[0])
    if not parts:
        return None, missing
    return {**precision.summarize(parts), "worst_prompt": worst[1]}, missing


def precision_checks(d: RunData, metrics: list[dict[str, Any]]) -> Iterator[Outcome]:
    for a, b in config_pairs(d):
        cls = pair_class(a.config, b.config)
        tol = (d.profile.for_class(cls, knob_oracle(a, b), b.config.engine, d.model) if cls.startswith("same")
               else d.profile.for_class(cls))
        same_dtype = a.config.dtype == b.config.dtype
        if cls.startswith("same") and a.config.build == b.config.build:
            name = knob_oracle(a, b)
            root = "incorrect-cache-management" if name.startswith("cache.") else "numerical-issue"
            gen_fn = lambda x, y, r=root, t=tol: precision.generations_close(x, y, t, r)  # noqa: E731
            score_fn = lambda x, y, r=root, t=tol: precision.scores_close(x, y, t, r)  # noqa: E731
            names = (name, name, name)
        else:
            gen_fn = _with_root_cause(lambda x, y, root_cause, t=tol: precision.generations_close(x, y, t, root_cause),
                                      same_dtype)
            score_fn = _with_root_cause(lambda x, y, root_cause, t=tol: precision.scores_close(x, y, t, root_cause),
                                        same_dtype)
            names = ("precision.tokens", "precision.logprobs", "precision.kld")
        worst = {"generation": 0.0, "scores": 0.0}
        for j, prompt in enumerate(d.prompts):
            for kind, name, fn in (("generation", names[0], gen_fn), ("scores", names[1], score_fn)):
                key = ("gen", j) if kind == "generation" else ("scores", j)
                outcome = _check(name, (a, b), prompt, fn, a.get(key), b.get(key))
                if outcome.verdict is not None:
                    worst[kind] = max(worst[kind], outcome.verdict.metrics.get("max_abs_logprob_delta") or 0.0)
                yield outcome
        summary, missing = kld_summary(a, b, d)
        configs, engines = (a.label, b.label), (a.config.engine, b.config.engine)
        if summary is None:
            yield Outcome(names[2], configs, engines, skipped=missing or "no prompt scored by both")
            continue
        verdict = precision.distribution_close(summary, tol, "numerical-issue" if same_dtype else "mismatched-precision")
        if cls.startswith("same") and not verdict.ok:
            verdict.root_cause = "incorrect-cache-management" if names[2].startswith("cache.") else verdict.root_cause
        metrics.append({"expected": a.label, "actual": b.label, "pair_class": cls, "oracle": names[2],
                        "tolerance": tol.to_dict(), "max_abs_logprob_delta": worst, **summary})
        worst_prompt = summary.get("worst_prompt")
        yield Outcome(names[2], configs, engines, d.prompts[worst_prompt] if worst_prompt is not None else None,
                      verdict=verdict)


# -- cache and batch: metamorphic pairs within one configuration --------------------------------
def cache_checks(d: RunData) -> Iterator[Outcome]:
    for s in d.sessions:
        tol = d.profile.for_class(same_class(s.config.dtype), "cache.kv_recompute", s.config.engine, d.model)
        for j, prompt in enumerate(d.prompts):
            yield _check("cache.kv_recompute", (s,), prompt, lambda g, r: cache.cached_vs_recompute(g, r, tol),
                         s.get(("gen", j)), s.get(("recompute", j)))
        tol = d.profile.for_class(same_class(s.config.dtype), "cache.prefix_reuse", s.config.engine, d.model)
        for j in d.prefix_prompts:
            cold, hot = s.get(("prefix.cold", j)), s.get(("prefix.hot", j))
            if getattr(hot, "cached_prompt_tokens", None) == 0:  # the engine says nothing came from its cache
                hot = Missing(f"{s.label} reused no cached prefix on the hot call (cached_prompt_tokens=0)")
            if (getattr(cold, "cached_prompt_tokens", None) or 0) > 0:
                cold = Missing(f"{s.label} served {cold.cached_prompt_tokens} prompt tokens of the cold call "
                               "from its cache (the reset did not take)")
            yield _check("cache.prefix_reuse", (s,), d.prompts[j], lambda c, h: cache.cold_vs_hot(c, h, tol),
                         cold, hot)
            for tag in ("branch", "after"):  # the other calls of the sequence vs the same prompt on a fresh cache
                call = s.get(("prefix.fresh", tag, j))
                yield _check("cache.prefix_reuse", (s,), d.prompts[j],
                             lambda f, x, t=tag: cache.sequence_call_vs_fresh(f, x, t, tol), call,
                             s.get((f"prefix.{tag}", j)))


def batch_checks(d: RunData) -> Iterator[Outcome]:
    size = d.suite.batch_size
    for s in d.sessions:
        tol = d.profile.for_class(same_class(s.config.dtype), "batch.needle", s.config.engine, d.model)
        alone = s.get("batch.alone")
        for p, pos in enumerate(d.placements):
            batch = s.get(("batch.placed", p))
            yield _check("batch.needle", (s,), d.needle,
                         lambda a, b, pos=pos: cache.batch_invariance(a[0], b[pos], pos, size, tol, b), alone, batch)
        first, second, order = s.get("batch.first"), s.get("batch.reordered"), s.records.get("batch.order", [])
        tol = d.profile.for_class(same_class(s.config.dtype), "batch.order", s.config.engine, d.model)
        yield _check("batch.order", (s,), None, lambda x, y: cache.order_invariance(x, y, order, tol), first, second)


def sampling_checks(d: RunData) -> Iterator[Outcome]:
    """A seeded sample against its repeat alone and its repeat co-batched with unseeded requests."""
    settings = (("seeded.again", "repeated alone"),
                ("seeded.co_batched", "co-batched with 2 unseeded sampled and 1 greedy requests"))
    for s in d.sessions:
        tol = d.profile.for_class(same_class(s.config.dtype))
        first = s.get("seeded.first")
        for key, setting in settings:
            yield _check("sampling.seeded", (s,), d.prompts[0] if d.prompts else None,
                         lambda a, b, how=setting: seeded_reproducible(a, b, d.sampling_seed, how, tol),
                         first, s.get(key))


def sampling_distribution_checks(d: RunData) -> Iterator[Outcome]:
    """Each engine's next-token samples under each sampler setting against the exact distribution of
    its documented chain on the reference's fp32 log-probabilities; the seeded first look repeated."""
    from enginebugs.difftest.runner import SAMPLER_SETTINGS, engine_of

    ref = d.reference
    expected = ref.arrays.get(("scores", 0))
    prompt = d.prompts[0] if d.prompts else None
    for s in d.sessions:
        chain = sampler_chain.chain_of(engine_of(s.config))
        if s.alive and "sampling" not in s.capabilities:
            yield Outcome("sampling.distribution", (ref.label, s.label), (ref.config.engine, s.config.engine), prompt,
                          skipped=f"{s.label} does not declare capability 'sampling'")
            continue
        for i, setting in enumerate(SAMPLER_SETTINGS):
            dist = (Missing(f"no full log-probabilities from the reference {ref.label} for prompt 0")
                    if expected is None else sampler_chain.next_token_distribution(expected[-1], setting, chain))
            yield _check("sampling.distribution", (ref, s), prompt,
                         lambda draws, pb, st=setting, c=chain: sampling_matches(draws, pb[0], pb[1], d.sampling_plan,
                                                                                 st.label, c),
                         s.get(("sampling.draws", i)), dist)
            first = s.get(("sampling.draws", i))
            yield _check("sampling.seeded", (s,), prompt,
                         lambda a, b, st=setting, seed=d.sampling_seed + 1000 * i: seeded_draws_match(a, b, seed, st.label),
                         first[: d.sampling_plan.first] if isinstance(first, list) else first,
                         s.get(("sampling.repeat", i)))


def evaluate(d: RunData, metrics: list[dict[str, Any]]) -> Iterator[Outcome]:
    """Every outcome of every oracle; precision metrics per pair are appended to ``metrics``."""
    yield from tokenization_checks(d)
    yield from sanity_checks(d)
    yield from precision_checks(d, metrics)
    yield from cache_checks(d)
    yield from batch_checks(d)
    yield from sampling_checks(d)
    yield from sampling_distribution_checks(d)
