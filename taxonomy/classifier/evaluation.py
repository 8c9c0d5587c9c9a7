"""Honest metrics: macro-F1, accuracy and per-class F1, always beside two baselines.

Baselines: *majority* always predicts the most frequent training class; *stratified* draws
labels at random with the training class frequencies (averaged over ``BASELINE_DRAWS`` draws).
"""
from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold

from enginebugs.taxonomy.classifier import STRATEGIES, TARGETS
from enginebugs.taxonomy.classifier.corpus import Example
from enginebugs.taxonomy.classifier.estimators import make_estimator

BASELINE_DRAWS = 20
Fold = tuple[Counter, list[str]]  # training class counts, test labels
#: Coverages at which the confidence curve is reported (share of reports whose top suggestion is kept).
COVERAGES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
#: Confidence thresholds of the table a model carries for the labeller.
THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(20))
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Scores:
    macro_f1: float
    accuracy: float
    n: int

    def as_dict(self) -> dict:
        return {"macro_f1": round(self.macro_f1, 4), "accuracy": round(self.accuracy, 4), "n": self.n}


@dataclass(frozen=True)
class Confidence:
    """How far the top suggestion's probability can be trusted: the coverage/accuracy curve."""
    curve: list[dict]  # {"coverage", "accuracy", "threshold"} per COVERAGES point
    ece: float  # expected calibration error (CALIBRATION_BINS equal-width bins)
    mean_confidence: float

    def at(self, coverage: float) -> dict:
        return next(p for p in self.curve if p["coverage"] >= coverage - 1e-9)

    def as_dict(self) -> dict:
        half = self.at(0.5)
        return {"accuracy_at_50_coverage": half["accuracy"], "threshold_at_50_coverage": half["threshold"],
                "ece": round(self.ece, 4), "mean_confidence": round(self.mean_confidence, 4), "curve": self.curve}


