"""Pre-label classifier: honest figures beside a majority-class and a stratified-random baseline.

1. 5-fold stratified cross-validation on the seed corpus (datasets/seed_reports.jsonl) for
   symptom, root-cause group and root-cause leaf (flat and hierarchical).
2. The shipped model (trained on the whole seed corpus) on reports it never saw:
   datasets/heldout_reports.jsonl, written separately in a longer, noisier style. It is NOT
   upstream issue text (none can be shipped); with ``--db STORE`` the model is also measured
   on the store's human-labelled records that have text, e.g. the paper's 929 after
   ``enginebugs mine hydrate``: that is the real test.
   Goal: symptom and root-cause-group macro-F1 at least 2x the stratified-random baseline.
3. Training time and prediction speed.

Run: ``python -m benchmarks.bench_classifier [--db STORE] [--data FILE.jsonl]``
"""
from __future__ import annotations

import argparse
import time

from rich.console import Console

from enginebugs.taxonomy.classifier import TARGETS
from enginebugs.taxonomy.classifier.corpus import SEED_CORPUS, Example, from_store, load_jsonl
from enginebugs.taxonomy.classifier.evaluation import TargetReport, cross_validate, evaluate_predictions
from enginebugs.taxonomy.classifier.model import PreLabelModel, train
from enginebugs.taxonomy.classifier.report import print_reports
from enginebugs.taxonomy.store import Store

HELDOUT = SEED_CORPUS.with_name("heldout_reports.jsonl")
GOAL_RATIO = 2.0
GOAL_TARGETS = ("symptom", "root_cause_group")


def on_unseen(model: PreLabelModel, examples: list[Example]) -> dict[str, TargetReport]:
    predictions = model.predict([ex.text for ex in examples])
    return {t: evaluate_predictions(t, [ex.target(t) for ex in examples], predictions[t], model.class_counts(t))
            for t in TARGETS}


def goal_line(reports: dict[str, TargetReport]) -> str:
    parts = []
    for target in GOAL_TARGETS:
        r = reports[target]
        ratio = r.model.macro_f1 / r.stratified.macro_f1
        parts.append(f"{target} {ratio:.1f}x {'met' if ratio >= GOAL_RATIO else 'NOT met'}")
    return f"goal (macro-F1 >= {GOAL_RATIO:.0f}x stratified): " + ", ".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_classifier")
    parser.add_argument("--db", help="also measure on this store's labelled records with text (real issues)")
    parser.add_argument("--data", help="also measure on this labelled JSONL file")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv or [])
    console = Console(width=110)

    seed = load_jsonl(SEED_CORPUS)
    start = time.perf_counter()
    cv = cross_validate(seed, folds=args.folds)
    cv_seconds = time.perf_counter() - start
    print_reports(console, cv, f"{args.folds}-fold stratified CV on the seed corpus ({len(seed)} reports)",
                  per_class=False)

    start = time.perf_counter()
    model = train(seed, corpus=SEED_CORPUS.name)
    train_seconds = time.perf_counter() - start
    unseen = {"held-out reports (written separately; not upstream text)": load_jsonl(HELDOUT)}
    if args.data:
        unseen[args.data] = load_jsonl(args.data)
    if args.db:
        with Store.open(args.db) as store:
            unseen[f"{args.db} (human-labelled records with text)"] = from_store(store)
    for name, examples in unseen.items():
        if not examples:
            console.print(f"{name}: no labelled records with text (run `enginebugs mine hydrate` first)")
            continue
        reports = on_unseen(model, examples)
        print_reports(console, reports, f"shipped model on {name}: {len(examples)} reports", per_class=False)
        console.print(goal_line(reports))

    texts = [ex.text for ex in load_jsonl(HELDOUT)]
    start = time.perf_counter()
    model.suggest(texts, k=3)
    per_report = (time.perf_counter() - start) / len(texts)
    console.print(f"timing: CV {cv_seconds:.1f} s, training the shipped model {train_seconds:.1f} s "
                  f"(root causes {model.info['leaf_strategy']}), top-3 suggestions {per_report * 1000:.1f} ms/report")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
