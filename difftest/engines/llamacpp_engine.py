"""llama.cpp through llama-cpp-python: GGUF f32/f16/q8_0 (and the real model's q4_K).

Options (the engine's own knobs): ``n_ctx`` (default: the model's context length), ``n_batch`` and
``n_ubatch`` (chunked prefill), ``threads``/``threads_batch``, ``type_k``/``type_v`` (KV cache type:
``f32``, ``f16``, ``bf16``, ``q8_0``, ``q4_0``; default: llama.cpp's f16), ``flash_attn``,
``prefix_cache`` (default True, as ``Llama.generate`` does: keep the KV cache across calls and
re-evaluate only after the longest common prefix; False resets before every call), ``state_roundtrip`` (save the state after
part of the prompt, reset, restore it and continue: the path of llama-cpp-python's state caches) and
``pickle_roundtrip`` (pickle the loaded ``Llama`` and continue with the copy: how multiprocessing, Ray
and ``copy.deepcopy`` ship an engine, through ``Llama.__getstate__``/``__setstate__``).

Scores come from ``logits_all=True``; generation is llama-cpp-python's ``Llama.generate`` with the
greedy sampler; batched generation decodes several sequences in one ``llama_batch`` on a context
with ``n_seq_max`` = batch size, the way llama-server batches requests. Detokenization renders
special tokens (llama-server's ``/detokenize``); streaming follows llama-server (no special
tokens, complete UTF-8 only).
"""
from __future__ import annotations

import os
import pickle
from typing import Any

import numpy as np

from enginebugs.difftest.engines import llamacpp_compat as compat
from enginebugs.difftest.engines.base import EngineBase, log_softmax, scores_from_logits, top_entries
from enginebugs.difftest.engines.streaming import llama_server_chunks
from enginebugs.difftest.protocol import Generation, PromptScores

KV_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0")


