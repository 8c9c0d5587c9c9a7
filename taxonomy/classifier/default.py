"""The shipped default model: trained on the seed corpus at first use into a cache directory.

The cache file name carries the corpus hash, the taxonomy version and the scikit-learn version,
so editing the corpus or the taxonomy, or upgrading scikit-learn, trains a fresh model.
``$ENGINEBUGS_MODEL`` names another model file to use by default (e.g. one trained on a store).
"""
from __future__ import annotations

import os
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from enginebugs.taxonomy import TAXONOMY
from enginebugs.taxonomy.classifier.corpus import SEED_CORPUS, corpus_hash, load_jsonl

if TYPE_CHECKING:
    from enginebugs.taxonomy.classifier.model import PreLabelModel

CACHE_ENV = "ENGINEBUGS_CACHE_DIR"
MODEL_ENV = "ENGINEBUGS_MODEL"


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "enginebugs"


def seed_model_path(corpus: Path = SEED_CORPUS) -> Path:
    digest = corpus_hash(load_jsonl(corpus))[:12]
    return cache_dir() / f"seed-{digest}-taxonomy{TAXONOMY.version}-sklearn{version('scikit-learn')}.model"


def default_model_path() -> Path:
    """``$ENGINEBUGS_MODEL`` if set, else the cached seed model (which may not exist yet)."""
    return Path(os.environ[MODEL_ENV]) if os.environ.get(MODEL_ENV) else seed_model_path()


def train_seed_model(corpus: Path = SEED_CORPUS, on_step: Callable[[], None] | None = None) -> Path:
    """Train the default model on the seed corpus and save it into the cache."""
    from enginebugs.taxonomy.classifier.model import train  # scikit-learn loads only when needed

    examples = load_jsonl(corpus)
    model = train(examples, corpus=corpus.name, on_step=on_step)
    return model.save(seed_model_path(corpus))


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
