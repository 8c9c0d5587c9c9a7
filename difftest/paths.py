"""The source checkout enginebugs runs from, if any (worker import paths, the vLLM environment)."""
from __future__ import annotations

from pathlib import Path


def source_checkout() -> Path | None:
    """The repository root when enginebugs runs from its checkout (``difftest/`` beside
    ``pyproject.toml``); None when it runs from an installed wheel."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "enginebugs").is_dir() else None

