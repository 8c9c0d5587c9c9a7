"""The shipped default model: trained on the seed corpus at first use into a cache directory.

The training set is the hand-written seed corpus plus reports from the generator next to it
(``corpus.SYNTHETIC_REPORTS``, or ``$ENGINEBUGS_SYNTHETIC_REPORTS``). The cache file name carries
a digest of both (corpus, generator source, count), the taxonomy version and the scikit-learn
version, so editing any of them, or upgrading scikit-learn, trains a fresh model.
``$ENGINEBUGS_MODEL`` names another model file to use by default (e.g. one trained on a store).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from enginebugs.taxonomy import TAXONOMY
from enginebugs.taxonomy.classifier.corpus import (HELDOUT_CORPUS, SEED_CORPUS, load_jsonl, synthetic_count,
                                                   training_examples, training_key)

if TYPE_CHECKING:
    from enginebugs.taxonomy.classifier.model import PreLabelModel

CACHE_ENV = "ENGINEBUGS_CACHE_DIR"
#: Root-cause strategy of the shipped model: flat, so first-use training is one fit per target
#: (``auto`` would add six cross-validation fits to pick it; ``classify train --strategy`` still can).
DEFAULT_STRATEGY = "flat"
MODEL_ENV = "ENGINEBUGS_MODEL"


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "enginebugs"


def seed_model_path(corpus: Path = SEED_CORPUS, synthetic: int | None = None) -> Path:
    digest = training_key(corpus, synthetic)[:12]
    return cache_dir() / f"seed-{digest}-taxonomy{TAXONOMY.version}-sklearn{version('scikit-learn')}.model"


def default_model_path() -> Path:
    """``$ENGINEBUGS_MODEL`` if set, else the cached seed model (which may not exist yet)."""
    return Path(os.environ[MODEL_ENV]) if os.environ.get(MODEL_ENV) else seed_model_path()


def train_seed_model(corpus: Path = SEED_CORPUS, on_step: Callable[[], None] | None = None,
                     synthetic: int | None = None) -> Path:
    """Train the default model on the seed corpus plus generated reports and save it into the cache.

    Its confidence thresholds are measured on the held-out reports (never trained on, written in a
    noisier style); ``classify calibrate --data`` measures them on a labelled set of real issues.
    """
    from enginebugs.taxonomy.classifier.model import train  # scikit-learn loads only when needed

    synthetic = synthetic_count() if synthetic is None else synthetic
    examples = training_examples(corpus, synthetic)
    model = train(examples, strategy=DEFAULT_STRATEGY, corpus=f"{corpus.name} + {synthetic} generated",
                  on_step=on_step)
    calibrate_on_heldout(model)
    return model.save(seed_model_path(corpus, synthetic))


def calibrate_on_heldout(model: PreLabelModel) -> None:
    """The seed model's confidence thresholds, measured on the held-out reports it never learned from."""
    model.calibrate(load_jsonl(HELDOUT_CORPUS), HELDOUT_CORPUS.name)


def load_default_model(train_if_missing: bool = True,
                       on_step: Callable[[], None] | None = None) -> PreLabelModel | None:
    """The default model; trains the seed model first if it is missing and allowed to."""
    from enginebugs.taxonomy.classifier.model import PreLabelModel

    path = default_model_path()
    if not os.environ.get(MODEL_ENV) and not path.is_file():
        if not train_if_missing:
            return None
        train_seed_model(on_step=on_step)
    return PreLabelModel.load(path)
