"""The real-model campaign: orchestration on the in-process fake engine (planted fault vs clean
pair), tokenizer mismatch classes on hand-made tokenizers, and the whole command on the tiny model."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from enginebugs.difftest import faults
from enginebugs.difftest.campaign import Campaign, CampaignOptions
from enginebugs.difftest.campaign.tokenizer import Side, TokenizerCampaign
from enginebugs.difftest.inprocess import InProcessClient
from enginebugs.difftest.suites import load_suite
from enginebugs.cli import main
from tests.fake_engine import FakeEngine, fake_model


def fake_factory(noisy: str):
    """Every configuration on the fake engine; the one labelled ``noisy`` behind the logit-noise fault."""
    model = fake_model()

    def make(config):
        engine = FakeEngine()
        if config.label == noisy:
            engine = faults.FAULTS["logit_noise"](engine)
        return InProcessClient(engine, model, config)
    return make


@pytest.fixture(scope="module")
def fake_campaign():
    options = CampaignOptions(engines=("transformers", "llamacpp"), formats=(), progress=False, cache_prompts=2)
    return Campaign(fake_model(), load_suite("smoke"), options, client_factory=fake_factory("llamacpp:f32")).run()


def test_campaign_flags_the_planted_fault_and_passes_the_clean_pair(fake_campaign):
    r = fake_campaign
    parts = {p["name"]: p for p in r["campaign"]["parts"]}
    assert parts["tokenizer"]["status"] == "skipped" and "HF checkpoint" in parts["tokenizer"]["reason"]
    assert parts["logits"]["status"] == parts["cache"]["status"] == "ok"
    flagged = {(f["oracle"], tuple(f["configs"])) for f in r["findings"]}
    assert ("precision.kld", ("transformers:f32", "llamacpp:f32")) in flagged  # the noisy one
    assert not any("llamacpp:q8_0" in f["configs"] for f in r["findings"] if f["part"] == "logits")  # clean
    pairs = {m["actual"]: m for m in r["metrics"]["pairs"] if m["part"] == "logits"}
    prompts = load_suite("smoke").prompts
    positions = sum(len(FakeEngine().tokenize(p)) - 1 for p in prompts)
    for m in pairs.values():
        assert m["positions"] == positions == len(m["distribution"]["kld"]) == len(m["distribution"]["delta_p"])
    assert pairs["llamacpp:f32"]["kld"]["mean"] > pairs["llamacpp:q8_0"]["kld"]["mean"] > 0
    kinds = {(row["actual"], row["kind"]) for row in r["campaign"]["logits"]["by_kind"]}
    assert ("llamacpp:q8_0", "code") in kinds and ("llamacpp:q8_0", "multilingual") in kinds
    # cache part: the llama.cpp knob variants, each judged against the base configuration
    cache = {(o["oracle"], tuple(o["configs"])): o["status"] for o in r["oracles"] if o.get("part") == "cache"}
    assert cache[("cache.chunked_prefill", ("llamacpp:q8_0", "llamacpp:q8_0[n_batch=7]"))] == "pass"
    assert cache[("precision.knobs", ("llamacpp:q8_0", "llamacpp:q8_0[threads=2]"))] == "pass"
    assert cache[("cache.prefix_reuse", ("llamacpp:q8_0", "llamacpp:q8_0[prefix_cache=False]"))] == "pass"
    assert [f["id"] for f in r["findings"]] == list(range(1, len(r["findings"]) + 1))


class CharTokenizer:
    """One id per character (ids = code points); ``merge_spaces`` joins runs of spaces into one id."""

    name = "chars"

    def __init__(self, merge_spaces=False, drop_long=False):
        self.merge_spaces, self.drop_long = merge_spaces, drop_long

    def tokenize(self, text, add_special=True, parse_special=False):
        ids, i = [], 0
        while i < len(text):
            if self.merge_spaces and text.startswith("  ", i):
                ids.append(0x2581)
                i += 2
                continue
            ids.append(ord(text[i]))
            i += 1
        return ids

    def detokenize(self, ids):
        return "".join("" if self.drop_long and i > 0x3000 else "  " if i == 0x2581 else chr(i) for i in ids)


def tokenizer_campaign(actual):
    pieces = lambda ids: ["\u2581" if i == 0x2581 else chr(i) for i in ids]  # noqa: E731
    return TokenizerCampaign(Side("a:f32", CharTokenizer()), Side("b:f32", actual), set(), ["<s>"], pieces)


def run_texts(campaign, texts):
    return [o for t in texts for o in campaign.check_text("edge-cases", t)]


@pytest.mark.parametrize("engines_at_once", [1, 2])
def test_prompts_too_large_for_memory_are_scored_by_fewer_engines_at_once_with_the_same_results(
        fake_campaign, monkeypatch, engines_at_once):
    """A prompt whose full-vocabulary arrays would not fit the memory budget (Gemma's 262k vocabulary
    on long prompts was OOM-killed with four engines at once) is scored by as many engines at once
    as fit (one by one when not even two do): the same findings and the same statistics."""
    from enginebugs.difftest.campaign import logits

    longest = max(len(FakeEngine().tokenize(p)) for p in load_suite("smoke").prompts)
    array = longest * fake_model().vocab_size * 4
    monkeypatch.setattr(logits, "memory_budget", lambda: (engines_at_once * array * logits.COPIES_PER_ARRAY
                                                          if engines_at_once > 1 else 0))
    groups = []
    real = logits.concurrently
    monkeypatch.setattr(logits, "concurrently", lambda items, work: (groups.append(len(items)), real(items, work)))
    options = CampaignOptions(engines=("transformers", "llamacpp"), formats=(), progress=False, cache_prompts=2)
    limited = Campaign(fake_model(), load_suite("smoke"), options, client_factory=fake_factory("llamacpp:f32")).run()
    assert engines_at_once in groups and max(groups[1:]) <= (3 if engines_at_once > 1 else 1)  # [0]: loading

    def logit_view(r):
        return ({(f["oracle"], tuple(f["configs"])) for f in r["findings"] if f["part"] == "logits"},
                {m["actual"]: (m["positions"], m["kld"]["mean"]) for m in r["metrics"]["pairs"] if m["part"] == "logits"})
    assert logit_view(limited) == logit_view(fake_campaign)


def test_tokenizer_mismatch_classes_and_clean_control():
    texts = ["plain words", "two  spaces", "<s> literal", "日本語"]
    clean = tokenizer_campaign(CharTokenizer())
    assert all(o.verdict.ok for o in run_texts(clean, texts)) and clean.by_class == {}
    faulty = tokenizer_campaign(CharTokenizer(merge_spaces=True))
    failed = [o for o in run_texts(faulty, texts) if not o.verdict.ok]
    assert {o.prompt for o in failed if o.oracle == "tokenization.ids"} == {"two  spaces"}
    assert dict(faulty.by_class) == {"whitespace": 1}
    dropper = tokenizer_campaign(CharTokenizer(drop_long=True))
    list(dropper.check_vocabulary(0x3100))
    assert dropper.by_class["decode:dropped-piece"] == 0x3100 - 0x3001
    assert dropper.examples["decode:dropped-piece"][0]["text"] == "id 12289"
    summary = dropper.summary()
    assert summary["checked"]["vocabulary"] == 0x3100
    assert {t["engine"] for t in summary["throughput"]} == {"a:f32", "b:f32"}


def test_campaign_rejects_bad_input_with_one_error_line(tmp_path):
    result = CliRunner().invoke(main, ["difftest", "campaign", "--model", "tiny", "--parts", "tokenizer,bogus",
                                       "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        "error: unknown part(s) bogus; choose from tokenizer, logits, cache"]
    assert not (tmp_path / "o").exists()
    result = CliRunner().invoke(main, ["difftest", "campaign", "--engines", "llamacpp"])
    assert result.exit_code == 2 and "transformers" in result.output


@pytest.mark.engines
def test_campaign_command_on_the_tiny_model(tiny_model, tmp_path):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("onnxruntime")
    cache_dir = Path(tiny_model.files["hf"]).parents[2]
    out = tmp_path / "out"
    result = CliRunner().invoke(main, [
        "difftest", "campaign", "--model", "tiny", "--cache-dir", str(cache_dir), "--suite", "smoke",
        "--max-prompts", "3", "--cache-prompts", "2", "--soup", "30", "--strings-per-generator", "3", "--quiet",
        "--out", str(out), "--html", str(out / "html"), "--db", str(tmp_path / "s.db")])
    assert result.exit_code == 0, result.output
    r = json.loads((out / "campaign.json").read_text())
    assert [p["status"] for p in r["campaign"]["parts"]] == ["ok", "ok", "ok"]
    tok = r["campaign"]["tokenizer"]
    assert tok["checked"]["vocabulary"] == tiny_model.vocab_size and tok["checked"]["soup"] == 30
    # llama-cpp-python's detokenize drops every piece over 32 bytes (abetlen/llama-cpp-python#2362):
    # the sweep must find exactly the ids whose piece is that long.
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(tiny_model.files["hf"])
    long_pieces = sum(len(hf.decode([i]).encode()) > 32 for i in range(tiny_model.vocab_size))
    dropped = tok["mismatches"]["by_source"].get("decode:dropped-piece", {}).get("vocabulary", 0)
    assert dropped == long_pieces
    pairs = {m["actual"]: m for m in r["metrics"]["pairs"] if m["part"] == "logits"}
    assert set(pairs) == {"llamacpp:q8_0", "llamacpp:f32", "onnxruntime:f32"}
    assert pairs["llamacpp:q8_0"]["kld"]["mean"] > 10 * pairs["llamacpp:f32"]["kld"]["mean"]
    assert pairs["llamacpp:q8_0"]["positions"] == len(pairs["llamacpp:q8_0"]["distribution"]["kld"]) > 0
    cache = {o["oracle"] for o in r["oracles"] if o.get("part") == "cache" and o["status"] != "skip"}
    assert {"cache.kv_recompute", "cache.prefix_reuse", "cache.chunked_prefill", "precision.knobs",
            "batch.needle", "batch.order"} <= cache
    page = (out / "html" / "index.html").read_text()
    assert "Tokenizer campaign" in page and "llamacpp:q8_0" in page
    assert (out / "html" / "kld_histogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if dropped:
        script = out / "repro_llama_cpp_detokenize_long_piece.py"
        run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
        assert run.returncode == 1 and "WRONG" in run.stdout
    from enginebugs.taxonomy.store import Store

    with Store.open(tmp_path / "s.db") as store:
        assert store.count() == len(r["findings"])


@pytest.mark.engines
def test_dequantized_f32_gguf_is_built_once_and_loads(tiny_model, tmp_path):
    gguf = pytest.importorskip("gguf")
    llama_cpp = pytest.importorskip("llama_cpp")
    import numpy as np
    import shutil

    from enginebugs.difftest.campaign.formats import ensure_formats
    from enginebugs.difftest.protocol import ModelSpec

    (tmp_path / "m" / "gguf").mkdir(parents=True)
    src = tmp_path / "m" / "gguf" / "q.gguf"
    shutil.copy(tiny_model.files["gguf-q8_0"], src)
    spec = ModelSpec("tiny", {"gguf-q8_0": str(src)})
    built, skipped = ensure_formats(spec, ("gguf-f32",), lambda m: None)
    assert skipped == {}
    f32 = built.files["gguf-f32"]
    assert f32.startswith(str(tmp_path / "m" / "gguf-f32"))
    assert ensure_formats(spec, ("gguf-f32",), lambda m: pytest.fail("built twice"))[0].files["gguf-f32"] == f32
    a, b = gguf.GGUFReader(str(src)), gguf.GGUFReader(f32)
    assert int(b.fields["general.file_type"].contents()) == int(gguf.LlamaFileType.ALL_F32)
    assert b.fields["tokenizer.ggml.tokens"].contents() == a.fields["tokenizer.ggml.tokens"].contents()
    for x, y in zip(a.tensors, b.tensors):
        assert y.tensor_type == gguf.GGMLQuantizationType.F32 and x.name == y.name
        assert np.array_equal(gguf.quants.dequantize(x.data, x.tensor_type).reshape(y.data.shape), y.data)
    llm = llama_cpp.Llama(model_path=f32, n_ctx=64, logits_all=True, verbose=False)
    ids = llm.tokenize(b"The cache stores the long prompt", add_bos=True)
    llm.eval(ids)
    assert np.isfinite(np.array(llm.scores[: len(ids)])).all()


def test_a_rerun_removes_only_the_scripts_an_earlier_campaign_wrote(tmp_path):
    from enginebugs.difftest.campaign.repro import HEADER, remove_stale

    (tmp_path / "repro_finding_4.py").write_text(HEADER.format(title="old", finding=4, what="x"))
    (tmp_path / "repro_mine.py").write_text("# a user's own script\n")
    (tmp_path / "notes.txt").write_text(HEADER.format(title="old", finding=1, what="x"))
    remove_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "repro_mine.py"]
