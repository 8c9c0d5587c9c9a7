"""``enginebugs report difftest`` over results files written by real (fake-engine) runs: the findings
table, per-oracle summaries, histograms and the first-divergence context; markdown; bad input."""
import json
import re
import struct

import pytest
from click.testing import CliRunner

from enginebugs.difftest.campaign import Campaign, CampaignOptions
from enginebugs.difftest.suites import load_suite
from enginebugs.cli import main
from tests.fake_engine import fake_model, run_fake
from tests.test_campaign import fake_factory


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "run.json"
    result = run_fake(["fake:f32", "leading_space_dropper:f32:wraps=fake", "logit_noise:f32:wraps=fake"],
                      reference="fake:f32")
    result.write_json(path)
    return path, json.loads(path.read_text())


def test_html_report_of_a_run(faulty_run, tmp_path):
    path, data = faulty_run
    result = CliRunner().invoke(main, ["report", "difftest", str(path), "--html", str(tmp_path / "html"),
                                       "--markdown", str(tmp_path / "r.md")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "html" / "index.html").read_text()
    findings = data["findings"]
    assert len(findings) >= 3
    # one row in the findings table and one detail section per finding, tagged with the taxonomy
    assert len(re.findall(r"<a href='#finding-\d+'>", page)) == len(findings)
    assert len(re.findall(r"<h3 id='finding-\d+'>", page)) == len(findings)
    assert "Incorrect Tokenization" in page and "Numerical Issue" in page
    # first-divergence context: the token the leading-space dropper lost is highlighted
    tok = next(f for f in findings if f["oracle"] == "tokenization.ids")
    div = tok["first_divergence"]
    assert f"<td class='at'>{div['expected']}</td>" in page and f"<td class='at'>{div['actual']}</td>" in page
    # per-oracle summaries and distribution statistics with their verdicts
    assert "<h3>tokenization:" in page and "<h3>precision:" in page
    assert re.search(r"<td>fake:f32</td><td>logit_noise:f32\[wraps=fake\]</td>.*?<td>fail</td>", page)
    for name in ("kld_quantiles", "delta_p_quantiles"):  # a plain run records percentiles only
        width, height = png_size(tmp_path / "html" / f"{name}.png")
        assert width > 100 and height > 100
    md = (tmp_path / "r.md").read_text()
    assert f"## Findings ({len(findings)})" in md
    assert sum(line.startswith(f"| {f['id']} | {f['oracle']} |") for f in findings for line in md.splitlines()) \
        == len(findings)


def test_campaign_report_has_histograms_and_campaign_sections(tmp_path):
    options = CampaignOptions(engines=("transformers", "llamacpp"), formats=(), progress=False, cache_prompts=2)
    results = Campaign(fake_model(), load_suite("smoke"), options, client_factory=fake_factory("llamacpp:f32")).run()
    path = tmp_path / "campaign.json"
    path.write_text(json.dumps(results))
    result = CliRunner().invoke(main, ["report", "difftest", str(path), "--html", str(tmp_path / "html")])
    assert result.exit_code == 0, result.output
    for name in ("kld_histogram", "delta_p_histogram"):
        width, height = png_size(tmp_path / "html" / f"{name}.png")
        assert width > 100 and height > 100
    page = (tmp_path / "html" / "index.html").read_text()
    assert "<h2>Campaign parts</h2>" in page and "Logit campaign by prompt kind" in page
    kld = next(m for m in results["metrics"]["pairs"] if m["actual"] == "llamacpp:f32")
    assert f"transformers:f32 vs llamacpp:f32: mean KLD {kld['kld']['mean']:.4g}" in page
    # the headline alone, for a terminal
    result = CliRunner().invoke(main, ["report", "difftest", str(path)])
    assert result.exit_code == 0 and "cache/batching findings:" in result.output
    assert "part tokenizer: skipped" in result.output


def test_markdown_to_stdout_and_bad_input(faulty_run, tmp_path):
    path, data = faulty_run
    result = CliRunner().invoke(main, ["report", "difftest", str(path), "--markdown", "-"])
    assert result.exit_code == 0 and result.output.startswith("# difftest report: fake")
    other = tmp_path / "other.json"
    other.write_text('{"schema": "something/else"}')
    for target in (other, tmp_path / "missing.json"):
        result = CliRunner().invoke(main, ["report", "difftest", str(target), "--html", str(tmp_path / "h")])
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
        assert result.output.startswith("error: ")
    assert not (tmp_path / "h").exists()
