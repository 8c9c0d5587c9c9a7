"""Paths the tests share: the repository root and the paper's published dataset as shipped."""
from pathlib import Path

from enginebugs.mining.paper_dataset import shipped_dataset

ROOT = Path(__file__).resolve().parents[1]
#: The reference copy handed to the project; the shipped copy is checked against it where it exists.
SHARED_CSV = ROOT.parent / "shared" / "infbug" / "dataset.csv"


def paper_csv() -> Path:
    """The published dataset shipped inside enginebugs (no test needs ../shared)."""
    return shipped_dataset()
