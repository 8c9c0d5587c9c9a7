"""Spreadsheet round trip: export a coder's labels, edit, import; bad rows abort the whole import."""
import csv
import io

from click.testing import CliRunner

from enginebugs.cli import main
from enginebugs.taxonomy.labelling.coders import coder_answers
from enginebugs.taxonomy.store import Store
from tests.label_support import label_as, make_store, record_id, url


def _export(db, coder="alice"):
    out = CliRunner().invoke(main, ["label", "export", "--coder", coder, "--db", str(db)])
    assert out.exit_code == 0, out.output
    return list(csv.DictReader(io.StringIO(out.output)))


def _write(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_round_trip_keeps_labels_and_imports_edits(tmp_path):
    db = make_store(tmp_path / "s.db", n=3)
    with Store.open(db) as store:
        label_as(store, "alice", 1, symptom=["crash", "system-hang"], root_cause=["misused-api"])
    rows = _export(db)
    assert [r["url"] for r in rows] == [url(1), url(2), url(3)]
    assert rows[0]["symptom"] == "Crash; System Hang" and rows[0]["root_cause"] == "Misused API"
    rows[1].update(symptom="Unexpected Output", root_cause="Incorrect Tokenization @@ Numerical Issue",
                   component="Input Processor", phase="Inference/Serving", output_subtype="Character")
    result = CliRunner().invoke(main, ["label", "import", str(_write(tmp_path / "a.csv", rows)),
                                       "--coder", "alice", "--db", str(db)])
    assert result.exit_code == 0, result.output
    with Store.open(db) as store:
        answers = coder_answers(store, "alice")
        assert answers[record_id(store, 1)] == {"symptom": ["crash", "system-hang"], "root_cause": ["misused-api"]}
        assert answers[record_id(store, 2)] == {
            "symptom": ["unexpected-output"], "root_cause": ["incorrect-tokenization", "numerical-issue"],
            "component": ["input-processor"], "phase": ["inference-serving"], "output_subtype": ["character"]}
        assert record_id(store, 3) not in answers
    assert _export(db)[1]["root_cause"] == "Incorrect Tokenization; Numerical Issue"


def test_bad_rows_are_each_reported_and_nothing_is_written(tmp_path):
    db = make_store(tmp_path / "s.db", n=3)
    rows = _export(db)
    rows[0]["symptom"] = "Crash"  # a good row: must not be written either
    rows[1]["root_cause"] = "Cosmic Rays"
    rows[2]["phase"] = "Engine Setup; Model Conversion"
    rows.append({**rows[0], "url": "https://github.com/x/y/issues/404"})
    bad = _write(tmp_path / "bad.csv", rows + [{**rows[0], "symptom": "Feature Failure", "output_subtype": "Length"}])
    result = CliRunner().invoke(main, ["label", "import", str(bad), "--coder", "alice", "--db", str(db)])
    assert result.exit_code == 2
    assert "line 3: unknown root cause 'Cosmic Rays'" in result.output
    assert "line 4: phase takes one value, got 2" in result.output
    assert "line 5: no record with url 'https://github.com/x/y/issues/404'" in result.output
    assert "line 6: an output subtype needs the symptom Unexpected Output" in result.output
    assert "error: " in result.output and "4 bad row(s), nothing imported" in result.output
    with Store.open(db) as store:
        assert store.count("labels") == 0


def test_unknown_column_and_missing_file_are_user_errors(tmp_path):
    db = make_store(tmp_path / "s.db", n=1)
    path = tmp_path / "c.csv"
    path.write_text("url,severity\n" + url(1) + ",high\n")
    result = CliRunner().invoke(main, ["label", "import", str(path), "--coder", "a", "--db", str(db)])
    assert result.exit_code == 2 and "unknown column(s) severity" in result.output
    missing = CliRunner().invoke(main, ["label", "import", str(tmp_path / "none.csv"), "--coder", "a", "--db", str(db)])
    assert missing.exit_code == 2 and "error: cannot read" in missing.output


def test_coder_is_required(tmp_path):
    db = make_store(tmp_path / "s.db", n=1)
    result = CliRunner().invoke(main, ["label", "export", "--db", str(db)])
    assert result.exit_code == 2 and "error: --coder NAME is required" in result.output
