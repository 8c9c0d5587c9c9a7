"""``enginebugs mine sample``: Cochran's sample size with finite-population correction, seeded."""
import csv
import io

import pytest
from click.testing import CliRunner

from enginebugs.cli import main
from enginebugs.mining.paper_dataset import COLUMNS
from enginebugs.mining.sampling import cochran_size
from enginebugs.taxonomy.store import Store


@pytest.mark.parametrize("population, expected", [(10**9, 385), (1000, 278), (100, 80), (10, 10), (0, 0)])
def test_cochran_size_with_finite_population_correction(population, expected):
    assert cochran_size(population, 0.95, 0.05) == expected


def test_tighter_margin_and_higher_confidence_need_larger_samples():
    assert cochran_size(10**9, 0.99, 0.05) == 664
    assert cochran_size(10**9, 0.95, 0.03) == 1068


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "mined.db"
    with Store.open(path) as store, store.transaction():
        for n in range(1000):
            store.upsert_record({"url": f"https://github.com/vllm-project/vllm/issues/{n}", "engine": "vLLM",
                                 "repo": "vllm-project/vllm", "number": n, "title": f"Synthetic {n}",
                                 "created_at": "2025-01-01T00:00:00Z"})
        store.upsert_record({"url": "https://github.com/vllm-project/vllm/issues/5000", "engine": "vLLM",
                             "repo": "vllm-project/vllm", "number": 5000})  # URL only: not in the population
        first = store.get_record("https://github.com/vllm-project/vllm/issues/0")["id"]
        store.set_labels(first, "symptom", ["crash"], source="manual")
    return path


def sample(db, *args):
    return CliRunner().invoke(main, ["mine", "sample", "vllm", "--db", str(db), *map(str, args)])


def test_sample_is_seeded_sized_and_in_the_paper_columns(db, tmp_path):
    out = tmp_path / "s.csv"
    result = sample(db, "--seed", 7, "--out", out)
    assert result.exit_code == 0, result.output
    assert "sampled 278 of 1000 vLLM bugs" in result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 278 == len({r["URL"] for r in rows})
    assert list(rows[0])[: len(COLUMNS)] == list(COLUMNS) and rows[0]["repo"] == "vLLM"
    assert all(r["Symptom(s)"] == "" and r["title"].startswith("Synthetic") for r in rows)
    again = sample(db, "--seed", 7)
    other = sample(db, "--seed", 8)
    assert io.StringIO(again.stdout).read() == out.read_text()
    assert other.stdout != again.stdout


def test_unlabelled_excludes_bugs_that_carry_labels(db):
    result = sample(db, "--seed", 1, "--unlabelled", "--margin", 0.5)
    assert result.exit_code == 0 and "of 999 vLLM bugs" in result.output


@pytest.mark.parametrize("args, message", [
    (("--seed", 1, "--margin", 0), "--margin"),
    (("--seed", 1, "--confidence", 1.5), "--confidence"),
    (("--margin", 0.1), "--seed"),
])
def test_bad_sampling_parameters_are_refused(db, args, message):
    result = sample(db, *args)
    assert result.exit_code == 2 and message in result.output


def test_engine_without_mined_bugs_is_an_error(db):
    result = CliRunner().invoke(main, ["mine", "sample", "sglang", "--seed", 1, "--db", str(db)])
    assert result.exit_code == 2 and "error: no mined bugs of SGLang" in result.output
