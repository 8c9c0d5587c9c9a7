"""The base of every planted fault: a wrapper that delegates the whole protocol to an inner engine."""
from __future__ import annotations

import dataclasses
from typing import Any

from enginebugs.difftest.protocol import EngineConfig, Generation, ModelSpec, PromptScores, Unsupported, call_batched

DEFAULT_WRAPPED = "transformers"


class FaultyEngine:
    """Delegates everything to ``inner``; subclasses override what they break."""

    name = "faulty"
    #: Capabilities the wrapper provides itself, on top of the inner engine's.
    adds: frozenset[str] = frozenset()
    #: The knob naming the wrapped engine (the CLI checks every other knob against that engine).
    wraps_option = "wraps"
    default_wrapped = DEFAULT_WRAPPED
    #: The wrapper's own knobs with defaults (``logit_noise:f32:wraps=fake:sigma=0.001``); the
    #: others go to the wrapped engine.
    option_defaults: dict[str, Any] = {}

    def __init__(self, inner: Any | None = None) -> None:
        self.inner = inner
        self.options: dict[str, Any] = dict(self.option_defaults)
        self._artifacts_dir: str | None = None

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset(getattr(self.inner, "capabilities", frozenset())) | self.adds

    def set_artifacts_dir(self, directory: str | None) -> None:
        self._artifacts_dir = directory
        if self.inner is not None and hasattr(self.inner, "set_artifacts_dir"):
            self.inner.set_artifacts_dir(directory)

    def load(self, model: ModelSpec, config: EngineConfig) -> None:
        options = dict(config.options)
        wrapped = options.pop(self.wraps_option, self.default_wrapped)
        own = [k for k in options if k in self.option_defaults]
        self.options = {**self.option_defaults, **{k: options.pop(k) for k in own}}
        if self.inner is None:
            from enginebugs.difftest.engines.registry import create_engine

            self.inner = create_engine(wrapped)
            if self._artifacts_dir is not None and hasattr(self.inner, "set_artifacts_dir"):
                self.inner.set_artifacts_dir(self._artifacts_dir)
        self.inner.load(model, dataclasses.replace(config, engine=getattr(self.inner, "name", wrapped),
                                                   options=options, label=""))

    def fingerprint(self) -> dict[str, Any]:
        return {**self.inner.fingerprint(), "planted_fault": self.name}

    # Delegation of every protocol method; subclasses override what they break.
    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        return self.inner.tokenize(text, add_special, parse_special)

    def tokenize_batch(self, texts: list[str], add_special: bool = True,
                       parse_special: bool = False) -> list[list[int]]:
        """The inner engine's batch call, unless this fault overrides :meth:`tokenize`: then every
        text goes through that override, so a planted tokenization fault applies to batches too."""
        if type(self).tokenize is not FaultyEngine.tokenize:
            return [self.tokenize(t, add_special, parse_special) for t in texts]
        return call_batched(self.inner, "tokenize_batch", texts, add_special=add_special, parse_special=parse_special)

    def detokenize(self, ids: list[int]) -> str:
        return self.inner.detokenize(ids)

    def stream_detokenize(self, ids: list[int]) -> list[str]:
        return self.inner.stream_detokenize(ids)

    def token_offsets(self, text: str, add_special: bool = False) -> list[list[int]]:
        """The inner engine's spans, unless this fault overrides :meth:`tokenize` (they would not
        be the spans of the ids it returns)."""
        if type(self).tokenize is not FaultyEngine.tokenize:
            raise Unsupported(f"{type(self).__name__} changes the ids; the wrapped engine's spans are not theirs")
        return self.inner.token_offsets(text, add_special)

    def prompt_logprobs(self, ids: list[int], top_k: int = 10, full: bool = False) -> PromptScores:
        return self.inner.prompt_logprobs(ids, top_k, full)

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        return self.inner.generate(ids, max_new_tokens, top_k, seed)

    def generate_batch(self, batch: list[list[int]], max_new_tokens: int, top_k: int = 10,
                       **extra: Any) -> list[Generation]:
        """``extra``: protocol extensions of the inner engine (vLLM's ``seeds``), passed through."""
        return self.inner.generate_batch(batch, max_new_tokens, top_k, **extra)

    def reset_prefix_cache(self) -> bool:
        """The inner engine's (optional) prefix-cache reset; Unsupported where it has none."""
        reset = getattr(self.inner, "reset_prefix_cache", None)
        if reset is None:
            raise Unsupported(f"{getattr(self.inner, 'name', 'the wrapped engine')} has no reset_prefix_cache")
        return reset()

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()


