"""Hostile input: one clear `error:` line, a non-zero exit, and nothing created or written.

Each test snapshots the folder it works in (names, sizes, contents) and checks it is unchanged."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from enginebugs.cli import main
from enginebugs.mining.paper_dataset import shipped_dataset
from enginebugs.taxonomy.classifier.corpus import SEED_CORPUS, load_jsonl
from enginebugs.taxonomy.store import Store
from enginebugs.taxonomy.store.migrations import MIGRATIONS

HEADER = "URL,repo,Phase,Symptom(s),Unexpected Tokens,Component,Root Cause(s)\n"
ROW = "https://github.com/vllm-project/vllm/issues/{n},vllm,Inference/Serving,{symptom},,Job Manager,Misconfiguration\n"


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def invoke(*args: str):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def assert_refused(code: int, output: str, *needles: str) -> None:
    assert code == 2, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), output
    assert "Traceback" not in output
    for needle in needles:
        assert needle in output, output


@pytest.fixture(scope="module")
def paper_store(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("paper") / "paper.db"
    assert invoke("study", "import", "--db", db)[0] == 0
    return db


@pytest.fixture
def folder(tmp_path, paper_store) -> Path:
    shutil.copy(paper_store, tmp_path / "study.db")
    return tmp_path


# -- the store file --------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["truncated", "garbage", "csv"])
@pytest.mark.parametrize("command", [("report", "study"), ("study", "import"), ("label", "export", "--coder", "a")])
def test_damaged_or_foreign_store_files_are_refused_untouched(folder, damage, command):
    db = folder / "study.db"
    data = db.read_bytes()
    if damage == "truncated":
        db.write_bytes(data[: len(data) // 3])
    elif damage == "garbage":
        db.write_bytes(os.urandom(8192))
    else:
        db.write_bytes(shipped_dataset().read_bytes())
    before = snapshot(folder)
    code, out = invoke(*command, "--db", db)
    assert_refused(code, out, str(db))
    assert snapshot(folder) == before


def test_another_programs_sqlite_database_is_not_taken_over(tmp_path):
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    before = snapshot(tmp_path)
    code, out = invoke("study", "import", "--db", db)
    assert_refused(code, out, "another program")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", [("report", "study"), ("study", "import")])
def test_store_of_a_newer_schema_is_refused_and_never_written(folder, command):
    db = folder / "study.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    before = snapshot(folder)
    code, out = invoke(*command, "--db", db)
    assert_refused(code, out, "newer than this enginebugs")
    assert snapshot(folder) == before


@pytest.mark.parametrize("command", [("report", "study"), ("label", "export", "--coder", "a"),
                                     ("label", "agreement", "--coders", "a", "b"), ("classify", "eval"),
                                     ("mine", "sample", "vllm", "--seed", "1")])
def test_read_only_commands_create_no_store(tmp_path, command):
    code, out = invoke(*command, "--db", tmp_path / "missing.db")
    assert_refused(code, out, "no store at")
    assert list(tmp_path.iterdir()) == []


def _classifier_store(path: Path) -> None:
    with Store.open(path) as store, store.transaction():
        for k, ex in enumerate(load_jsonl(SEED_CORPUS)[:60]):
            rid = store.upsert_record({"url": f"https://github.com/x/y/issues/{k}", "engine": "vLLM", "repo": "x/y",
                                       "title": ex.text.split("\n")[0], "body": ex.text})
            store.set_labels(rid, "symptom", list(ex.symptoms), source="manual", coder="a")
            store.set_labels(rid, "root_cause", list(ex.root_causes), source="manual", coder="a")


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder bind-mounted read-only onto itself (a real EROFS, which root cannot bypass as it
    bypasses permission bits); skipped where this process may not mount."""
    folder = tmp_path / "ro"
    folder.mkdir()
    yield folder
    subprocess.run(["umount", str(folder)], capture_output=True)


