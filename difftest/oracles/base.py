"""What every oracle returns, and the first-difference helpers their messages are built from.

Every comparison has an *expected* side (the reference configuration, or the baseline of a
metamorphic pair: cold cache, full recompute, prompt alone) and an *actual* side (the one under test).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

#: Tokens (or characters) of context shown either side of a first difference.
CONTEXT = 5


@dataclass
class Verdict:
    """One comparison. ``ok`` False means the oracle fired; ``message`` says exactly where and how
    (in the style of vLLM's ``check_logprobs_close``); ``root_cause`` is the candidate taxonomy
    slug; ``divergence`` locates the first difference; ``metrics`` are numbers kept either way;
    ``subtype`` overrides the oracle's output subtype."""

    ok: bool
    message: str = ""
    root_cause: str | None = None
    divergence: dict[str, Any] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    #: Output subtype when it is not the oracle's usual one (``length``: one side stopped early).
    subtype: str | None = None

    @classmethod
    def passed(cls, **metrics: Any) -> "Verdict":
        return cls(True, metrics=metrics)


def first_difference(expected: Sequence[Any], actual: Sequence[Any]) -> int | None:
    """Index of the first position where the sequences differ (a length difference counts at the
    shorter length); ``None`` when they are equal."""
    for i, (x, y) in enumerate(zip(expected, actual)):
        if x != y:
            return i
    return None if len(expected) == len(actual) else min(len(expected), len(actual))


def window(seq: Sequence[Any], index: int, context: int = CONTEXT) -> list[Any] | str:
    part = seq[max(0, index - context): index + context + 1]
    return part if isinstance(part, str) else list(part)


def divergence(expected: Sequence[Any], actual: Sequence[Any], context: int = CONTEXT) -> dict[str, Any] | None:
    """First differing index with ``context`` items either side of it from both sequences."""
    i = first_difference(expected, actual)
    if i is None:
        return None
    return {
        "index": i,
        "context_start": max(0, i - context),
        "expected": expected[i] if i < len(expected) else None,
        "actual": actual[i] if i < len(actual) else None,
        "expected_context": window(expected, i, context),
        "actual_context": window(actual, i, context),
        "expected_length": len(expected),
        "actual_length": len(actual),
    }


def describe(div: dict[str, Any], what: str = "token") -> str:
    """``first differing token at index 3: expected 12, got 13; expected[0:]=[...], got[0:]=[...]``."""
    start = div["context_start"]
    return (f"first differing {what} at index {div['index']}: expected {div['expected']!r}, got {div['actual']!r}; "
            f"expected[{start}:]={div['expected_context']!r}, got[{start}:]={div['actual_context']!r}")
