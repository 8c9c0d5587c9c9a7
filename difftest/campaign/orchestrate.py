"""The campaign: tokenizer, logit and cache/batching parts over one model, merged into one results
file (schema ``enginebugs.difftest/1`` plus a ``campaign`` section) and reproduction scripts.

Each part that cannot run (an engine or format missing, a load failure) is reported as skipped
with the reason; the others go on. Each configuration's model loads once per part.
"""
from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from enginebugs.difftest.protocol import EngineConfig, ModelSpec
from enginebugs.difftest.results import RunResult, assemble
from enginebugs.difftest.suites import Suite
from enginebugs.difftest.tolerances import ToleranceProfile, load_profile

from . import merge
from .formats import ensure_formats
from .plan import QUANTIZED, Plan, config, make_plan

PARTS = ("tokenizer", "logits", "cache")
#: Prompts of the cache part: the shortest of each kind first, at most this many tokens each.
CACHE_PROMPT_TOKENS = 64


@dataclass
class CampaignOptions:
    engines: tuple[str, ...] = ("transformers", "llamacpp", "onnxruntime")
    parts: tuple[str, ...] = PARTS
    formats: tuple[str, ...] = ("gguf-f32", "onnx")
    profile: ToleranceProfile = field(default_factory=load_profile)
    seed: int = 0
    threads: int = 1
    timeout_s: float = 600.0
    max_prompts: int = 0
    cache_prompts: int = 10
    vocab_limit: int = 0
    strings_per_generator: int = 40
    soup: int = 1000
    progress: bool = True
    command: str = ""


@dataclass
class Part:
    name: str
    status: str = "ok"
    reason: str = ""
    wall_s: float = 0.0
    result: RunResult | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "reason": self.reason, "wall_s": round(self.wall_s, 3)}


def _meta(name: str, model: ModelSpec, suite: Suite, options: CampaignOptions, reference: str | None,
          configs: list[dict[str, Any]], started: dt.datetime) -> dict[str, Any]:
    return {"id": f"{started.strftime('%Y%m%dT%H%M%SZ')}-{name}", "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "finished_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": options.command, "model": {k: v for k, v in model.to_dict().items() if k != "files"},
            "suite": suite.to_dict(), "strings": 0, "seed": options.seed, "profile": options.profile.name,
            "tolerances": options.profile.to_dict(), "reference": reference, "configs": configs, "timings": {}}


def session_rows(sessions: list) -> list[dict[str, Any]]:
    return [{"label": s.label, **s.config.to_dict(), "status": s.status, "skip_reason": s.skip_reason,
             "capabilities": sorted(s.capabilities), "fingerprint": s.fingerprint, "load_s": round(s.load_time_s, 3),
             "engine_s": round(s.engine_time_s, 3), "calls": s.calls} for s in sessions]


