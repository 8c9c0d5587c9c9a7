"""The pre-label classifier: corpus, estimators, metrics and baselines, saved models, CLI."""
import json
import random

import numpy as np
import pytest
from click.testing import CliRunner

from enginebugs.cli import main
from enginebugs.taxonomy import TAXONOMY
from enginebugs.datasets.report_generator import CAUSES, generate
from enginebugs.taxonomy.classifier.corpus import (SEED_CORPUS, SYNTHETIC_ENV, CorpusError, _example, from_store,
                                                   load_jsonl, training_key)
from enginebugs.taxonomy.classifier.default import CACHE_ENV, load_default_model, seed_model_path, train_seed_model
from enginebugs.taxonomy.classifier.estimators import HierarchicalClassifier, TextClassifier
from enginebugs.taxonomy.classifier.evaluation import (baseline_scores, confidence_report, evaluate_predictions,
                                                       majority_predictions, scores, threshold_for, threshold_table)
from enginebugs.taxonomy.classifier.model import ModelError, PreLabelModel
from enginebugs.taxonomy.classifier.signals import votes
from enginebugs.taxonomy.classifier.structure import parse, view
from enginebugs.taxonomy.store import Store
from tests.label_support import label_as, make_store, record_id

HELDOUT = SEED_CORPUS.with_name("heldout_reports.jsonl")
FEW_SYNTHETIC = "200"  # generated reports in the test model (the shipped one has 2,000): trains in seconds


@pytest.fixture(autouse=True)
def _few_synthetic_reports(monkeypatch):
    monkeypatch.setenv(SYNTHETIC_ENV, FEW_SYNTHETIC)


