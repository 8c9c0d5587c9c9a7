"""Cohen's kappa and raw agreement between two coders' categorical labels."""
from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence


def raw_agreement(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Share of items both coders put in the same category."""
    _check_pairs(a, b)
    return sum(x == y for x, y in zip(a, b)) / len(a)


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa: (p_o - p_e) / (1 - p_e), with p_e from each coder's own marginals.

    When both coders use one and the same category for every item, p_e is 1 and kappa is
    undefined; we return 1.0 (perfect agreement), as scikit-learn's ``cohen_kappa_score`` would
    return NaN there.
    """
    _check_pairs(a, b)
    n = len(a)
    observed = raw_agreement(a, b)
    counts_a, counts_b = Counter(a), Counter(b)
    expected = sum(counts_a[c] * counts_b[c] for c in counts_a) / (n * n)
    if expected == 1.0:
        return 1.0
    return (observed - expected) / (1.0 - expected)


def _check_pairs(a: Sequence[Hashable], b: Sequence[Hashable]) -> None:
    if len(a) != len(b):
        raise ValueError(f"coders labelled different numbers of items ({len(a)} vs {len(b)})")
    if not a:
        raise ValueError("no items labelled by both coders")
