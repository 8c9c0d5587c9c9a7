import sqlite3

import pytest

from enginebugs.taxonomy.store import Store
from enginebugs.taxonomy.store.migrations import MIGRATIONS


def test_new_store_is_at_latest_schema(tmp_path):
    with Store.open(tmp_path / "s.db") as store:
        assert store.schema_version == len(MIGRATIONS)


def test_upsert_keeps_fields_left_out_and_does_not_duplicate(tmp_path):
    with Store.open(tmp_path / "s.db") as store:
        rid = store.upsert_record({"url": "u1", "engine": "vLLM", "repo": "a/b", "title": "t"})
        same = store.upsert_record({"url": "u1", "engine": "vLLM", "repo": "a/b", "state": "closed"})
        assert rid == same and store.count() == 1
        rec = store.get_record("u1")
        assert rec["title"] == "t" and rec["state"] == "closed"


def test_failed_transaction_leaves_store_as_it_was(tmp_path):
    with Store.open(tmp_path / "s.db") as store:
        store.upsert_record({"url": "keep", "engine": "e", "repo": "a/b"})
        with pytest.raises(RuntimeError):
            with store.transaction():
                rid = store.upsert_record({"url": "gone", "engine": "e", "repo": "a/b"})
                store.set_labels(rid, "symptom", ["crash"], source="manual", coder="A")
                raise RuntimeError("boom")
        assert [r["url"] for r in store.records()] == ["keep"]
        assert store.count("labels") == 0


def test_set_labels_replaces_one_coders_dimension_only(tmp_path):
    with Store.open(tmp_path / "s.db") as store:
        rid = store.upsert_record({"url": "u", "engine": "e", "repo": "a/b"})
        store.set_labels(rid, "symptom", ["crash"], source="manual", coder="A")
        store.set_labels(rid, "symptom", ["system-hang"], source="manual", coder="B")
        store.set_labels(rid, "symptom", ["unexpected-output", "crash"], source="manual", coder="A")
        got = {(l["coder"], l["position"]): l["value"] for l in store.labels(rid)}
        assert got == {("A", 0): "unexpected-output", ("A", 1): "crash", ("B", 0): "system-hang"}
        with pytest.raises(ValueError):
            store.set_labels(rid, "symptom", ["crash"], source="guess")


def test_bad_kind_is_rejected_by_schema(tmp_path):
    with Store.open(tmp_path / "s.db") as store:
        with pytest.raises(sqlite3.IntegrityError):
            store.upsert_record({"url": "u", "engine": "e", "repo": "a/b", "kind": "tweet"})
