"""Records belong to named collections; difftest findings never change the paper's numbers, and a
rerun updates a finding (same fingerprint) instead of adding it again."""
from __future__ import annotations

import json
import sqlite3

from click.testing import CliRunner

from enginebugs.cli import main
from enginebugs.difftest.findings import Finding, save_findings
from enginebugs.taxonomy.store import Store
from enginebugs.taxonomy.store.migrations import MIGRATIONS


def finding(prompt: str = "hello", message: str = "ids differ at 3", configs=("transformers:f32", "llamacpp:f32"),
            root_cause: str = "incorrect-tokenization") -> Finding:
    return Finding("tokenization.ids", list(configs), [c.split(":")[0] for c in configs], "unexpected-output",
                   root_cause, "input-processor", message, "inconsistent-output", prompt)


def run(n: int) -> dict:
    return {"id": f"run{n}", "model": {"name": "tiny"}, "started_at": f"2026-11-0{n}T00:00:00Z",
            "finished_at": f"2026-11-0{n}T00:01:00Z", "configs": []}


def study(db, *args: str) -> dict:
    result = CliRunner().invoke(main, ["report", "study", "--db", str(db), "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_fingerprint_ignores_the_strings_that_triggered_a_finding():
    assert finding("a", "x").fingerprint == finding("completely different", "y").fingerprint
    assert finding().fingerprint != finding(configs=("transformers:f32", "onnxruntime:f32")).fingerprint
    assert finding().fingerprint != finding(root_cause="incorrect-detokenization").fingerprint
    assert finding().fingerprint != finding(configs=("transformers@5.23.0:f32", "llamacpp:f32")).fingerprint


def test_difftest_findings_never_change_the_study_and_reruns_update_one_record(tmp_path):
    db = tmp_path / "s.db"
    assert CliRunner().invoke(main, ["study", "import", "--db", str(db)]).exit_code == 0
    baseline = study(db)
    for n in (1, 2, 3):  # three identical reruns, e.g. `make demo` three times
        save_findings(db, run(n), [finding(prompt=f"p{n}")])
    after = study(db)
    assert after["bugs"] == baseline["bugs"] == 929
    assert after["symptom_by_group"] == baseline["symptom_by_group"]
    assert after["collections"] == {"paper": 929}
    with Store.open(db, readonly=True) as store:
        (record,) = store.records(kind="difftest")
    assert record["collection"] == "difftest:tiny"
    assert record["extra"]["runs"] == 3 and record["extra"]["occurrences"] == 3
    assert record["extra"]["first_seen"] == "2026-11-01T00:00:00Z" and record["extra"]["last_seen"] == "2026-11-03T00:01:00Z"
    machine = study(db, "--source", "difftest")
    assert machine["bugs"] == 1 and machine["symptoms"] == {"Unexpected Output": 1}
    named = study(db, "--collection", "difftest:*", "--collection", "paper")
    assert named["bugs"] == 930 and set(named["collections"]) == {"paper", "difftest:tiny"}


def test_unknown_collection_is_an_error(tmp_path):
    db = tmp_path / "s.db"
    CliRunner().invoke(main, ["study", "import", "--db", str(db)])
    result = CliRunner().invoke(main, ["report", "study", "--db", str(db), "--collection", "mined:*"])
    assert result.exit_code == 2 and "no collection matches 'mined:*'" in result.output and "paper" in result.output


def test_migration_assigns_collections_to_an_older_store(tmp_path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        for script in MIGRATIONS[:2]:
            conn.executescript(script)
        conn.execute("PRAGMA user_version = 2")
        conn.executemany("INSERT INTO records (url, engine, repo, kind) VALUES (?, ?, ?, ?)",
                         [("p", "vLLM", "vllm-project/vllm", "issue"), ("m", "SGLang", "sgl-project/sglang", "issue"),
                          ("d", "llama.cpp", "difftest/tiny", "difftest")])
        conn.execute("INSERT INTO labels (record_id, dimension, value, source) VALUES (1, 'symptom', 'crash', 'paper')")
    with Store.open(db) as store:
        assert {r["url"]: r["collection"] for r in store.records()} == {
            "p": "paper", "m": "mined:sgl-project/sglang", "d": "difftest:tiny"}
        assert store.schema_version == len(MIGRATIONS)


def test_a_record_keeps_the_collection_it_was_first_written_to(tmp_path):
    with Store.open(tmp_path / "s.db") as store:
        store.upsert_record({"url": "u", "engine": "vLLM", "repo": "a/b", "collection": "mined:a/b"})
        store.upsert_record({"url": "u", "engine": "vLLM", "repo": "a/b", "collection": "paper", "title": "t"})
        record = store.get_record("u")
    assert record["collection"] == "mined:a/b" and record["title"] == "t"
