"""Agreement between two coders per dimension: Cohen's kappa, raw agreement, disagreements.

A record's category on a dimension is the *set* of values the coder chose (most records carry
one), so two coders agree when they chose the same set. The root-cause group is derived from
the root causes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from enginebugs.taxonomy import TAXONOMY
from enginebugs.taxonomy.labelling.coders import Answers, coder_answers
from enginebugs.taxonomy.labelling.kappa import cohen_kappa, raw_agreement
from enginebugs.taxonomy.store import Store

#: Dimensions reported by ``label agreement``, in order.
AGREEMENT_DIMENSIONS = ("symptom", "root_cause_group", "root_cause", "component")


@dataclass(frozen=True)
class Disagreement:
    record_id: int
    url: str
    dimension: str
    first: tuple[str, ...]
    second: tuple[str, ...]


@dataclass
class DimensionAgreement:
    dimension: str
    n: int  # records both coders labelled on this dimension
    only_first: int
    only_second: int
    kappa: float | None
    raw: float | None
    disagreements: list[Disagreement] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "n": self.n, "only_first": self.only_first, "only_second": self.only_second,
            "kappa": self.kappa, "raw_agreement": self.raw,
            "disagreements": [
                {"url": d.url, "first": list(d.first), "second": list(d.second)} for d in self.disagreements
            ],
        }


def category(answers: Answers, dimension: str) -> tuple[str, ...]:
    """The coder's category on one dimension as a sorted tuple of slugs (empty: not labelled)."""
    if dimension == "root_cause_group":
        return tuple(sorted({TAXONOMY.group_of(rc).slug for rc in answers.get("root_cause", ())}))
    return tuple(sorted(set(answers.get(dimension, ()))))


def agreement(store: Store, first: str, second: str,
              dimensions: tuple[str, ...] = AGREEMENT_DIMENSIONS) -> dict[str, DimensionAgreement]:
    """Compare two coders on every record either of them labelled."""
    a, b = coder_answers(store, first), coder_answers(store, second)
    urls = _urls(store, set(a) | set(b))
    out = {}
    for dim in dimensions:
        cats_a = {rid: category(ans, dim) for rid, ans in a.items() if category(ans, dim)}
        cats_b = {rid: category(ans, dim) for rid, ans in b.items() if category(ans, dim)}
        both = sorted(set(cats_a) & set(cats_b))
        xs, ys = [cats_a[r] for r in both], [cats_b[r] for r in both]
        out[dim] = DimensionAgreement(
            dimension=dim, n=len(both),
            only_first=len(set(cats_a) - set(cats_b)), only_second=len(set(cats_b) - set(cats_a)),
            kappa=cohen_kappa(xs, ys) if both else None,
            raw=raw_agreement(xs, ys) if both else None,
            disagreements=[Disagreement(r, urls[r], dim, cats_a[r], cats_b[r])
                           for r in both if cats_a[r] != cats_b[r]],
        )
    return out


def _urls(store: Store, record_ids: set[int]) -> dict[int, str]:
    rows = store.conn.execute("SELECT id, url FROM records").fetchall()
    return {r[0]: r[1] for r in rows if r[0] in record_ids}
