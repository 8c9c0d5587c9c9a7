"""Data the project ships (the paper's dataset, prompt suites, tokenizer corpus and edge cases, the
classifier's own-words corpus), installed as ``enginebugs.datasets`` and read through
:mod:`importlib.resources`, so a wheel works as well as the checkout."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

PAPER_DATASET = ("paper", "dataset.csv")


def path(*parts: str) -> Path:
    """A shipped data file or folder as a filesystem path (packages install unzipped)."""
    return Path(str(resources.files(__name__).joinpath(*parts)))