def _mount_read_only(folder: Path) -> None:
    for args in (["mount", "--bind", str(folder), str(folder)], ["mount", "-o", "remount,ro,bind", str(folder)]):
        if shutil.which("mount") is None or subprocess.run(args, capture_output=True).returncode != 0:
            subprocess.run(["umount", str(folder)], capture_output=True)
            pytest.skip("cannot bind-mount a read-only folder here")


def test_read_only_commands_work_on_a_read_only_file_system(paper_store, read_only_folder):
    """Reports, exports and evaluation work on a store on read-only media, an older schema
    included (migrated in memory only), and nothing changes."""
    folder = read_only_folder
    _classifier_store(folder / "labels.db")
    with sqlite3.connect(folder / "study.db") as conn:  # the paper's bugs in the schema of version 2
        for script in MIGRATIONS[:2]:
            conn.executescript(script)
        conn.execute("PRAGMA user_version = 2")
        conn.execute("ATTACH ? AS src", (str(paper_store),))
        columns = ", ".join(r[1] for r in conn.execute("PRAGMA main.table_info(records)"))
        conn.execute(f"INSERT INTO records ({columns}) SELECT {columns} FROM src.records")
        columns = ", ".join(r[1] for r in conn.execute("PRAGMA main.table_info(labels)"))
        conn.execute(f"INSERT INTO labels ({columns}) SELECT {columns} FROM src.labels")
        conn.commit()
        conn.execute("DETACH src")
    _mount_read_only(folder)
    with pytest.raises(OSError):
        (folder / "probe").write_text("x")
    before = snapshot(folder)
    code, out = invoke("report", "study", "--db", folder / "study.db", "--json")
    assert code == 0, out
    assert json.loads(out)["bugs"] == 929
    code, out = invoke("label", "export", "--coder", "a", "--db", folder / "labels.db")
    assert code == 0 and out.count("\n") == 61, out
    code, out = invoke("classify", "eval", "--db", folder / "labels.db", "--folds", "2", "--json")
    assert code == 0 and json.loads(out)["symptom"]["n"] == 60, out
    assert snapshot(folder) == before


# -- input files -----------------------------------------------------------------------------------
@pytest.mark.parametrize("payload", [b"\xef\xbb\xbf" + HEADER.encode() + b"\xff\xfe\x80 broken\n", os.urandom(512)])
def test_study_import_of_non_utf8_bytes_writes_nothing(tmp_path, payload):
    (tmp_path / "bad.csv").write_bytes(payload)
    before = snapshot(tmp_path)
    code, out = invoke("study", "import", tmp_path / "bad.csv", "--db", tmp_path / "s.db")
    assert_refused(code, out)
    assert snapshot(tmp_path) == before


def test_label_import_of_non_utf8_bytes_writes_nothing(folder):
    (folder / "labels.csv").write_bytes(b"url,engine,title\n\x99\x98\xff\n")
    before = snapshot(folder)
    code, out = invoke("label", "import", folder / "labels.csv", "--coder", "a", "--db", folder / "study.db")
    assert_refused(code, out, "not UTF-8")
    assert snapshot(folder) == before


def test_classify_eval_on_random_bytes_is_one_line(tmp_path):
    (tmp_path / "data.jsonl").write_bytes(b"\x99" + os.urandom(300))
    code, out = invoke("classify", "eval", "--data", tmp_path / "data.jsonl")
    assert_refused(code, out, "not UTF-8")


def test_the_same_url_twice_with_different_labels_names_both_lines(tmp_path):
    csv = HEADER + ROW.format(n=1, symptom="Crash") + ROW.format(n=2, symptom="Crash") + ROW.format(n=1, symptom="System Hang")
    (tmp_path / "d.csv").write_text(csv, encoding="utf-8")
    code, out = invoke("study", "import", tmp_path / "d.csv", "--db", tmp_path / "s.db")
    assert_refused(code, out, "lines 2 and 4", "issues/1")
    assert not (tmp_path / "s.db").exists()