def confidence_report(confidences: Sequence[float], correct: Sequence[bool]) -> Confidence:
    """Accuracy of the most confident share of predictions, for each coverage in ``COVERAGES``.

    The threshold of a point is the lowest confidence kept at that coverage: showing only
    suggestions at or above it keeps about that share, at about that accuracy.
    """
    conf, ok = np.asarray(confidences, dtype=float), np.asarray(correct, dtype=bool)
    order = np.argsort(-conf, kind="stable")
    curve = []
    for coverage in COVERAGES:
        keep = order[:max(1, int(np.ceil(coverage * len(conf))))]
        curve.append({"coverage": coverage, "accuracy": round(float(ok[keep].mean()), 4),
                      "threshold": round(float(conf[keep].min()), 4)})
    bins = np.minimum((conf * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    ece = sum(abs(conf[bins == b].mean() - ok[bins == b].mean()) * (bins == b).sum()
              for b in range(CALIBRATION_BINS) if (bins == b).any()) / len(conf)
    return Confidence(curve, float(ece), float(conf.mean()))


def threshold_table(confidences: Sequence[float], correct: Sequence[bool]) -> list[dict]:
    """Accuracy and coverage of the suggestions at or above each of ``THRESHOLDS`` (for the labeller)."""
    conf, ok = np.asarray(confidences, dtype=float), np.asarray(correct, dtype=bool)
    table = []
    for threshold in THRESHOLDS:
        kept = conf >= threshold
        table.append({"threshold": threshold, "coverage": round(float(kept.mean()), 4),
                      "accuracy": round(float(ok[kept].mean()), 4) if kept.any() else None})
    return table


def threshold_for(table: list[dict], accuracy: float) -> float | None:
    """The lowest threshold whose kept suggestions reach ``accuracy``; None when none does."""
    for row in table:
        if row["accuracy"] is not None and row["accuracy"] >= accuracy:
            return row["threshold"]
    return None


@dataclass
class TargetReport:
    target: str
    model: Scores
    majority: Scores
    stratified: Scores
    per_class: dict[str, tuple[float, int]]  # slug -> (F1, support)
    strategy: str | None = None
    strategies: dict[str, Scores] = field(default_factory=dict)
    confidence: Confidence | None = None

    def as_dict(self) -> dict:
        out = {**self.model.as_dict(),
               "baselines": {"majority": self.majority.as_dict(), "stratified": self.stratified.as_dict()},
               "per_class": {c: {"f1": round(f, 4), "support": s} for c, (f, s) in self.per_class.items()}}
        if self.confidence:
            out["confidence"] = self.confidence.as_dict()
        if self.strategy:
            out["strategy"] = self.strategy
            out["strategies"] = {k: v.as_dict() for k, v in self.strategies.items()}
        return out


def scores(y_true: Sequence[str], y_pred: Sequence[str]) -> Scores:
    """Macro-F1 over the classes present in ``y_true``, accuracy and count."""
    labels = sorted(set(y_true))
    return Scores(float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
                  float(accuracy_score(y_true, y_pred)), len(y_true))


def per_class_f1(y_true: Sequence[str], y_pred: Sequence[str]) -> dict[str, tuple[float, int]]:
    labels = sorted(set(y_true))
    f1s = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    support = Counter(y_true)
    return {label: (float(f), support[label]) for label, f in zip(labels, f1s)}


def majority_predictions(train_counts: Counter, n: int) -> list[str]:
    best = max(sorted(train_counts), key=lambda c: train_counts[c])
    return [best] * n


def stratified_predictions(train_counts: Counter, n: int, rng: np.random.Generator) -> list[str]:
    classes = sorted(train_counts)
    weights = np.array([train_counts[c] for c in classes], dtype=float)
    return list(rng.choice(classes, size=n, p=weights / weights.sum()))


def baseline_scores(folds: list[Fold], seed: int = 0) -> tuple[Scores, Scores]:
    """Baselines over (training class counts, test labels) folds, pooled like the model's."""
    truth = [y for _, test in folds for y in test]
    majority = scores(truth, [p for counts, test in folds for p in majority_predictions(counts, len(test))])
    rng = np.random.default_rng(seed)
    draws = [scores(truth, [p for counts, test in folds for p in stratified_predictions(counts, len(test), rng)])
             for _ in range(BASELINE_DRAWS)]
    stratified = Scores(float(np.mean([d.macro_f1 for d in draws])), float(np.mean([d.accuracy for d in draws])),
                        len(truth))
    return majority, stratified


def cross_validate_target(texts: list[str], y: list[str], target: str, strategy: str = "flat",
                          folds: int = 5, seed: int = 0, on_fold: Callable[[], None] | None = None,
                          ) -> tuple[list[tuple[str, str]], list[Fold], list[float]]:
    """(truth, out-of-fold prediction) pairs of stratified k-fold CV, every fold's data, and the
    probability of each prediction (same order as the pairs)."""
    texts_arr, y_arr = np.asarray(texts, dtype=object), np.asarray(y)
    predictions = np.empty(len(y), dtype=object)
    confidences = np.zeros(len(y))
    fold_data = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class")
        splits = list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(texts_arr, y_arr))
    for train, test in splits:
        model = make_estimator(target, strategy).fit(texts_arr[train], y_arr[train])
        proba = model.predict_proba(texts_arr[test])
        predictions[test] = model.classes_[np.argmax(proba, axis=1)]
        confidences[test] = proba.max(axis=1)
        fold_data.append((Counter(y_arr[train].tolist()), y_arr[test].tolist()))
        if on_fold:
            on_fold()
    ordered_truth = [y_arr[i] for _, test in splits for i in test]
    ordered_pred = [predictions[i] for _, test in splits for i in test]
    ordered_conf = [float(confidences[i]) for _, test in splits for i in test]
    return list(zip(ordered_truth, ordered_pred)), fold_data, ordered_conf


def cross_validate(examples: list[Example], folds: int = 5, seed: int = 0,
                   on_fold: Callable[[], None] | None = None) -> dict[str, TargetReport]:
    """Stratified CV of every target; root-cause leaves both flat and hierarchical, best kept."""
    texts = [ex.text for ex in examples]
    reports = {}
    for target in TARGETS:
        y = [ex.target(target) for ex in examples]
        candidates = {}
        for strategy in (STRATEGIES if target == "root_cause" else ("flat",)):
            pairs, fold_data, conf = cross_validate_target(texts, y, target, strategy, folds, seed, on_fold)
            truth, pred = [t for t, _ in pairs], [p for _, p in pairs]
            majority, stratified = baseline_scores(fold_data, seed)
            candidates[strategy] = TargetReport(target, scores(truth, pred), majority, stratified,
                                                per_class_f1(truth, pred),
                                                confidence=confidence_report(conf, [t == p for t, p in pairs]))
        best = choose_strategy({k: r.model for k, r in candidates.items()})
        report = candidates[best]
        if target == "root_cause":
            report.strategy, report.strategies = best, {k: r.model for k, r in candidates.items()}
        reports[target] = report
    return reports


def choose_strategy(results: dict[str, Scores]) -> str:
    """The strategy with the best macro-F1; flat wins ties (it is simpler)."""
    return max(results, key=lambda k: (round(results[k].macro_f1, 4), k == "flat"))


def evaluate_predictions(target: str, truth: list[str], pred: list[str], train_counts: Counter,
                         seed: int = 0, confidences: Sequence[float] | None = None) -> TargetReport:
    """Metrics of a trained model's predictions on an external set, with its training baselines
    (and the coverage/accuracy curve when the predictions' probabilities are given)."""
    majority, stratified = baseline_scores([(train_counts, truth)], seed)
    confidence = None if confidences is None else confidence_report(
        confidences, [t == p for t, p in zip(truth, pred)])
    return TargetReport(target, scores(truth, pred), majority, stratified, per_class_f1(truth, pred),
                        confidence=confidence)
