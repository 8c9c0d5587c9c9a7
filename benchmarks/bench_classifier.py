"""Pre-label classifier: honest figures beside a majority-class and a stratified-random baseline.

1. 5-fold stratified cross-validation on the seed corpus (datasets/seed_reports.jsonl) for
   symptom, root-cause group and root-cause leaf (flat and hierarchical).
2. The shipped model (seed corpus + generated reports, datasets/report_generator.py) on reports
   it never saw: datasets/heldout_reports.jsonl, written separately in a longer, noisier style
   (NOT upstream text; none can be shipped). ``--real FILE`` measures it on labelled real issue
   text kept outside the repository (same JSONL format), ``--db STORE`` on a store's
   human-labelled records with text (e.g. the paper's 929 after ``enginebugs mine hydrate``).
   Goals on real text: symptom and root-cause-group macro-F1 >= 0.45, every symptom class
   F1 > 0.2; reported with the accuracy at 50 % coverage of the confidence.
3. Training time and prediction speed.

Run: ``python -m benchmarks.bench_classifier [--real FILE.jsonl] [--db STORE] [--data FILE.jsonl]``
"""
from __future__ import annotations

import argparse
import time

from rich.console import Console

from enginebugs.taxonomy.classifier import TARGETS
from enginebugs.taxonomy.classifier.corpus import (HELDOUT_CORPUS, SEED_CORPUS, Example, from_store, load_jsonl,
                                                   synthetic_count, training_examples)
from enginebugs.taxonomy.classifier.evaluation import TargetReport, cross_validate, evaluate_predictions
from enginebugs.taxonomy.classifier.default import DEFAULT_STRATEGY
from enginebugs.taxonomy.classifier.model import PreLabelModel, train
from enginebugs.taxonomy.classifier.report import print_reports
from enginebugs.taxonomy.store import Store

GOAL_RATIO = 2.0
GOAL_TARGETS = ("symptom", "root_cause_group")
GOAL_REAL_F1 = 0.45  # macro-F1 on real issue text, symptom and root-cause group
GOAL_CLASS_F1 = 0.2  # every symptom class on real issue text


def on_unseen(model: PreLabelModel, examples: list[Example]) -> dict[str, TargetReport]:
    found = model.predict_with_confidence([ex.text for ex in examples])
    return {t: evaluate_predictions(t, [ex.target(t) for ex in examples], found[t][0], model.class_counts(t),
                                    confidences=found[t][1]) for t in TARGETS}


def goal_line(reports: dict[str, TargetReport]) -> str:
    parts = []
    for target in GOAL_TARGETS:
        r = reports[target]
        ratio = r.model.macro_f1 / r.stratified.macro_f1
        parts.append(f"{target} {ratio:.1f}x {'met' if ratio >= GOAL_RATIO else 'NOT met'}")
    return f"goal (macro-F1 >= {GOAL_RATIO:.0f}x stratified): " + ", ".join(parts)


def real_goal_line(reports: dict[str, TargetReport]) -> str:
    """The issue's goals on real text: macro-F1 thresholds, weakest symptom class, confidence at 50 %."""
    parts = [f"{t} macro-F1 {reports[t].model.macro_f1:.3f} "
             f"{'met' if reports[t].model.macro_f1 >= GOAL_REAL_F1 else 'NOT met'}" for t in GOAL_TARGETS]
    weakest, (f1, support) = min(reports["symptom"].per_class.items(), key=lambda kv: kv[1][0])
    parts.append(f"weakest symptom {weakest} F1 {f1:.3f} (n={support}) {'met' if f1 > GOAL_CLASS_F1 else 'NOT met'}")
    parts += [f"{t} accuracy at 50% coverage {reports[t].confidence.at(0.5)['accuracy']:.3f}" for t in GOAL_TARGETS]
    return f"real-text goals (macro-F1 >= {GOAL_REAL_F1}, every symptom > {GOAL_CLASS_F1}): " + "; ".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_classifier")
    parser.add_argument("--db", help="also measure on this store's labelled records with text (real issues)")
    parser.add_argument("--data", help="also measure on this labelled JSONL file")
    parser.add_argument("--real", help="labelled real issue text (JSONL, kept outside the repository): "
                                       "measure the real-text goals on it")
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
    model = train(training_examples(), strategy=DEFAULT_STRATEGY,
                  corpus=f"{SEED_CORPUS.name} + {synthetic_count()} generated")
    train_seconds = time.perf_counter() - start
    unseen = {"held-out reports (written separately; not upstream text)": load_jsonl(HELDOUT_CORPUS)}
    if args.data:
        unseen[args.data] = load_jsonl(args.data)
    if args.real:
        unseen[f"{args.real} (real issue text)"] = load_jsonl(args.real)
    if args.db:
        with Store.open(args.db) as store:
            unseen[f"{args.db} (human-labelled records with text)"] = from_store(store)
    for name, examples in unseen.items():
        if not examples:
            console.print(f"{name}: no labelled records with text (run `enginebugs mine hydrate` first)")
            continue
        reports = on_unseen(model, examples)
        real = args.real is not None and name.startswith(args.real)
        print_reports(console, reports, f"shipped model on {name}: {len(examples)} reports", per_class=real)
        console.print(goal_line(reports))
        if real:
            console.print(real_goal_line(reports))

    texts = [ex.text for ex in load_jsonl(HELDOUT_CORPUS)]
    start = time.perf_counter()
    model.suggest(texts, k=3)
    per_report = (time.perf_counter() - start) / len(texts)
    console.print(f"timing (shared, loaded machine): CV {cv_seconds:.1f} s, training the shipped model "
                  f"({model.info['n_examples']} reports) {train_seconds:.1f} s "
                  f"(root causes {model.info['leaf_strategy']}), top-3 suggestions {per_report * 1000:.1f} ms/report")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
