"""Import of the paper's published dataset and exact reproduction of its statistics."""
import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from enginebugs.cli import main
from enginebugs.taxonomy.store import Store
from tests.paths import paper_csv

HEADER = "\ufeffURL,repo,Phase,Symptom(s),Unexpected Tokens,Component,Root Cause(s)\n"
GOOD_ROW = "https://github.com/vllm-project/vllm/issues/1,vllm,Inference/Serving,Crash,,Operators,Misused API\n"


def run(*args):
    result = CliRunner().invoke(main, list(map(str, args)), catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def paper_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("paper") / "study.db"
    code, out = run("study", "import", paper_csv(), "--db", db)
    assert code == 0, out
    return db


@pytest.fixture(scope="module")
def stats(paper_db):
    code, out = run("report", "study", "--db", paper_db, "--json")
    assert code == 0
    return json.loads(out)


def test_bugs_per_engine(stats):
    assert stats["bugs"] == 929
    assert stats["by_engine"] == {"llama.cpp": 124, "vLLM": 290, "DeepSpeed": 121, "MLC-LLM": 214, "TensorRT-LLM": 180}


def test_symptoms(stats):
    assert stats["symptoms"] == {"Crash": 603, "Unexpected Output": 122, "Feature Failure": 107,
                                 "Abnormal Performance": 53, "System Hang": 35, "Silent Error": 12}
    assert stats["symptom_instances"] == 932


def test_root_causes(stats):
    assert stats["root_cause_instances"] == 1053
    assert stats["root_cause_groups"] == {"Functionality": 432, "Environment": 301, "Configuration": 242,
                                          "Input/Output": 41, "Resource": 37}
    for name, n in {"Incorrect Algorithm Implementation": 184, "Incompatible Backend": 138,
                    "Misconfiguration": 105, "Incompatible Version": 98}.items():
        assert stats["root_causes"][name] == n
    assert len(stats["root_causes"]) == 28
    # distinct causes per bug never exceed instances, and differ where a row repeats a leaf
    assert all(stats["distinct_root_causes"][k] <= v for k, v in stats["root_causes"].items())
    assert sum(stats["distinct_root_causes"].values()) < 1053


def test_phases_subtypes_and_symptom_by_group(stats):
    assert stats["phases"] == {"Engine Setup": 136, "Model Conversion": 132, "Inference/Serving": 661}
    assert stats["output_subtypes"] == {"Character": 37, "Semantic Coherence": 20, "Inconsistent Output": 17,
                                        "Length": 15, "Repetition": 13}
    assert stats["symptom_by_group"]["Unexpected Output"] == {"Functionality": 88, "Environment": 15,
                                                             "Configuration": 26, "Input/Output": 13, "Resource": 3}
    assert sum(stats["components"].values()) == 1053


def test_reimport_does_not_duplicate(paper_db):
    with Store.open(paper_db) as store:
        before = (store.count(), store.count("labels"))
    code, out = run("study", "import", paper_csv(), "--db", paper_db)
    assert code == 0 and "0 new, 929 already present" in out
    with Store.open(paper_db) as store:
        assert (store.count(), store.count("labels")) == before


def test_filters(paper_db):
    code, out = run("report", "study", "--db", paper_db, "--json", "--engine", "vLLM", "--phase", "Engine Setup")
    stats = json.loads(out)
    assert stats["by_engine"].keys() == {"vLLM"} and 0 < stats["bugs"] < 290
    assert stats["phases"] == {"Engine Setup": stats["bugs"]} == {"Engine Setup": 20}
    code, out = run("report", "study", "--db", paper_db, "--json", "--source", "manual")
    assert json.loads(out)["bugs"] == 0


@pytest.mark.parametrize("row, message", [
    (GOOD_ROW.replace("Misused API", "Cosmic Rays"), "line 3: unknown root cause 'Cosmic Rays'"),
    (GOOD_ROW.replace(",vllm,", ",vllmx,"), "line 3: unknown repo 'vllmx'"),
    (GOOD_ROW.replace("Operators", "Operators@@Model Loader"), "line 3: 2 component(s) for 1 root cause(s)"),
    (GOOD_ROW.replace("issues/1", "wiki"), "line 3: not a GitHub issue URL"),
])
def test_bad_row_names_line_and_writes_nothing(tmp_path, row, message):
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + GOOD_ROW.replace("/1,", "/2,") + row, encoding="utf-8")
    db = tmp_path / "s.db"
    result = CliRunner().invoke(main, ["study", "import", str(bad), "--db", str(db)])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not db.exists() or Store.open(db).count() == 0


def test_import_from_url(tmp_path):
    (tmp_path / "dataset.csv").write_text(HEADER + GOOD_ROW, encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/dataset.csv"
        code, out = run("study", "import", url, "--db", tmp_path / "s.db")
    finally:
        server.shutdown()
    assert code == 0 and "1 new" in out
