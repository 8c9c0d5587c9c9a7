"""ONNX Runtime (CPU execution provider) on the model exported with explicit past key/values.

Options: ``use_cache`` (default True: decode one token at a time feeding ``present_*`` back as
``past_*``; False: recompute the whole sequence every step), ``prefill_chunk`` (0: the whole
prompt in one run; n: prefill n tokens per run through the KV path), ``threads``
(``intra_op_num_threads``) and ``graph_optimization`` (``all``, ``extended``, ``basic``,
``disable``). ONNX Runtime has no tokenizer: text goes through the HF ``tokenizers`` library on
the model's ``tokenizer.json``; it has no server either, so streaming detokenization is unsupported.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from enginebugs.difftest.engines.base import EngineBase, cut_at_eos, log_softmax, scores_from_logits, top_entries
from enginebugs.difftest.protocol import Generation, PromptScores

OPT_LEVELS = {"all": "ORT_ENABLE_ALL", "extended": "ORT_ENABLE_EXTENDED", "basic": "ORT_ENABLE_BASIC",
              "disable": "ORT_DISABLE_ALL"}


class OnnxRuntimeEngine(EngineBase):
    name = "onnxruntime"
    capabilities = frozenset({"tokenize", "detokenize", "offsets", "prompt_logprobs", "generate", "batch_generate",
                              "kv_cache_toggle", "chunked_prefill", "threads"})
    packages = ("onnxruntime", "onnx", "tokenizers", "numpy")
    package = "onnxruntime"
    supported = {"onnxruntime": ">=1.17", "tokenizers": ">=0.15"}
    option_defaults = {"use_cache": True, "prefill_chunk": 0, "threads": None, "graph_optimization": "all"}
    dtypes = ("f32",)  # the ONNX export is f32 only

    def weights_key(self, dtype: str) -> str:
        return "onnx"

    def load(self, model, config) -> None:
        self._begin_load(model, config)
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.ort = ort
        onnx_dir = Path(self.model_file("onnx"))
        self.io = json.loads((onnx_dir / "io.json").read_text())
        opts = ort.SessionOptions()
        level = self.option("graph_optimization")
        if level not in OPT_LEVELS:
            raise ValueError(f"graph_optimization must be one of {', '.join(OPT_LEVELS)}, not {level!r}")
        opts.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPT_LEVELS[level])
        if self.option("threads"):
            opts.intra_op_num_threads = int(self.option("threads"))
        self.session = ort.InferenceSession(str(onnx_dir / "model.onnx"), opts, providers=["CPUExecutionProvider"])
        self.tok = Tokenizer.from_file(str(Path(self.model_file("hf")) / "tokenizer.json"))
        self.eos_id = model.eos_token_id
        self.pad_id = self.tok.token_to_id("<pad>") if self.tok.token_to_id("<pad>") is not None else (self.eos_id or 0)

    def fingerprint(self) -> dict[str, Any]:
        fp = self.base_fingerprint()
        so = self.session.get_session_options()
        fp.update({
            "providers": self.session.get_providers(),
            "device": self.ort.get_device(),
            "threads": so.intra_op_num_threads or "default (physical cores)",
            "graph_optimization": str(so.graph_optimization_level),
            "cache": "past key/values" if self.option("use_cache") else "none (full recompute per step)",
        })
        return fp

    # -- text ------------------------------------------------------------------------------------
    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        self.tok.encode_special_tokens = not parse_special
        return list(self.tok.encode(text, add_special_tokens=add_special).ids)

    def tokenize_batch(self, texts: list[str], add_special: bool = True,
                       parse_special: bool = False) -> list[list[int]]:
        """``tokenizers``' ``encode_batch`` (one call into Rust for every text)."""
        self.tok.encode_special_tokens = not parse_special
        return [list(e.ids) for e in self.tok.encode_batch(list(texts), add_special_tokens=add_special)]

    def token_offsets(self, text: str, add_special: bool = False) -> list[list[int]]:
        return self.token_offsets_batch([text], add_special)[0]

    def token_offsets_batch(self, texts: list[str], add_special: bool = False) -> list[list[list[int]]]:
        self.tok.encode_special_tokens = True
        return [[list(span) for span in e.offsets] for e in self.tok.encode_batch(list(texts), add_special_tokens=add_special)]

    def detokenize(self, ids: list[int]) -> str:
        return self.tok.decode([int(t) for t in ids], skip_special_tokens=False)

    # -- model runs ------------------------------------------------------------------------------
    def _empty_past(self, batch: int) -> list[np.ndarray]:
        shape = (batch, self.io["kv_heads"], 0, self.io["head_dim"])
        return [np.zeros(shape, np.float32) for _ in range(2 * self.io["n_layers"])]

    def _run(self, ids: np.ndarray, mask: np.ndarray, past: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """One forward over ``ids`` (batch, seq) after ``past``; ``mask`` covers past + ids."""
        positions = np.clip(np.cumsum(mask, axis=1) - 1, 0, None)[:, -ids.shape[1]:]
        feed = {"input_ids": ids.astype(np.int64), "attention_mask": mask.astype(np.int64),
                "position_ids": positions.astype(np.int64)}
        feed.update(zip(self.io["inputs"][3:], past))
        logits, *present = self.session.run(None, feed)
        return logits, present

    def _prefill(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits of every prompt position, in chunks of ``prefill_chunk`` through the KV path."""
        chunk = int(self.option("prefill_chunk")) or ids.shape[1]
        past, outs = self._empty_past(ids.shape[0]), []
        for start in range(0, ids.shape[1], chunk):
            end = min(start + chunk, ids.shape[1])
            logits, past = self._run(ids[:, start:end], mask[:, :end], past)
            outs.append(logits)
        return np.concatenate(outs, axis=1), past

    def prompt_logprobs(self, ids: list[int], top_k: int = 10, full: bool = False) -> PromptScores:
        arr = np.array([list(ids)], dtype=np.int64)
        logits, _ = self._prefill(arr, np.ones_like(arr))
        return scores_from_logits(list(ids), logits[0], top_k, full)

    def _decode(self, rows: list[list[int]], max_new_tokens: int, k: int) -> list[Generation]:
        """Greedy decoding of left-padded rows, with past key/values or full recompute."""
        width = max(len(r) for r in rows)
        seqs = np.array([[self.pad_id] * (width - len(r)) + r for r in rows], dtype=np.int64)
        mask = np.array([[0] * (width - len(r)) + [1] * len(r) for r in rows], dtype=np.int64)
        logits, past = self._prefill(seqs, mask)
        last = logits[:, -1]
        outs: list[list[int]] = [[] for _ in rows]
        tops: list[list] = [[] for _ in rows]
        for step in range(max_new_tokens):
            lp = log_softmax(last)
            for b in range(len(rows)):
                tops[b].append(top_entries(lp[b], k))
                outs[b].append(int(np.argmax(lp[b])))
            if step == max_new_tokens - 1 or all(self.eos_id in o for o in outs):
                break
            new = np.array([[o[-1]] for o in outs], dtype=np.int64)
            seqs = np.concatenate([seqs, new], axis=1)
            mask = np.concatenate([mask, np.ones((len(rows), 1), np.int64)], axis=1)
            if self.option("use_cache"):
                logits, past = self._run(new, mask, past)
            else:
                logits, _ = self._run(seqs, mask, self._empty_past(len(rows)))
            last = logits[:, -1]
        results = []
        for b, row in enumerate(rows):
            new_ids = cut_at_eos(outs[b], self.eos_id)
            results.append(Generation(row, new_ids, tops[b][: len(new_ids)], self.detokenize(new_ids)))
        return results

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        self.require_greedy(seed)
        return self._decode([[int(t) for t in ids]], max_new_tokens, top_k)[0]

    def generate_batch(self, batch: list[list[int]], max_new_tokens: int, top_k: int = 10) -> list[Generation]:
        return self._decode([[int(t) for t in r] for r in batch], max_new_tokens, top_k)


def create() -> OnnxRuntimeEngine:
    return OnnxRuntimeEngine()
