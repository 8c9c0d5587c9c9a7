"""Pre-label classifier: suggests symptom, root-cause group and root cause from issue text.

Kept free of scikit-learn imports so the command line starts fast; the models load on use.
"""

#: How root-cause leaves are predicted: directly, or group first and then the leaf within it.
STRATEGIES = ("flat", "hierarchical")
#: Folds of the cross-validation that picks the strategy when training with ``auto``.
SELECTION_FOLDS = 3
#: What the classifier predicts, in order. The group comes from the (first) root cause.
TARGETS = ("symptom", "root_cause_group", "root_cause")


def train_steps(strategy: str) -> int:
    """How many progress steps training reports: selection folds, then one fit per target."""
    return len(TARGETS) + (SELECTION_FOLDS * len(STRATEGIES) if strategy == "auto" else 0)