class LlamaCppEngine(EngineBase):
    name = "llamacpp"
    capabilities = frozenset({"tokenize", "detokenize", "stream_detokenize", "prompt_logprobs", "generate",
                              "batch_generate", "prefix_reuse", "chunked_prefill", "threads", "sampling"})
    packages = ("llama-cpp-python", "gguf", "numpy")
    package = "llama-cpp-python"
    supported = {"llama-cpp-python": ">=0.3.0"}
    option_defaults = {"n_ctx": None, "n_batch": 512, "n_ubatch": 512, "threads": None, "threads_batch": None,
                       "type_k": None, "type_v": None, "flash_attn": False, "prefix_cache": True,
                       "state_roundtrip": False, "pickle_roundtrip": False}

    def weights_key(self, dtype: str) -> str:
        return f"gguf-{dtype}"

    def load(self, model, config) -> None:
        self._begin_load(model, config)
        import llama_cpp

        self.lc = llama_cpp
        path = self.model_file(f"gguf-{config.dtype}")
        kv = {}
        for key in ("type_k", "type_v"):
            value = self.option(key)
            if value is not None:
                if value not in KV_TYPES:
                    raise ValueError(f"{key} must be one of {', '.join(KV_TYPES)}, not {value!r}")
                kv[key] = int(getattr(llama_cpp, f"GGML_TYPE_{value.upper()}"))
        args = dict(n_ctx=self.option("n_ctx") or model.context_length, n_batch=self.option("n_batch"),
                    n_ubatch=self.option("n_ubatch"), n_threads=self.option("threads"),
                    n_threads_batch=self.option("threads_batch") or self.option("threads"),
                    flash_attn=bool(self.option("flash_attn")), logits_all=True, seed=0, verbose=False, **kv)
        unset = {"n_ubatch": self.option_defaults["n_ubatch"], "flash_attn": False, "n_threads_batch": None}
        args, self.dropped_args = compat.supported_kwargs(llama_cpp.Llama, args, unset)
        self.llm = llama_cpp.Llama(model_path=path, **args)
        if self.option("pickle_roundtrip"):
            copy = pickle.loads(pickle.dumps(self.llm))
            self.llm.close()
            self.llm = copy
        self.n_vocab = self.llm.n_vocab()
        self.eos_id = self.llm.token_eos()
        if not self.option("prefix_cache"):
            self.capabilities = self.capabilities - {"prefix_reuse"}

    def fingerprint(self) -> dict[str, Any]:
        from enginebugs.difftest.models.gguf_meta import read_metadata

        p = self.llm.context_params
        fp = self.base_fingerprint()
        fp.update({
            "llama_cpp_system_info": self.lc.llama_print_system_info().decode(errors="replace").strip(),
            "build_cmake_args": os.environ.get("CMAKE_ARGS"),
            "threads": p.n_threads, "threads_batch": p.n_threads_batch,
            "n_ctx": self.llm.n_ctx(), "n_batch": p.n_batch, "n_ubatch": p.n_ubatch,
            "kv_cache": {"type_k": self.option("type_k") or "f16 (default)",
                         "type_v": self.option("type_v") or "f16 (default)"},
            "flash_attn": bool(self.option("flash_attn")),
            "gguf_file_type": read_metadata(self.llm.model_path, {"general.file_type"}).get("general.file_type"),
            "cache": "prefix reuse across calls" if self.option("prefix_cache") else "reset per call",
            "binding": {**compat.features(self.llm), "llama_args_missing": self.dropped_args},
        })
        return fp

    # -- text ------------------------------------------------------------------------------------
    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        return compat.tokenize(self.llm, text.encode("utf-8"), add_special, parse_special)

    def detokenize(self, ids: list[int]) -> str:
        return compat.detokenize(self.llm, [int(t) for t in ids], special=True).decode("utf-8", errors="replace")

    def stream_detokenize(self, ids: list[int]) -> list[str]:
        return llama_server_chunks([compat.detokenize(self.llm, [int(t)], special=False) for t in ids])

    # -- scoring ---------------------------------------------------------------------------------
    def _reusable_prefix(self, ids: list[int]) -> int:
        """llama-cpp-python's ``generate`` prefix match: cached tokens equal to the new prompt's
        start are kept, but at least one prompt token is re-evaluated to refresh the logits."""
        if not self.option("prefix_cache") or self.llm.n_tokens == 0:
            return 0
        lcp = 0
        for a, b in zip(self.llm.input_ids[: self.llm.n_tokens], ids):
            if a != b:
                break
            lcp += 1
        return lcp - 1 if lcp == len(ids) else lcp

    def _prefill(self, ids: list[int]) -> None:
        """Evaluate ``ids`` so that ``llm.scores[:len(ids)]`` holds their logits."""
        reuse = self._reusable_prefix(ids)
        if reuse > 0 and compat.seq_rm(self.llm._ctx, -1, reuse, -1):
            self.llm.n_tokens = reuse
        else:
            self.llm.reset()
            reuse = 0
        rest = ids[reuse:]
        if self.option("state_roundtrip") and len(rest) > 1:
            split = len(rest) // 2
            self.llm.eval(rest[:split])
            state = self.llm.save_state()
            self.llm.reset()
            self.llm.load_state(state)
            rest = rest[split:]
        self.llm.eval(rest)

    def prompt_logprobs(self, ids: list[int], top_k: int = 10, full: bool = False) -> PromptScores:
        ids = [int(t) for t in ids]
        self._prefill(ids)
        return scores_from_logits(ids, np.array(self.llm.scores[: len(ids)], dtype=np.float32), top_k, full)

    # -- generation ------------------------------------------------------------------------------
    def sample_next(self, ids: list[int], n: int, settings: dict[str, Any], seed: int) -> list[int]:
        """``n`` draws of the next token through the sampler chain llama-cpp-python builds for
        ``Llama.sample`` (top-k, typical, top-p, min-p, temperature, then ``dist`` seeded by ``seed``),
        all from the logits after ``ids``; no penalties (repeat 1.0, frequency/presence 0)."""
        llm = self.llm
        llm.reset()
        llm.eval(list(ids))
        llm.set_seed(int(seed))
        sampler = llm._init_sampler(top_k=int(settings.get("top_k", 0)), top_p=float(settings.get("top_p", 1.0)),
                                    min_p=float(settings.get("min_p", 0.0)), typical_p=1.0,
                                    temp=float(settings.get("temperature", 1.0)), repeat_penalty=1.0)
        return [int(sampler.sample(llm._ctx, -1)) for _ in range(n)]

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        self.require_greedy(seed)
        ids = [int(t) for t in ids]
        if not self.option("prefix_cache"):
            self.llm.reset()
        if self.option("state_roundtrip"):
            self._prefill(ids)  # evaluates through a saved-and-restored state
            state = self.llm.save_state()
            self.llm.reset()
            self.llm.load_state(state)
        new, tops = [], []
        for token in self.llm.generate(ids, temp=0.0, top_k=0, top_p=1.0, min_p=0.0, repeat_penalty=1.0, reset=True):
            lp = log_softmax(self.llm.scores[self.llm.n_tokens - 1])
            tops.append(top_entries(lp, top_k))
            new.append(int(token))
            if token == self.eos_id or len(new) >= max_new_tokens:
                break
        return Generation(ids, new, tops, self.detokenize(new))

    def generate_batch(self, batch: list[list[int]], max_new_tokens: int, top_k: int = 10) -> list[Generation]:
        """All sequences share one context (``n_seq_max`` = batch size) and every step decodes one
        ``llama_batch`` holding a token of each unfinished sequence."""
        from llama_cpp import _internals

        rows = [[int(t) for t in r] for r in batch]
        if not rows:
            return []
        per_seq = max(len(r) for r in rows) + max_new_tokens
        params = type(self.llm.context_params).from_buffer_copy(self.llm.context_params)
        params.n_seq_max = len(rows)
        params.n_ctx = -(-per_seq * len(rows) // 256) * 256
        ctx = _internals.LlamaContext(model=self.llm._model, params=params, verbose=False)
        n_batch = int(params.n_batch)
        lbatch = _internals.LlamaBatch(n_tokens=n_batch, embd=0, n_seq_max=len(rows), verbose=False)
        try:
            # prefill: all prompts, chunked by n_batch, logits only for each prompt's last token
            entries = [(t, pos, s, pos == len(r) - 1) for s, r in enumerate(rows) for pos, t in enumerate(r)]
            last_logits: dict[int, np.ndarray] = {}
            for start in range(0, len(entries), n_batch):
                chunk = entries[start:start + n_batch]
                self._decode(ctx, lbatch, chunk)
                for i, (_, _, seq, wants) in enumerate(chunk):
                    if wants:
                        last_logits[seq] = self._logits_ith(ctx, i)
            outs: list[list[int]] = [[] for _ in rows]
            tops: list[list] = [[] for _ in rows]
            active = list(range(len(rows)))
            for step in range(max_new_tokens):
                for seq in active:
                    lp = log_softmax(last_logits[seq])
                    tops[seq].append(top_entries(lp, top_k))
                    outs[seq].append(int(np.argmax(lp)))
                active = [s for s in active if outs[s][-1] != self.eos_id and step < max_new_tokens - 1]
                if not active:
                    break
                step_entries = [(outs[s][-1], len(rows[s]) + step, s, True) for s in active]
                self._decode(ctx, lbatch, step_entries)
                for i, seq in enumerate(active):
                    last_logits[seq] = self._logits_ith(ctx, i)
        finally:
            lbatch.close()
            ctx.close()
        return [Generation(r, outs[s], tops[s], self.detokenize(outs[s])) for s, r in enumerate(rows)]

    @staticmethod
    def _decode(ctx, lbatch, entries: list[tuple[int, int, int, bool]]) -> None:
        b = lbatch.batch
        b.n_tokens = len(entries)
        for i, (token, pos, seq, wants_logits) in enumerate(entries):
            b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = token, pos, 1, wants_logits
            b.seq_id[i][0] = seq
        ctx.decode(lbatch)

    def _logits_ith(self, ctx, i: int) -> np.ndarray:
        return np.ctypeslib.as_array(ctx.get_logits_ith(i), shape=(self.n_vocab,)).astype(np.float32)

    def reset_prefix_cache(self) -> bool:
        """Forget the cached tokens: the next call evaluates its prompt from scratch."""
        self.llm.reset()
        return True

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            llm.close()



def create() -> LlamaCppEngine:
    return LlamaCppEngine()
