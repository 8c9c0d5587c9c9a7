"""The ONNX export with past key/values on a model with sliding-window layers (Gemma 3's local
attention): past the window, ONNX Runtime must still match transformers, in the prefill and in a
decode step fed the exported ``present_*`` caches (the first export kept sliding caches and failed
with a Concat error past 512 tokens on Gemma-3 270M)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

from enginebugs.difftest.models.to_onnx import DATA_FILE, ONNX_FILE, export_onnx, io_names  # noqa: E402

WINDOW, PROMPT = 4, 11


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    cfg = Gemma3TextConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=WINDOW,
                           layer_types=["sliding_attention", "full_attention"], max_position_embeddings=64)
    model = Gemma3ForCausalLM(cfg).eval()
    root = tmp_path_factory.mktemp("gemma-sliding")
    model.save_pretrained(root / "hf")
    export_onnx(root / "hf", root / "onnx")
    assert (root / "onnx" / DATA_FILE).stat().st_size >= 96 * 32 * 4  # the embedding sits beside the graph
    return model, ort.InferenceSession(str(root / "onnx" / ONNX_FILE), providers=["CPUExecutionProvider"])


def run(session, ids, past, total):
    inputs, outputs = io_names(len(past) // 2)
    feed = {"input_ids": np.array([ids], np.int64), "attention_mask": np.ones((1, total), np.int64),
            "position_ids": np.arange(total - len(ids), total, dtype=np.int64)[None]}
    feed.update(zip(inputs[3:], past))
    out = session.run(outputs, feed)
    return out[0][0], out[1:]


def test_prefill_and_decode_past_the_sliding_window_match_transformers(exported):
    model, session = exported
    ids = list(range(3, 3 + PROMPT + 1))
    with torch.no_grad():
        expected = model(torch.tensor([ids])).logits[0].numpy()
    empty = [np.zeros((1, 1, 0, 16), np.float32) for _ in range(4)]
    prefill, presents = run(session, ids[:-1], empty, PROMPT)
    assert all(p.shape[2] == PROMPT for p in presents)  # full-length caches, not the last WINDOW tokens
    np.testing.assert_allclose(prefill, expected[:-1], atol=1e-4)
    step, _ = run(session, ids[-1:], presents, PROMPT + 1)
    np.testing.assert_allclose(step[0], expected[-1], atol=1e-4)
    # the window is real: the full-attention result differs from the sliding one
    with torch.no_grad():
        model.config.sliding_window = 64
        unwindowed = model(torch.tensor([ids])).logits[0].numpy()
        model.config.sliding_window = WINDOW
    assert np.abs(unwindowed[-1] - expected[-1]).max() > 1e-3
