"""Agreement between coders per dimension, and arbitration with provenance (API and CLI)."""
import json

import pytest
from click.testing import CliRunner

from enginebugs.cli import main
from enginebugs.taxonomy.labelling.agreement import agreement
from enginebugs.taxonomy.labelling.arbitration import pending, provenance, resolve
from enginebugs.taxonomy.store import Store
from tests.label_support import label_as, make_store, record_id, url


@pytest.fixture
def coded(tmp_path):
    """Five records; alice and bob agree on symptoms except record 3 and on root causes except 4 and 5."""
    path = make_store(tmp_path / "s.db", n=6)
    with Store.open(path) as store:
        causes = {1: "misused-api", 2: "numerical-issue", 3: "misused-api", 4: "incompatible-version",
                  5: "incorrect-tokenization"}
        for n, cause in causes.items():
            label_as(store, "alice", n, symptom=["crash"], root_cause=[cause], component=["operators"])
            bob_cause = {4: "dependent-module-issue", 5: "numerical-issue"}.get(n, cause)
            label_as(store, "bob", n, symptom=["system-hang"] if n == 3 else ["crash"], root_cause=[bob_cause],
                     component=["operators"])
        label_as(store, "alice", 6, symptom=["crash"])  # only alice: not counted
    return path


def test_agreement_counts_kappa_and_disagreements(coded):
    with Store.open(coded) as store:
        result = agreement(store, "alice", "bob")
    sym = result["symptom"]
    assert (sym.n, sym.only_first, sym.only_second) == (5, 1, 0)
    assert sym.raw == pytest.approx(0.8)
    assert sym.kappa == pytest.approx(0.0)  # alice always says crash: no agreement beyond chance
    assert [d.url for d in sym.disagreements] == [url(3)]
    # Record 4: both in the environment group; record 5: input/output vs functionality.
    assert [d.url for d in result["root_cause"].disagreements] == [url(4), url(5)]
    assert [d.url for d in result["root_cause_group"].disagreements] == [url(5)]
    assert result["root_cause_group"].disagreements[0].first == ("input-output",)
    assert result["component"].kappa == 1.0 and not result["component"].disagreements


def test_multi_valued_labels_agree_only_as_the_same_set(tmp_path):
    path = make_store(tmp_path / "s.db", n=2)
    with Store.open(path) as store:
        label_as(store, "a", 1, symptom=["crash", "system-hang"])
        label_as(store, "b", 1, symptom=["system-hang", "crash"])
        label_as(store, "a", 2, symptom=["crash", "system-hang"])
        label_as(store, "b", 2, symptom=["crash"])
        result = agreement(store, "a", "b")["symptom"]
    assert result.raw == 0.5 and [d.url for d in result.disagreements] == [url(2)]


def test_resolve_records_final_label_and_provenance(coded):
    with Store.open(coded) as store:
        before = {(d.url, d.dimension) for d in pending(store, "alice", "bob")}
        assert before == {(url(3), "symptom"), (url(4), "root_cause"), (url(5), "root_cause")}
        rid = record_id(store, 4)
        resolve(store, rid, "root_cause", ["dependent-module-issue"], arbitrator="carol",
                coders={"alice": ["incompatible-version"], "bob": ["dependent-module-issue"]})
        final = [r for r in store.labels(record_id=rid) if r["source"] == "arbitration"]
        assert [(r["dimension"], r["value"], r["coder"]) for r in final] == [
            ("root_cause", "dependent-module-issue", "carol")]
        assert provenance(store, rid)[0]["resolved"] == {"alice": ["incompatible-version"],
                                                        "bob": ["dependent-module-issue"]}
        assert {(d.url, d.dimension) for d in pending(store, "alice", "bob")} == before - {(url(4), "root_cause")}
        # The coders' own labels stay as they were.
        assert {r["value"] for r in store.labels(record_id=rid, source="manual")} >= {"incompatible-version"}


def test_resolve_refuses_empty_labels_and_writes_nothing(coded):
    with Store.open(coded) as store:
        with pytest.raises(ValueError):
            resolve(store, record_id(store, 4), "root_cause", [], arbitrator="carol", coders={})
        assert not store.labels(source="arbitration")


def test_agreement_cli_prints_table_and_json(coded):
    runner = CliRunner()
    out = runner.invoke(main, ["label", "agreement", "--coders", "alice", "bob", "--db", str(coded)])
    assert out.exit_code == 0, out.output
    assert "Cohen" in out.output and url(5) in out.output
    js = runner.invoke(main, ["label", "agreement", "--coders", "alice", "bob", "--db", str(coded), "--json"])
    data = json.loads(js.output)
    assert set(data) == {"symptom", "root_cause_group", "root_cause", "component"}
    assert data["symptom"]["raw_agreement"] == pytest.approx(0.8)


def test_agreement_cli_without_common_records_is_a_user_error(coded):
    out = CliRunner().invoke(main, ["label", "agreement", "--coders", "alice", "nobody", "--db", str(coded)])
    assert out.exit_code == 2 and "error: no record labelled by both" in out.output


def test_resolve_cli_one_record_and_interactive(coded):
    runner = CliRunner()
    one = runner.invoke(main, ["label", "resolve", url(3), "--coders", "alice", "bob", "--arbitrator", "carol",
                               "--dimension", "symptom", "--value", "System Hang", "--db", str(coded)])
    assert one.exit_code == 0, one.output
    # Interactive: first pending (record 4) takes bob's label, second (record 5) a typed name.
    walk = runner.invoke(main, ["label", "resolve", "--coders", "alice", "bob", "--arbitrator", "carol",
                                "--db", str(coded)], input="2\nIncorrect Tokenization\n")
    assert walk.exit_code == 0, walk.output
    assert "2 disagreement(s) resolved" in walk.output
    with Store.open(coded) as store:
        final = {(r["record_id"], r["value"]) for r in store.labels(source="arbitration")}
        assert final == {(record_id(store, 3), "system-hang"), (record_id(store, 4), "dependent-module-issue"),
                         (record_id(store, 5), "incorrect-tokenization")}
        assert not pending(store, "alice", "bob")


def test_resolve_cli_rejects_unknown_value_without_writing(coded):
    out = CliRunner().invoke(main, ["label", "resolve", url(3), "--coders", "alice", "bob", "--arbitrator", "c",
                                    "--dimension", "symptom", "--value", "Explodes", "--db", str(coded)])
    assert out.exit_code == 2 and "error: unknown symptom 'Explodes'" in out.output
    with Store.open(coded) as store:
        assert not store.labels(source="arbitration")