class Campaign:
    def __init__(self, model: ModelSpec, suite: Suite, options: CampaignOptions,
                 client_factory: Callable[[EngineConfig], Any] | None = None, console: Console | None = None) -> None:
        unknown = set(options.parts) - set(PARTS)
        if unknown:
            raise ValueError(f"unknown campaign part(s) {sorted(unknown)}; known: {', '.join(PARTS)}")
        if options.max_prompts:
            suite = replace(suite, prompts=suite.prompts[: options.max_prompts])
        self.model, self.suite, self.options = model, suite, options
        self.console = console or Console(stderr=True)
        self.factory = client_factory
        self.parts: list[Part] = []
        self.notes: list[str] = []
        self.pieces: Callable[[list[int]], list[str]] | None = None
        self.sides: tuple | None = None
        self.sides_reason = ""

    # -- helpers ---------------------------------------------------------------------------------
    def _progress(self) -> Progress:
        return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=self.console,
                        transient=True, disable=not self.options.progress)

    def _say(self, message: str) -> None:
        if self.options.progress:
            self.console.print(f"[dim]{message}[/dim]")

    def _factory(self, model: ModelSpec) -> Callable[[EngineConfig], Any]:
        if self.factory is not None:
            return self.factory
        from enginebugs.difftest.runner import RunOptions, worker_factory

        return worker_factory(model, RunOptions(timeout_s=self.options.timeout_s,
                                                load_timeout_s=max(600.0, self.options.timeout_s)))

    def _load_sides(self, model: ModelSpec) -> None:
        """Both tokenizers (tokenizer-only loads), shared by the tokenizer part, prompt lengths and
        the readable pieces of each finding's first divergence; a reason when impossible."""
        from .tokenizer import TokenizerUnavailable, load_tokenizers

        if not {"transformers", "llamacpp"} <= set(self.options.engines):
            self.sides_reason = "needs both transformers and llamacpp engines"
            return
        try:
            self._say("loading both tokenizers (tokenizer only, no weights)")
            self.sides = load_tokenizers(model, config("transformers", "f32"),
                                         config("llamacpp", QUANTIZED.get(model.name, "q8_0")))
        except TokenizerUnavailable as exc:
            self.sides_reason = str(exc)
            return
        self.pieces = lambda ids: [self.sides[0].decode([i]) for i in ids]

    def _token_lengths(self, prompts: tuple[str, ...]) -> list[int]:
        """Prompt lengths in reference tokens (with BOS), or a generous bytes-based estimate."""
        if self.sides:
            return [len(self.sides[0].engine.tokenize(p, add_special=True)) for p in prompts]
        return [len(p.encode()) + 2 for p in prompts]

    def cache_suite(self) -> Suite:
        """A few short prompts for the cache part (every kind represented), few edge-case strings."""
        from .plan import prompt_kind

        lengths = self._token_lengths(self.suite.prompts)
        short = [(p, prompt_kind(p, n)) for p, n in zip(self.suite.prompts, lengths) if n <= CACHE_PROMPT_TOKENS]
        chosen, kinds = [], {}
        for p, kind in short:  # round-robin over kinds, in suite order
            kinds.setdefault(kind, []).append(p)
        while len(chosen) < min(self.options.cache_prompts, len(short)):
            for queue in kinds.values():
                if queue and len(chosen) < self.options.cache_prompts:
                    chosen.append(queue.pop(0))
        return replace(self.suite, name=f"{self.suite.name}-cache", prompts=tuple(chosen or self.suite.prompts[:2]),
                       strings_per_generator=min(self.suite.strings_per_generator, 4))

    # -- the run ---------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        started, t0 = dt.datetime.now(dt.timezone.utc), time.perf_counter()
        model, format_skips = ensure_formats(self.model, self.options.formats, self._say)
        for fmt, reason in format_skips.items():
            self.notes.append(f"format {fmt} unavailable: {reason}")
        self._load_sides(model)
        cache_suite = self.cache_suite()
        plan = make_plan(model, list(self.options.engines),
                         max(self._token_lengths(self.suite.prompts)) + self.suite.max_new_tokens,
                         max(self._token_lengths(cache_suite.prompts)) + self.suite.max_new_tokens,
                         self.options.threads)
        for name, runner in (("tokenizer", self._tokenizer), ("logits", self._logits), ("cache", self._cache)):
            part = Part(name)
            if name not in self.options.parts:
                part.status, part.reason = "skipped", "not selected (--parts)"
            else:
                t = time.perf_counter()
                runner(model, plan, part, started, cache_suite)
                part.wall_s = time.perf_counter() - t
            self.parts.append(part)
        results = merge.merge_parts(self.parts, model, self.suite, self.options, plan, started, self.notes)
        if self.pieces is not None:
            merge.add_pieces(results["findings"], self.pieces)
        results["run"]["wall_s"] = round(time.perf_counter() - t0, 3)
        results["campaign"]["wall_s"] = results["run"]["wall_s"]
        return results

    def _tokenizer(self, model: ModelSpec, plan: Plan, part: Part, started: dt.datetime, _: Suite) -> None:
        from .tokenizer import TokenizerCampaign, all_checks

        if self.sides is None:
            part.status, part.reason = "skipped", self.sides_reason
            return
        expected, actual = self.sides
        campaign = TokenizerCampaign.from_sides(expected, actual)
        vocab = min(self.options.vocab_limit or model.vocab_size, model.vocab_size) or model.vocab_size
        with self._progress() as progress:
            task = progress.add_task("tokenizer campaign", total=vocab + 2, status="vocabulary, edge cases, soup")
            checks = all_checks(campaign, vocab, list(self.suite.prompts), self.options.seed,
                                self.options.strings_per_generator, self.options.soup,
                                lambda n: progress.advance(task, n))
            t = time.perf_counter()
            configs = [{"label": s.label, "engine": s.engine.name, "dtype": "tokenizer", "options": {},
                        "status": "ok", "skip_reason": "", "capabilities": ["tokenize", "detokenize"],
                        "fingerprint": {"tokenizer_only": True}, "load_s": 0.0, "engine_s": 0.0, "calls": 0}
                       for s in (expected, actual)]
            part.result = assemble(_meta("tokenizer", model, self.suite, self.options, expected.label, configs, started),
                                   checks, [], [], wall_s=0.0)
            part.result.run["wall_s"] = round(time.perf_counter() - t, 3)
        part.extra = campaign.summary()
        if vocab < model.vocab_size:
            part.extra["notes"].append(f"vocabulary limited to the first {vocab} of {model.vocab_size} ids")

    def _logits(self, model: ModelSpec, plan: Plan, part: Part, started: dt.datetime, _: Suite) -> None:
        from .logits import run_logit_part

        configs = plan.logit_all
        factory = self._factory(model)
        with self._progress() as progress:
            task = progress.add_task("logit campaign", total=len(configs) * (1 + len(self.suite.prompts)), status="")
            t = time.perf_counter()
            result = run_logit_part(model, configs, self.suite, self.options.profile, factory,
                                    lambda n: progress.advance(task, n),
                                    lambda m: progress.update(task, status=m))
        for s in result.sessions:
            s.close()
        ref = result.sessions[0]
        if not ref.alive and ref.status != "ok":
            part.status, part.reason = "failed", f"reference {ref.label} did not load: {ref.skip_reason or ref.status}"
        meta = _meta("logits", model, self.suite, self.options, ref.label, session_rows(result.sessions), started)
        part.result = assemble(meta, result.outcomes, [f for s in result.sessions for f in s.failures], result.metrics,
                               wall_s=time.perf_counter() - t)
        part.extra = {"reference": ref.label, "by_kind": result.by_kind,
                      "prompt_tokens": [len(ids) for ids in result.prompt_ids]}
        skipped = [f"{s.label}: {s.skip_reason}" for s in result.sessions if s.status == "unsupported"]
        if skipped:
            part.reason = "skipped configurations: " + "; ".join(skipped)

    def _cache(self, model: ModelSpec, plan: Plan, part: Part, started: dt.datetime, suite: Suite) -> None:
        from enginebugs.difftest.runner import Runner, RunOptions

        if "llamacpp" not in self.options.engines:
            part.status, part.reason = "skipped", "the cache and batching part runs on llama.cpp"
            return
        options = RunOptions(profile=self.options.profile, seed=self.options.seed, reference=plan.cache_base.label,
                             timeout_s=self.options.timeout_s, progress=self.options.progress,
                             command=self.options.command)
        self._say(f"cache and batching part: {len(plan.cache_all)} llama.cpp configurations, "
                  f"{len(suite.prompts)} prompts")
        part.result = Runner(model, plan.cache_all, suite, options, client_factory=self.factory,
                             console=self.console).run()
        part.extra = {"configs": [c.label for c in plan.cache_all], "prompts": len(suite.prompts)}