@pytest.fixture(scope="session")
def seed_model(tmp_path_factory):
    """The default model, trained once on the seed corpus plus a few generated reports, in a temporary cache."""
    cache = tmp_path_factory.mktemp("model-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CACHE_ENV, str(cache))
        mp.setenv(SYNTHETIC_ENV, FEW_SYNTHETIC)
        path = train_seed_model()
    return path


# -- corpus ------------------------------------------------------------------------------------
def test_seed_corpus_covers_the_taxonomy():
    examples = load_jsonl(SEED_CORPUS)
    raw = [json.loads(line) for line in SEED_CORPUS.read_text().splitlines()]
    leaves = [c for ex in examples for c in ex.root_causes]
    assert min(leaves.count(e.slug) for e in TAXONOMY.root_causes) >= 8
    assert {s for ex in examples for s in ex.symptoms} == {e.slug for e in TAXONOMY.symptoms}
    components = {TAXONOMY.resolve("component", c).slug for r in raw for c in r["component"]}
    assert components == {e.slug for e in TAXONOMY["component"]}
    assert {TAXONOMY.resolve("phase", r["phase"]).slug for r in raw} == {e.slug for e in TAXONOMY["phase"]}
    assert len({r["title"] for r in raw}) == len(raw)


def test_heldout_reports_are_separate_from_the_seed_corpus():
    seed_titles = {json.loads(line)["title"] for line in SEED_CORPUS.read_text().splitlines()}
    held = [json.loads(line) for line in HELDOUT.read_text().splitlines()]
    assert len(held) >= 40 and not seed_titles & {r["title"] for r in held}
    assert len(load_jsonl(HELDOUT)) == len(held)


@pytest.mark.parametrize("line, message", [
    ("{not json", "line 2: Expecting property name"),
    ('{"title": "t", "text": "x", "symptoms": ["Explodes"], "root_causes": ["Misused API"]}',
     "line 2: unknown symptom 'Explodes'"),
    ('{"title": "t", "text": "x", "symptoms": ["Crash"]}', "line 2: missing field 'root_causes'"),
    ('{"title": "", "text": "", "symptoms": ["Crash"], "root_causes": ["Misused API"]}', "line 2: empty title"),
])
def test_bad_corpus_lines_are_named(tmp_path, line, message):
    good = '{"title": "t", "text": "x", "symptoms": ["Crash"], "root_causes": ["misused-api"]}'
    path = tmp_path / "c.jsonl"
    path.write_text(good + "\n" + line + "\n")
    with pytest.raises(CorpusError, match=message):
        load_jsonl(path)


def test_store_examples_need_text_and_prefer_arbitrated_labels(tmp_path):
    db = make_store(tmp_path / "s.db", n=3)
    with Store.open(db) as store:
        store.upsert_record({"url": "https://github.com/a/b/issues/9", "engine": "vLLM", "repo": "a/b"})  # no text
        for n in (1, 2):
            label_as(store, "alice", n, symptom=["crash"], root_cause=["misused-api"])
            label_as(store, "bob", n, symptom=["crash"], root_cause=["numerical-issue"])
        store.set_labels(record_id(store, 2), "root_cause", ["incorrect-type"], source="arbitration", coder="c")
        store.set_labels(record_id(store, 2), "symptom", ["crash"], source="arbitration", coder="c")
        label_as(store, "alice", 3, symptom=["system-hang"], root_cause=["misused-api"])
        examples = {ex.url.rsplit("/", 1)[1]: ex for ex in from_store(store)}
    # Record 1: coders disagree, no arbitration -> left out; 2: arbitrated; 3: one coder.
    assert set(examples) == {"2", "3"}
    assert examples["2"].root_causes == ("incorrect-type",)
    assert examples["3"].target("root_cause_group") == "functionality"
    assert "Issue number 3" in examples["3"].text and "fixed in #103" in examples["3"].text


# -- estimators ----------------------------------------------------------------------------------
def _separable(n=60, seed=0):
    rng = random.Random(seed)
    words = {"crash": "segfault abort traceback core dumped", "hang": "stuck deadlock frozen never returns"}
    texts, labels = [], []
    for k in range(n):
        label = "crash" if k % 2 else "hang"
        texts.append(" ".join(rng.sample(words[label].split(), 3) + rng.sample("the a model gpu run".split(), 2)))
        labels.append(label)
    return texts, labels


def test_text_classifier_learns_and_shuffled_labels_do_not():
    texts, labels = _separable()
    fitted = TextClassifier().fit(texts[:40], labels[:40])
    assert scores(labels[40:], list(fitted.predict(texts[40:]))).accuracy == 1.0
    proba = fitted.predict_proba(texts[40:])
    assert np.allclose(proba.sum(axis=1), 1.0) and list(fitted.classes_) == ["crash", "hang"]
    shuffled = random.Random(1).sample(labels[:40], 40)
    control = TextClassifier().fit(texts[:40], shuffled)
    assert scores(labels[40:], list(control.predict(texts[40:]))).accuracy < 0.8


def test_hierarchical_probabilities_are_group_times_leaf():
    examples = load_jsonl(SEED_CORPUS)[:120]
    texts, leaves = [ex.text for ex in examples], [ex.target("root_cause") for ex in examples]
    model = HierarchicalClassifier().fit(texts, leaves)
    proba = model.predict_proba(texts[:5])
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert set(model.classes_) == set(leaves)
    group_proba = model.group_classifier_.predict_proba(texts[:5])
    for gi, group in enumerate(model.group_classifier_.classes_):
        members = [k for k, leaf in enumerate(model.classes_) if TAXONOMY.group_of(leaf).slug == group]
        assert np.allclose(proba[:, members].sum(axis=1), group_proba[:, gi])


# -- metrics and baselines -----------------------------------------------------------------------
def test_baselines_majority_and_stratified():
    from collections import Counter

    counts = Counter({"crash": 6, "hang": 2})
    assert majority_predictions(counts, 3) == ["crash"] * 3
    truth = ["crash", "hang"] * 200
    majority, stratified = baseline_scores([(Counter({"crash": 1, "hang": 1}), truth)])
    assert majority.accuracy == 0.5 and majority.macro_f1 == pytest.approx(1 / 3)
    assert stratified.accuracy == pytest.approx(0.5, abs=0.03)
    report = evaluate_predictions("symptom", truth, truth, counts)
    assert report.model.macro_f1 == 1.0 and report.per_class == {"crash": (1.0, 200), "hang": (1.0, 200)}


# -- saved models ----------------------------------------------------------------------------------
def test_seed_model_is_cached_keyed_and_version_checked(seed_model, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(seed_model.parent))
    assert seed_model == seed_model_path()
    model = load_default_model(train_if_missing=False)
    assert model.info["leaf_strategy"] == "flat" and model.info["n_examples"] == 300 + int(FEW_SYNTHETIC)
    calibration = model.info["calibration"]
    assert calibration["set"] == HELDOUT.name and set(calibration["tables"]) == {"symptom", "root_cause_group",
                                                                                 "root_cause"}
    assert model.threshold("symptom", 0.0) == 0.0 and model.threshold("symptom", 1.01) is None
    suggestions = model.suggest(["Segmentation fault (core dumped) in the CUDA kernel at startup"], k=3)[0]
    assert [len(suggestions[t]) for t in ("symptom", "root_cause_group", "root_cause")] == [3, 3, 3]
    assert suggestions["symptom"][0][0] == "crash"
    with pytest.raises(ModelError, match="taxonomy version 1.0, this is 9.9"):
        PreLabelModel.load(seed_model, taxonomy_version="9.9")
    junk = tmp_path / "junk.model"
    junk.write_bytes(b"\x80\x04not a model")
    with pytest.raises(ModelError, match="not an enginebugs classifier"):
        PreLabelModel.load(junk)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "empty"))
    assert load_default_model(train_if_missing=False) is None


