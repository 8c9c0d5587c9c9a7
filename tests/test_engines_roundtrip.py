"""Worker round trip of every built-in engine on the tiny model: tokenize, detokenize,
prompt_logprobs, generate, generate_batch, with results rebuilt as protocol dataclasses."""
from __future__ import annotations

import numpy as np
import pytest

from enginebugs.difftest.protocol import CAPABILITIES, Generation, PromptScores, Unsupported
from enginebugs.difftest.worker import full_logprobs
from tests.engine_cases import TEXTS

pytestmark = pytest.mark.engines
ENGINES = ["transformers", "llamacpp", "onnxruntime"]


@pytest.fixture(params=ENGINES)
def worker(request, tiny_worker):
    return tiny_worker(request.param)


def test_capabilities_and_fingerprint(worker, tiny_model):
    assert worker.capabilities <= CAPABILITIES
    assert {"tokenize", "detokenize", "prompt_logprobs", "generate", "batch_generate"} <= worker.capabilities
    fp = worker.fingerprint
    assert fp["engine"] == worker.engine and fp["dtype"] == "f32"
    assert fp["model"]["recipe_hash"] == tiny_model.recipe_hash
    assert fp["cpu"]["logical_cpus"] >= 1 and isinstance(fp["cpu"]["flags"], list)
    assert all(v for k, v in fp["packages"].items() if k != "accelerate"), fp["packages"]
    assert "threads" in fp and "cache" in fp


@pytest.mark.parametrize("text", TEXTS)
def test_tokenize_detokenize_round_trip(worker, tiny_model, text):
    ids = worker.tokenize(text)
    assert ids[0] == tiny_model.bos_token_id and ids[1:] == worker.tokenize(text, add_special=False)
    assert all(0 <= i < tiny_model.vocab_size for i in ids)
    assert worker.detokenize(ids) == "<s>" + text


def test_tokenize_batch_equals_one_tokenize_per_text(worker):
    texts = list(TEXTS) + ["", " leading space", "a<s>b"]
    for add_special, parse_special in ((True, False), (False, False), (False, True)):
        batch = worker.tokenize_batch(texts, add_special, parse_special)
        assert batch == [worker.tokenize(t, add_special, parse_special) for t in texts]
    assert worker.tokenize_batch([]) == []


def test_detokenize_batches_equal_one_call_per_row(worker):
    rows = [worker.tokenize(t, add_special=False) for t in TEXTS] + [[]]
    assert worker.detokenize_batch(rows) == [worker.detokenize(ids) for ids in rows]
    assert worker.detokenize_batch([]) == []
    if "stream_detokenize" in worker.capabilities:
        assert worker.stream_detokenize_batch(rows) == [worker.stream_detokenize(ids) for ids in rows]


def test_special_token_parsing_is_a_knob(worker, tiny_model):
    parsed = worker.tokenize("a<s>b", add_special=False, parse_special=True)
    literal = worker.tokenize("a<s>b", add_special=False, parse_special=False)
    assert tiny_model.bos_token_id in parsed and tiny_model.bos_token_id not in literal
    assert worker.detokenize(literal) == "a<s>b"


def test_prompt_logprobs_are_consistent(worker):
    ids = worker.tokenize(TEXTS[0])
    scores = worker.prompt_logprobs(ids, top_k=5, full=True)
    assert isinstance(scores, PromptScores) and scores.token_ids == ids
    assert len(scores.token_logprobs) == len(scores.top) == len(ids) - 1
    full = full_logprobs(scores)
    assert full.shape == (len(ids) - 1, 2048) and full.dtype == np.float32
    np.testing.assert_allclose(np.exp(full.astype(np.float64)).sum(axis=1), 1.0, atol=1e-4)
    for i, top in enumerate(scores.top):
        assert top.logprobs == sorted(top.logprobs, reverse=True) and len(top.ids) == 5
        assert top.ids[0] == int(np.argmax(full[i]))
        assert scores.token_logprobs[i] == pytest.approx(float(full[i, ids[i + 1]]), abs=1e-6)


def test_greedy_generation_follows_its_own_top1(worker):
    ids = worker.tokenize(TEXTS[1])
    gen = worker.generate(ids, max_new_tokens=8, top_k=3)
    assert isinstance(gen, Generation) and gen.prompt_ids == ids
    assert 1 <= len(gen.token_ids) <= 8 and len(gen.top) == len(gen.token_ids)
    assert [t.ids[0] for t in gen.top] == gen.token_ids
    assert gen.text == worker.detokenize(gen.token_ids)
    with pytest.raises(Unsupported, match="greedy"):
        worker.generate(ids, 2, seed=1)


def test_batched_generation_matches_one_by_one(worker):
    rows = [worker.tokenize(t) for t in TEXTS[:3]]
    rows[1] = rows[1][:4]  # ragged lengths: padding / per-sequence positions
    batch = worker.generate_batch(rows, max_new_tokens=6, top_k=3)
    assert [g.prompt_ids for g in batch] == rows
    for row, gen in zip(rows, batch):
        single = worker.generate(row, max_new_tokens=6, top_k=3)
        assert gen.token_ids == single.token_ids
        assert max(abs(a.logprobs[0] - b.logprobs[0]) for a, b in zip(gen.top, single.top)) < 1e-3


def test_stream_detokenize_is_declared_or_refused(worker):
    ids = worker.tokenize(TEXTS[3], add_special=False)
    if "stream_detokenize" not in worker.capabilities:
        with pytest.raises(Unsupported, match="server|stream"):
            worker.stream_detokenize(ids)
        return
    chunks = worker.stream_detokenize(ids)
    assert len(chunks) > 1 and "".join(chunks) == TEXTS[3]
    assert all("\ufffd" not in c for c in chunks)
