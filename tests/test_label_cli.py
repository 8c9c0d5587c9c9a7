"""Command-line surface of ``enginebugs taxonomy`` and ``enginebugs label``."""
import json

from click.testing import CliRunner

from enginebugs.cli import main
from enginebugs.taxonomy import TAXONOMY
from enginebugs.taxonomy.store import Store
from tests.label_support import make_store, record_id


def test_taxonomy_show_json_and_table():
    runner = CliRunner()
    data = json.loads(runner.invoke(main, ["taxonomy", "show", "--json"]).output)
    assert data["version"] == TAXONOMY.version
    assert [e["name"] for e in data["root_cause"]] == TAXONOMY.names("root_cause")
    assert data["root_cause"][0]["group"] == "functionality"
    table = runner.invoke(main, ["taxonomy", "show"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "Incorrect Multi-device Management" in table.output


def test_labeller_needs_a_coder(tmp_path):
    out = CliRunner().invoke(main, ["label", "--db", str(make_store(tmp_path / "s.db", 1))])
    assert out.exit_code == 2 and "error: --coder NAME is required" in out.output


def test_labeller_from_the_command_line_saves_answers(tmp_path):
    db = make_store(tmp_path / "s.db", 2)
    out = CliRunner().invoke(main, ["label", "--coder", "zoe", "--db", str(db), "--no-suggestions"],
                             input="6\n28\n13\n3\nq\n")
    assert out.exit_code == 0, out.output
    assert "4 answer(s) saved" in out.output and "1 of 2 record(s)" in out.output
    with Store.open(db) as store:
        mine = {(r["dimension"], r["value"]) for r in store.labels(record_id=record_id(store, 1), coder="zoe")}
    assert mine == {("symptom", "silent-error"), ("root_cause", "incorrect-resource-deallocation"),
                    ("component", "monitor-logger"), ("phase", "inference-serving")}


def test_engine_filter_and_finished_queue(tmp_path):
    db = make_store(tmp_path / "s.db", 1, engine="llama.cpp")
    out = CliRunner().invoke(main, ["label", "--coder", "zoe", "--db", str(db), "--engine", "vLLM"])
    assert out.exit_code == 0 and "nothing left to label for zoe" in out.output


def test_group_db_option_reaches_subcommands(tmp_path):
    db = make_store(tmp_path / "s.db", 2)
    out = CliRunner().invoke(main, ["label", "--db", str(db), "export", "--coder", "zoe"])
    assert out.exit_code == 0 and out.output.count("vllm-project/vllm/issues/") == 2


def test_labeller_on_an_empty_store_says_so(tmp_path):
    out = CliRunner().invoke(main, ["label", "--coder", "zoe", "--db", str(tmp_path / "new.db")])
    assert out.exit_code == 2 and "holds no records" in out.output