def test_eval_on_external_file_prints_json_with_baselines(seed_model):
    out = CliRunner().invoke(main, ["classify", "eval", "--model", str(seed_model), "--data", str(HELDOUT), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert set(data) == {"symptom", "root_cause_group", "root_cause"}
    for target in data.values():
        assert target["n"] == len(load_jsonl(HELDOUT))
        assert {"macro_f1", "accuracy", "n", "per_class", "confidence"} <= set(target)
        for name in ("majority", "stratified"):
            assert set(target["baselines"][name]) == {"macro_f1", "accuracy", "n"}
        assert sum(c["support"] for c in target["per_class"].values()) == target["n"]
        confidence = target["confidence"]
        assert [p["coverage"] for p in confidence["curve"]][4] == 0.5
        assert confidence["accuracy_at_50_coverage"] == confidence["curve"][4]["accuracy"]
        assert confidence["curve"][-1]["accuracy"] == pytest.approx(target["accuracy"], abs=1e-4)
    assert data["symptom"]["macro_f1"] > 2 * data["symptom"]["baselines"]["stratified"]["macro_f1"]


def test_eval_table_names_both_baselines(seed_model):
    out = CliRunner().invoke(main, ["classify", "eval", "--model", str(seed_model), "--data", str(HELDOUT)])
    assert out.exit_code == 0 and "majority" in out.output and "stratified" in out.output
    assert "per-class F1: root cause" in out.output and "accuracy at 50% coverage" in out.output


def test_predict_writes_classifier_labels_beside_human_ones(seed_model, tmp_path):
    db = make_store(tmp_path / "s.db", n=3)
    with Store.open(db) as store:
        label_as(store, "alice", 1, symptom=["silent-error"], root_cause=["document-issue"])
    runner = CliRunner()
    for _ in range(2):  # re-running replaces the classifier's labels, never adds to them
        out = runner.invoke(main, ["classify", "predict", "--db", str(db), "--model", str(seed_model), "--top", "2"])
        assert out.exit_code == 0, out.output
    with Store.open(db) as store:
        predicted = store.labels(source="classifier")
        assert len(predicted) == 3 * 2 * 2
        assert all(0 < r["confidence"] <= 1 and r["coder"] == "classifier" for r in predicted)
        assert {r["value"] for r in store.labels(source="manual")} == {"silent-error", "document-issue"}
    only = runner.invoke(main, ["classify", "predict", "--db", str(db), "--model", str(seed_model),
                                "--unlabelled-only"])
    assert "for 2 record(s)" in only.output


def test_predict_refuses_a_model_of_another_taxonomy_version(seed_model, tmp_path):
    other = tmp_path / "other.model"
    header, _, rest = seed_model.read_bytes().partition(b"\n")
    other.write_bytes(json.dumps({**json.loads(header), "taxonomy_version": "0.1"}).encode() + b"\n" + rest)
    out = CliRunner().invoke(main, ["classify", "predict", "--db", str(make_store(tmp_path / "s.db", 1)),
                                    "--model", str(other)])
    assert out.exit_code == 2 and "trained under taxonomy version 0.1" in out.output


def test_train_and_cross_validate_on_a_store(tmp_path):
    """Records of a store labelled by a coder: train saves a model, eval --db cross-validates."""
    kept = {"misused-api", "numerical-issue", "incompatible-version", "incorrect-tokenization"}
    examples = [ex for ex in load_jsonl(SEED_CORPUS) if ex.root_causes[0] in kept]
    db = tmp_path / "s.db"
    with Store.open(db) as store, store.transaction():
        for k, ex in enumerate(examples):
            rid = store.upsert_record({"url": f"https://github.com/x/y/issues/{k}", "engine": "vLLM", "repo": "x/y",
                                       "title": ex.text.split("\n")[0], "body": ex.text})
            store.set_labels(rid, "symptom", list(ex.symptoms), source="paper", coder="paper")
            store.set_labels(rid, "root_cause", list(ex.root_causes), source="paper", coder="paper")
    runner = CliRunner()
    out = runner.invoke(main, ["classify", "train", "--db", str(db), "-o", str(tmp_path / "m.model"),
                               "--strategy", "flat"])
    assert out.exit_code == 0, out.output
    assert PreLabelModel.load(tmp_path / "m.model").info["n_examples"] == len(examples)
    assert "calibration" not in PreLabelModel.load(tmp_path / "m.model").info  # only the seed model is calibrated
    cv = runner.invoke(main, ["classify", "eval", "--db", str(db), "--folds", "2", "--json"])
    assert cv.exit_code == 0, cv.output
    data = json.loads(cv.output)
    assert data["root_cause"]["strategy"] in ("flat", "hierarchical")
    assert set(data["root_cause"]["strategies"]) == {"flat", "hierarchical"}
    assert data["symptom"]["n"] == len(examples)


def test_classify_user_errors(tmp_path):
    runner = CliRunner()
    few = tmp_path / "few.jsonl"
    few.write_text('{"title": "t", "text": "x", "symptoms": ["Crash"], "root_causes": ["Misused API"]}\n')
    out = runner.invoke(main, ["classify", "train", "--data", str(few), "-o", str(tmp_path / "m")])
    assert out.exit_code == 2 and "only 1 labelled example(s)" in out.output
    out = runner.invoke(main, ["classify", "train", "--db", str(tmp_path / "none.db"), "-o", str(tmp_path / "m")])
    assert out.exit_code == 2 and "error: no store at" in out.output
    out = runner.invoke(main, ["classify", "eval", "--model", str(tmp_path / "none.model"), "--data", str(HELDOUT)])
    assert out.exit_code == 2 and "error: no model file at" in out.output


def test_labeller_shows_the_model_suggestions(seed_model, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(seed_model.parent))
    db = make_store(tmp_path / "s.db", n=1)
    out = CliRunner().invoke(main, ["label", "--coder", "a", "--db", str(db)], input="q\n")
    assert out.exit_code == 0, out.output
    assert "classifier suggests:" in out.output and "%" in out.output


def test_labeller_hides_suggestions_below_the_accuracy_threshold(seed_model, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(seed_model.parent))
    db = make_store(tmp_path / "s.db", n=1)
    runner = CliRunner()
    strict = runner.invoke(main, ["label", "--coder", "a", "--db", str(db), "--suggest-accuracy", "1"], input="q\n")
    assert strict.exit_code == 0, strict.output
    assert "suggestions at 100% accuracy" in strict.output and "classifier suggests:" not in strict.output
    lenient = runner.invoke(main, ["label", "--coder", "a", "--db", str(db), "--suggest-accuracy", "0"], input="q\n")
    assert "classifier suggests:" in lenient.output


# -- issue structure, labelling functions, generated reports, confidence ------------------------------
REAL_SHAPED = """[Bug]: server dies when loading the model
### Your current environment

<details>
<summary>The output of <code>python collect_env.py</code></summary>

```text
PyTorch version              : 2.4.0+cu121
CUDA used to build PyTorch   : 12.1
GPU 0: NVIDIA A100-SXM4-80GB
numpy==1.26.4
```
</details>

### Describe the bug

Note: it worked yesterday. Loading fails right away.

```
INFO 01-02 10:00:00 [config.py:1] Using max model len 4096
Traceback (most recent call last):
  File "/usr/lib/python3/site-packages/vllm/worker/cache_engine.py", line 103, in _allocate_kv_cache
    x = torch.zeros(shape)
torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB
```
- [x] I looked through the open issues first.
"""


def test_structure_separates_description_from_dumps_and_reads_the_traceback():
    parsed = parse(REAL_SHAPED)
    assert parsed.prose[0].startswith("[Bug]: server dies")  # the title
    assert "Note: it worked yesterday. Loading fails right away." in parsed.prose  # a lone colon line is prose
    assert parsed.env >= 4 and parsed.boilerplate >= 3
    assert parsed.exceptions[-1] == "OutOfMemoryError" and parsed.frames == ["cache_engine:_allocate_kv_cache"]
    text = view(REAL_SHAPED)
    assert "zzlastexcoutofmemoryerror" in text and "zzframecacheengine" in text and "zzhastraceback" in text
    assert "PyTorch version" not in text and "open issues first" not in text
    assert "zzhastraceback" not in view("The output repeats the same word forever.")


def test_labelling_functions_vote_and_stay_quiet_on_neutral_text():
    assert votes("the server hangs, stuck with no response", "symptom") == {"system-hang": 3}
    assert "abnormal-performance" in votes("throughput dropped to 12 tok/s after the upgrade", "symptom")
    assert "environment" in votes("fails on ROCm with an MI250", "root_cause_group")
    assert votes("hello there, nice weather today", "symptom") == {}


def test_generated_reports_are_deterministic_cover_the_taxonomy_and_load():
    first, again, other = list(generate(280, seed=3)), list(generate(280, seed=3)), list(generate(280, seed=4))
    assert first == again and first != other
    assert {r["root_causes"][0] for r in first} == {e.slug for e in TAXONOMY.root_causes} == set(CAUSES)
    assert {r["symptoms"][0] for r in first} == {e.slug for e in TAXONOMY.symptoms}
    examples = [_example(r) for r in first]
    assert all(ex.text.strip() for ex in examples)
    shaped = sum(bool(parse(ex.text).env or parse(ex.text).log or parse(ex.text).frames) for ex in examples)
    assert shaped > 0.7 * len(examples)
    seed_titles = {json.loads(line)["title"] for line in SEED_CORPUS.read_text().splitlines()}
    assert not seed_titles & {r["title"] for r in first}


def test_training_key_changes_with_the_generated_count():
    assert training_key(synthetic=10) != training_key(synthetic=20) == training_key(synthetic=20)


def test_confidence_curve_and_thresholds():
    conf = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    right = [True, True, True, True, False, True, False, False, False, False]
    report = confidence_report(conf, right)
    assert report.at(0.5) == {"coverage": 0.5, "accuracy": 0.8, "threshold": 0.5}
    assert report.at(0.1)["accuracy"] == 1.0 and report.curve[-1]["accuracy"] == 0.5
    table = threshold_table(conf, right)
    assert threshold_for(table, 1.0) == 0.55 and threshold_for(table, 0.5) == 0.0
    assert threshold_for(threshold_table(conf, [False] * 10), 0.5) is None
    # negative control: confidence unrelated to correctness gives no lift at 50% coverage
    rng = np.random.default_rng(0)
    noise = confidence_report(rng.random(4000), rng.random(4000) < 0.6)
    assert noise.at(0.5)["accuracy"] == pytest.approx(0.6, abs=0.03)


def test_calibrate_stores_thresholds_measured_on_the_given_set(seed_model, tmp_path):
    out = tmp_path / "calibrated.model"
    result = CliRunner().invoke(main, ["classify", "calibrate", "--model", str(seed_model), "--data", str(HELDOUT),
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "symptom: accuracy 70% ->" in result.output
    calibrated = PreLabelModel.load(out)
    assert calibrated.info["calibration"]["set"] == HELDOUT.name
    assert calibrated.info["calibration"]["n"] == len(load_jsonl(HELDOUT))
    missing = CliRunner().invoke(main, ["classify", "calibrate", "--model", str(seed_model), "--data",
                                        str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "x.model")])
    assert missing.exit_code == 2 and "error: no such file" in missing.output and not (tmp_path / "x.model").exists()


def test_classify_train_without_data_saves_the_calibrated_seed_model(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    monkeypatch.setenv(SYNTHETIC_ENV, "0")  # the hand-written corpus alone: the quickest seed model
    out = CliRunner().invoke(main, ["classify", "train"])
    assert out.exit_code == 0, out.output
    model = PreLabelModel.load(seed_model_path())
    assert model.info["n_examples"] == 300 and model.info["calibration"]["set"] == HELDOUT.name