def test_an_identical_repeated_row_is_imported_once(tmp_path):
    (tmp_path / "d.csv").write_text(HEADER + ROW.format(n=1, symptom="Crash") * 2, encoding="utf-8")
    code, out = invoke("study", "import", tmp_path / "d.csv", "--db", tmp_path / "s.db")
    assert code == 0 and "imported 1 bugs" in out


# -- engine names ----------------------------------------------------------------------------------
@pytest.mark.parametrize("spelling,stored", [("vllm", "vLLM"), ("VLLM", "vLLM"), ("llamacpp", "llama.cpp"),
                                             ("LLaMA.cpp", "llama.cpp"), ("tensorrt_llm", "TensorRT-LLM")])
def test_engine_names_match_across_spellings(paper_store, spelling, stored):
    code, out = invoke("report", "study", "--db", paper_store, "--json", "--engine", spelling)
    assert code == 0, out
    stats = json.loads(out)
    assert list(stats["by_engine"]) == [stored] and stats["bugs"] > 0


def test_unknown_engine_is_an_error_listing_the_known_ones(paper_store):
    code, out = invoke("report", "study", "--db", paper_store, "--engine", "tgi")
    assert_refused(code, out, "unknown engine 'tgi'", "vLLM", "llama.cpp")


# -- difftest inputs -------------------------------------------------------------------------------
def test_report_difftest_on_a_results_file_missing_a_key_writes_nothing(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"schema": "enginebugs.difftest/1", "run": {}}), encoding="utf-8")
    before = snapshot(tmp_path)
    code, out = invoke("report", "difftest", tmp_path / "r.json", "--html", tmp_path / "html", "--markdown",
                       tmp_path / "r.md")
    assert_refused(code, out, "findings")
    assert snapshot(tmp_path) == before and not (tmp_path / "html").exists()


@pytest.mark.slow
@pytest.mark.engines
@pytest.mark.parametrize("configs,needle", [
    ("transformers:f32,llamacpp:q9_X", "no 'gguf-q9_X' weights"),
    ("transformers:f32,onnxruntime:f16", "onnxruntime runs f32, not 'f16'"),
    ("transformers:f32,llamacpp:f32:n_batch=abc", "n_batch='abc' must be an integer"),
    ("transformers:f32,llamacpp:f32:flash_attn=3", "flash_attn=3 must be true or false"),
    ("transformers:q8_0,llamacpp:f32", "transformers runs f32"),
])
def test_configurations_the_model_cannot_provide_stop_before_any_engine_starts(tmp_path, tiny_model, configs, needle):
    cache = Path(tiny_model.files["hf"]).parents[2]
    code, out = invoke("difftest", "run", "--model", "tiny", "--cache-dir", cache, "--configs", configs, "--quiet",
                       "--db", tmp_path / "s.db", "--json-out", tmp_path / "r.json")
    assert_refused(code, out, needle)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("payload,needle", [(b"\xff\xfe[profiles]\n", "not UTF-8"), (b"[profiles\n", "not valid TOML")])
def test_every_user_toml_is_read_through_one_checked_reader(tmp_path, payload, needle):
    """Presets, prompt suites, tolerance files, matrix plans and serving suites share one reader:
    a non-UTF-8 or malformed file is one line naming it, never a traceback."""
    from enginebugs.difftest.matrix import PlanError, load_plan
    from enginebugs.difftest.serving.suite import SuiteError as ServingSuiteError, load_serving_suite
    from enginebugs.difftest.suites import SuiteError, load_suite
    from enginebugs.difftest.tolerances import ToleranceError, load_profile
    from enginebugs.mining.presets import PresetError, load_presets

    bad = tmp_path / "bad.toml"
    bad.write_bytes(payload)
    for read, error in ((load_presets, PresetError), (load_suite, SuiteError),
                        (lambda p: load_profile("default", p), ToleranceError), (load_plan, PlanError),
                        (load_serving_suite, ServingSuiteError)):
        with pytest.raises(error) as caught:
            read(str(bad))
        assert needle in str(caught.value) and str(bad) in str(caught.value)
