"""Study report renderers and the fix-effort / temporal tables over mined-style records."""

import pytest

from click.testing import CliRunner

from enginebugs.cli import main
from enginebugs.reports.study_stats import compute
from enginebugs.taxonomy.store import Store


def _store_with_fix_data(path):
    store = Store.open(path)
    with store.transaction():
        for i, (engine, created, ttf, add, dele, cause) in enumerate([
            ("vLLM", "2025-01-10T00:00:00Z", 2.0, 10, 5, "misused-api"),
            ("vLLM", "2025-02-10T00:00:00Z", 4.0, 30, 0, "incompatible-version"),
            ("vLLM", "2025-05-01T00:00:00Z", None, None, None, "misused-api"),
            ("SGLang", "2025-04-02T00:00:00Z", 10.0, 1, 1, "misused-api"),
        ]):
            rid = store.upsert_record({"url": f"u{i}", "engine": engine, "repo": "o/r", "created_at": created,
                                       "time_to_fix_days": ttf, "fix_additions": add, "fix_deletions": dele})
            store.set_labels(rid, "symptom", ["crash"], source="manual", coder="A")
            store.set_labels(rid, "root_cause", [cause], source="manual", coder="A")
    return store


def test_fix_effort_and_quarters(tmp_path):
    stats = compute(_store_with_fix_data(tmp_path / "s.db"))
    assert stats["fix_effort"]["by_engine"]["vLLM"] == {
        "n": 2, "median_days_to_fix": 3.0, "mean_days_to_fix": 3.0,
        "median_lines_changed": 22.5, "mean_lines_changed": 22.5}
    assert stats["fix_effort"]["by_group"]["Functionality"]["n"] == 2
    assert stats["fix_effort"]["by_group"]["Functionality"]["median_days_to_fix"] == 6.0
    assert stats["bugs_per_quarter"] == {"SGLang": {"2025-Q2": 1}, "vLLM": {"2025-Q1": 2, "2025-Q2": 1}}


def test_manual_labels_lose_to_arbitration(tmp_path):
    store = _store_with_fix_data(tmp_path / "s.db")
    rid = store.get_record("u0")["id"]
    store.set_labels(rid, "symptom", ["system-hang"], source="arbitration", coder="Z")
    stats = compute(store)
    assert stats["symptoms"] == {"Crash": 3, "System Hang": 1}


def test_html_csv_and_terminal(tmp_path):
    _store_with_fix_data(tmp_path / "s.db").close()
    result = CliRunner().invoke(main, ["report", "study", "--db", str(tmp_path / "s.db"),
                                       "--html", str(tmp_path / "html"), "--csv", str(tmp_path / "csv")])
    assert result.exit_code == 0, result.output
    assert "Fix effort per engine" in result.output and "Bugs per quarter" in result.output
    page = (tmp_path / "html" / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 6 and "Symptom x root-cause group" in page
    assert (tmp_path / "html" / "symptom_by_group.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "csv" / "bugs_per_engine.csv").read_text().splitlines() == [
        "engine,count,share %", "vLLM,3,75.0", "SGLang,1,25.0"]


def test_export_round_trips_to_pandas(tmp_path):
    _store_with_fix_data(tmp_path / "s.db").close()
    result = CliRunner().invoke(main, ["report", "export", "--db", str(tmp_path / "s.db"), str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    import pandas as pd
    labels = pd.read_csv(tmp_path / "x" / "labels.csv")
    assert set(labels["group"].dropna()) == {"Functionality", "Environment"}
    assert len(pd.read_csv(tmp_path / "x" / "records.csv")) == 4


def test_parquet_export_has_typed_columns(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    store = _store_with_fix_data(tmp_path / "s.db")
    store.upsert_record({"url": "u0", "engine": "vLLM", "repo": "o/r", "labels": ["bug", "good first issue"],
                         "number": 7})
    store.close()
    result = CliRunner().invoke(main, ["report", "export", "--db", str(tmp_path / "s.db"), "--format", "parquet",
                                       "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    records = pd.read_parquet(tmp_path / "p" / "records.parquet")
    assert str(records["created_at"].dtype) == "datetime64[ns, UTC]" or "datetime64" in str(records["created_at"].dtype)
    assert str(records["number"].dtype) == "Int64" and str(records["fix_additions"].dtype) == "Int64"
    assert list(records.loc[records["url"] == "u0", "labels"].iloc[0]) == ["bug", "good first issue"]
    assert records.loc[records["url"] == "u0", "number"].iloc[0] == 7


def test_every_study_plot_is_drawn_for_the_paper(tmp_path):
    runner = CliRunner()
    runner.invoke(main, ["study", "import", "--db", str(tmp_path / "p.db")])
    result = runner.invoke(main, ["report", "study", "--db", str(tmp_path / "p.db"), "--html", str(tmp_path / "h")])
    assert result.exit_code == 0, result.output
    assert sorted(p.stem for p in (tmp_path / "h").glob("*.png")) == sorted([
        "bugs_per_engine", "symptoms", "symptoms_per_engine", "root_causes", "groups_per_engine", "symptom_by_group",
        "phases", "components", "output_subtypes"])


def test_unknown_phase_filter_is_one_line_error(tmp_path):
    _store_with_fix_data(tmp_path / "s.db").close()
    result = CliRunner().invoke(main, ["report", "study", "--db", str(tmp_path / "s.db"), "--phase", "Lunch"])
    assert result.exit_code == 2 and result.output.strip() == "error: unknown phase 'Lunch'"
