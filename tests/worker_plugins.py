"""A plugin engine with planted failures, for the worker's crash/hang/error paths.

Registered with ``--engine-plugin tests.worker_plugins:create``; each method fails in its own way
(abort, ``os._exit``, hang, Python exception) and prints a marker to stderr first."""
from __future__ import annotations

import os
import sys
import time

from enginebugs.difftest.protocol import Generation, PromptScores, TopK, Unsupported

MARKER = "planted-failure-marker"


class PlantedFailures:
    name = "planted-failures"
    capabilities = frozenset({"tokenize", "detokenize", "prompt_logprobs", "generate", "batch_generate"})

    def load(self, model, config) -> None:
        if config.options.get("fail_load"):
            raise RuntimeError("refusing to load: fail_load is set")
        if config.options.get("abort_load"):
            print(f"{MARKER}: aborting in load", file=sys.stderr, flush=True)
            os.abort()
        self.config = config

    def fingerprint(self) -> dict:
        return {"engine": self.name, "pid": os.getpid()}

    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        print("tokenize called (this line must not corrupt the protocol)")  # goes to stderr
        return ([0] if add_special else []) + [ord(c) for c in text]

    def detokenize(self, ids: list[int]) -> str:
        print(f"{MARKER}: exiting with status 7", file=sys.stderr, flush=True)
        os._exit(7)

    def stream_detokenize(self, ids: list[int]) -> list[str]:
        raise Unsupported("planted engine has no streaming detokenizer")

    def prompt_logprobs(self, ids: list[int], top_k: int = 10, full: bool = False) -> PromptScores:
        if full:
            return PromptScores(list(ids), [-1.0] * (len(ids) - 1), [TopK([1], [-0.5])] * (len(ids) - 1))
        print(f"{MARKER}: aborting", file=sys.stderr, flush=True)
        os.abort()

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed=None) -> Generation:
        print(f"{MARKER}: hanging", file=sys.stderr, flush=True)
        time.sleep(3600)
        raise AssertionError("unreachable")

    def generate_batch(self, batch, max_new_tokens: int, top_k: int = 10):
        raise ValueError("planted engine error in generate_batch")

    def close(self) -> None:
        pass


def create() -> PlantedFailures:
    return PlantedFailures()


def not_an_engine() -> object:
    return object()
