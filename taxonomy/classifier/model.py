"""The pre-label model: one estimator per target, saved with the taxonomy version it knows.

File format: one line of JSON metadata, then a pickle of the estimators. The metadata is read
first, so a model made under another taxonomy version is refused before anything is unpickled.
Only load model files you made or trust (pickle runs code).
"""
from __future__ import annotations

import json
import pickle
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import sklearn

from enginebugs.taxonomy import TAXONOMY
from enginebugs.taxonomy.classifier import SELECTION_FOLDS, STRATEGIES, TARGETS
from enginebugs.taxonomy.classifier.corpus import Example, corpus_hash
from enginebugs.taxonomy.classifier.estimators import make_estimator
from enginebugs.taxonomy.classifier.evaluation import (choose_strategy, cross_validate_target, scores,
                                                       threshold_for, threshold_table)

FORMAT = "enginebugs-classifier/1"


class ModelError(ValueError):
    """A model file that is missing, malformed or made for another taxonomy version."""


@dataclass
class PreLabelModel:
    estimators: dict  # target -> fitted estimator
    info: dict  # taxonomy_version, leaf_strategy, class_counts, corpus_hash, ...

    @property
    def taxonomy_version(self) -> str:
        return self.info["taxonomy_version"]

    def class_counts(self, target: str) -> Counter:
        return Counter(self.info["class_counts"][target])

    def predict(self, texts: list[str]) -> dict[str, list[str]]:
        return {t: labels for t, (labels, _) in self.predict_with_confidence(texts).items()}

    def predict_with_confidence(self, texts: list[str]) -> dict[str, tuple[list[str], list[float]]]:
        """Per target: the most probable label of every text and its probability."""
        out = {}
        for target in TARGETS:
            est = self.estimators[target]
            proba = est.predict_proba(texts)
            best = np.argmax(proba, axis=1)
            out[target] = ([str(est.classes_[j]) for j in best], [float(p) for p in proba.max(axis=1)])
        return out

    def threshold(self, target: str, accuracy: float) -> float | None:
        """Lowest confidence whose suggestions reached ``accuracy`` on the model's calibration set.

        None when the model carries no table for the target (older files) or none reached it.
        """
        table = self.info.get("calibration", {}).get("tables", {}).get(target)
        return threshold_for(table, accuracy) if table else None

    def calibrate(self, examples: list[Example], name: str) -> None:
        """Measure the confidence thresholds on labelled reports the model did not learn from."""
        found = self.predict_with_confidence([ex.text for ex in examples])
        tables = {}
        for target, (labels, conf) in found.items():
            truth = [ex.target(target) for ex in examples]
            tables[target] = threshold_table(conf, [t == p for t, p in zip(truth, labels)])
        self.info["calibration"] = {"set": name, "n": len(examples), "tables": tables}

    def suggest(self, texts: list[str], k: int = 3) -> list[dict[str, list[tuple[str, float]]]]:
        """The ``k`` most probable labels of every target, per text, best first."""
        out = [dict() for _ in texts]
        for target in TARGETS:
            est = self.estimators[target]
            proba = est.predict_proba(texts)
            for row, probs in zip(out, proba):
                best = np.argsort(-probs)[:k]
                row[target] = [(str(est.classes_[j]), float(probs[j])) for j in best if probs[j] > 0]
        return out

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with tmp.open("wb") as fh:
            fh.write(json.dumps({"format": FORMAT, **self.info}).encode() + b"\n")
            pickle.dump(self.estimators, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path, taxonomy_version: str | None = None) -> PreLabelModel:
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"no model file at {path}")
        expected = taxonomy_version or TAXONOMY.version
        with path.open("rb") as fh:
            try:
                info = json.loads(fh.readline())
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise ModelError(f"{path} is not an enginebugs classifier") from None
            if info.pop("format", None) != FORMAT:
                raise ModelError(f"{path} is not an enginebugs classifier ({FORMAT})")
            if info.get("taxonomy_version") != expected:
                raise ModelError(f"{path} was trained under taxonomy version {info.get('taxonomy_version')}, "
                                 f"this is {expected}: retrain with `enginebugs classify train`")
            return cls(pickle.load(fh), info)


def info_line(model: PreLabelModel) -> str:
    """One line describing what a model was trained on."""
    i = model.info
    return (f"{i['n_examples']} examples ({i['corpus']}), taxonomy {i['taxonomy_version']}, "
            f"root causes {i['leaf_strategy']}")


def train(examples: list[Example], *, strategy: str = "auto", corpus: str = "",
          on_step: Callable[[], None] | None = None) -> PreLabelModel:
    """Fit every target; with ``auto`` the leaf strategy measuring the better CV macro-F1 wins."""
    texts = [ex.text for ex in examples]
    labels = {t: [ex.target(t) for ex in examples] for t in TARGETS}
    selection = {}
    if strategy == "auto":
        for candidate in STRATEGIES:
            pairs, _, _ = cross_validate_target(texts, labels["root_cause"], "root_cause", candidate,
                                             folds=SELECTION_FOLDS, on_fold=on_step)
            selection[candidate] = scores([t for t, _ in pairs], [p for _, p in pairs])
        strategy = choose_strategy(selection)
    estimators = {}
    for target in TARGETS:
        estimators[target] = make_estimator(target, strategy).fit(texts, labels[target])
        if on_step:
            on_step()
    info = {
        "taxonomy_version": TAXONOMY.version,
        "leaf_strategy": strategy,
        "strategy_selection": {k: v.as_dict() for k, v in selection.items()},
        "class_counts": {t: dict(Counter(labels[t])) for t in TARGETS},
        "n_examples": len(examples),
        "corpus": corpus,
        "corpus_hash": corpus_hash(examples),
        "sklearn_version": sklearn.__version__,
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return PreLabelModel(estimators, info)


