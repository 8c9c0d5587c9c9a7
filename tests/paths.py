"""Paths the tests share: the repository root and the paper's published dataset beside it."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAPER_CSV = ROOT.parent / "shared" / "infbug" / "dataset.csv"


def paper_csv() -> Path:
    """The published dataset; skips the test where ../shared is absent."""
    if not PAPER_CSV.is_file():
        pytest.skip(f"published dataset not found at {PAPER_CSV}")
    return PAPER_CSV
