"""transformers (PyTorch, CPU): fp32/bf16/fp16 weights, generation with or without the KV cache.

Options: ``use_cache`` (generation reuses past key/values, default True; False recomputes the whole
sequence every step), ``threads`` (``torch.set_num_threads``), ``attn_implementation``
(``sdpa``/``eager``; default: transformers' choice). Streaming detokenization uses transformers'
own :class:`~transformers.TextStreamer` rule (flush at newline, after CJK characters, else up to
the last space).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from enginebugs.difftest.engines.base import EngineBase, cut_at_eos, log_softmax, scores_from_logits, top_entries
from enginebugs.difftest.engines.hf_compat import dtype_kwarg, readable_hf_dir
from enginebugs.difftest.protocol import Generation, PromptScores

DTYPES = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}


class TransformersEngine(EngineBase):
    name = "transformers"
    capabilities = frozenset({"tokenize", "detokenize", "offsets", "stream_detokenize", "prompt_logprobs", "generate",
                              "batch_generate", "kv_cache_toggle", "threads", "sampling"})
    packages = ("torch", "transformers", "tokenizers", "safetensors", "accelerate", "numpy")
    option_defaults = {"use_cache": True, "threads": None, "attn_implementation": None}
    dtypes = tuple(DTYPES)
    package = "transformers"
    supported = {"transformers": ">=4.50", "tokenizers": ">=0.15"}  # Gemma 3 appeared in 4.50

    def weights_key(self, dtype: str) -> str:
        return "hf"

    def load(self, model, config) -> None:
        self._begin_load(model, config)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        if self.option("threads"):
            torch.set_num_threads(int(self.option("threads")))
        import transformers

        # Older transformers in the supported range: a config it can read, its dtype keyword.
        path = readable_hf_dir(self.model_file("hf"), transformers.__version__, self.artifacts.dir)
        self.tok = AutoTokenizer.from_pretrained(path)
        if not getattr(self.tok, "is_fast", False):  # offsets come from the Rust tokenizer only
            self.capabilities = self.capabilities - {"offsets"}
        kwargs: dict[str, Any] = {dtype_kwarg(transformers.__version__): getattr(torch, DTYPES[config.dtype])}
        if self.option("attn_implementation"):
            kwargs["attn_implementation"] = self.option("attn_implementation")
        self.lm = AutoModelForCausalLM.from_pretrained(path, **kwargs).eval()
        self.eos_id = model.eos_token_id if model.eos_token_id is not None else self.tok.eos_token_id
        self.pad_id = self.tok.pad_token_id if self.tok.pad_token_id is not None else self.eos_id

    def fingerprint(self) -> dict[str, Any]:
        torch = self.torch
        fp = self.base_fingerprint()
        fp.update({
            "threads": torch.get_num_threads(),
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "attn_implementation": getattr(self.lm.config, "_attn_implementation", None),
            "weights_dtype": str(next(self.lm.parameters()).dtype),
            "cache": "dynamic KV cache" if self.option("use_cache") else "none (full recompute per step)",
        })
        return fp

    # -- text ------------------------------------------------------------------------------------
    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        return list(self.tok(text, add_special_tokens=add_special, split_special_tokens=not parse_special)["input_ids"])

    def tokenize_batch(self, texts: list[str], add_special: bool = True,
                       parse_special: bool = False) -> list[list[int]]:
        """The fast tokenizer's batch encode (one call into Rust for every text)."""
        if not texts:
            return []
        out = self.tok(list(texts), add_special_tokens=add_special, split_special_tokens=not parse_special)
        return [list(ids) for ids in out["input_ids"]]

    def token_offsets(self, text: str, add_special: bool = False) -> list[list[int]]:
        return self.token_offsets_batch([text], add_special)[0]

    def token_offsets_batch(self, texts: list[str], add_special: bool = False) -> list[list[list[int]]]:
        """The fast tokenizer's ``offset_mapping`` of what :meth:`tokenize` gives each text."""
        if not texts:
            return []
        out = self.tok(list(texts), add_special_tokens=add_special, split_special_tokens=True,
                       return_offsets_mapping=True)
        return [[list(span) for span in spans] for spans in out["offset_mapping"]]

    def detokenize(self, ids: list[int]) -> str:
        return self.tok.decode(list(ids), skip_special_tokens=False)

    def stream_detokenize(self, ids: list[int]) -> list[str]:
        from transformers import TextStreamer

        chunks: list[str] = []

        class Collect(TextStreamer):
            def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
                if text:
                    chunks.append(text)

        streamer = Collect(self.tok, skip_prompt=False, skip_special_tokens=False)
        for token in ids:
            streamer.put(self.torch.tensor([int(token)]))
        streamer.end()
        return chunks

    # -- scoring and generation ------------------------------------------------------------------
    def _logits(self, ids: list[int]) -> np.ndarray:
        with self.torch.no_grad():
            out = self.lm(input_ids=self.torch.tensor([list(ids)]), use_cache=False)
        return out.logits[0].float().numpy()

    def prompt_logprobs(self, ids: list[int], top_k: int = 10, full: bool = False) -> PromptScores:
        return scores_from_logits(list(ids), self._logits(ids), top_k, full)

    def sample_next(self, ids: list[int], n: int, settings: dict[str, Any], seed: int) -> list[int]:
        """``n`` draws of the next token through transformers' own logits warpers, in the order
        ``generate(do_sample=True)`` applies them (temperature, top-k, top-p, min-p), then softmax
        and ``torch.multinomial`` as its sampling step does, with a generator seeded by ``seed``."""
        from transformers.generation.logits_process import (LogitsProcessorList, MinPLogitsWarper,
                                                             TemperatureLogitsWarper, TopKLogitsWarper,
                                                             TopPLogitsWarper)

        torch = self.torch
        warpers = LogitsProcessorList()
        if settings.get("temperature", 1.0) != 1.0:
            warpers.append(TemperatureLogitsWarper(float(settings["temperature"])))
        if settings.get("top_k", 0):
            warpers.append(TopKLogitsWarper(int(settings["top_k"])))
        if settings.get("top_p", 1.0) < 1.0:
            warpers.append(TopPLogitsWarper(float(settings["top_p"])))
        if settings.get("min_p", 0.0) > 0.0:
            warpers.append(MinPLogitsWarper(float(settings["min_p"])))
        input_ids = torch.tensor([list(ids)])
        with torch.no_grad():
            logits = self.lm(input_ids=input_ids, use_cache=False).logits[:, -1, :].float()
        probs = torch.softmax(warpers(input_ids, logits), dim=-1)
        draws = torch.multinomial(probs[0], n, replacement=True, generator=torch.Generator().manual_seed(int(seed)))
        return [int(t) for t in draws]

    def _generate(self, rows: list[list[int]], max_new_tokens: int, k: int) -> list[Generation]:
        """HF ``generate`` (greedy, raw logits) on left-padded rows; each row is cut after its EOS."""
        from transformers import GenerationConfig

        torch = self.torch
        width = max(len(r) for r in rows)
        input_ids = torch.tensor([[self.pad_id] * (width - len(r)) + list(r) for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        gen_config = GenerationConfig(do_sample=False, max_new_tokens=max_new_tokens, use_cache=self.option("use_cache"),
                                      eos_token_id=self.eos_id, pad_token_id=self.pad_id,
                                      output_logits=True, return_dict_in_generate=True)
        with torch.no_grad():
            out = self.lm.generate(input_ids=input_ids, attention_mask=mask, generation_config=gen_config)
        steps = torch.stack(out.logits, dim=1).float().numpy()  # (batch, steps, vocab)
        results = []
        for b, row in enumerate(rows):
            new = cut_at_eos([int(t) for t in out.sequences[b, width:]], self.eos_id)
            lp = log_softmax(steps[b, : len(new)])
            results.append(Generation(list(row), new, [top_entries(r, k) for r in lp], self.detokenize(new)))
        return results

    def generate(self, ids: list[int], max_new_tokens: int, top_k: int = 10, seed: int | None = None) -> Generation:
        self.require_greedy(seed)
        return self._generate([list(ids)], max_new_tokens, top_k)[0]

    def generate_batch(self, batch: list[list[int]], max_new_tokens: int, top_k: int = 10) -> list[Generation]:
        return self._generate([list(r) for r in batch], max_new_tokens, top_k)


def create() -> TransformersEngine:
    return TransformersEngine()
