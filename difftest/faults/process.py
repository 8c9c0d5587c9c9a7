"""Planted process faults: abort and hang."""
from __future__ import annotations

import os
import time

from enginebugs.difftest.faults.base import FaultyEngine
from enginebugs.difftest.protocol import Generation


class AbortOnGenerate(FaultyEngine):
    """Aborts the process (SIGABRT) on the first generate(), like a failed GGML_ASSERT."""

    name = "abort_on_generate"

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        os.write(2, b"planted fault: GGML_ASSERT(ctx->n_tokens > 0) failed\n")
        os.abort()


class HangOnGenerate(FaultyEngine):
    """Never returns from generate() (a deadlock)."""

    name = "hang_on_generate"

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        while True:
            time.sleep(3600)


