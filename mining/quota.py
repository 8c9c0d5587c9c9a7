"""Rate-limit bookkeeping per token and per API resource (core, search, ...), from response headers."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

C = TypeVar("C")


@dataclass
class Quota:
    """What the last ``X-RateLimit-*`` headers said; ``None`` until a response was seen."""

    remaining: int | None = None
    limit: int | None = None
    reset: float = 0.0  # epoch seconds

    def left(self, now: float) -> float:
        """Requests left; unknown or past reset counts as unlimited."""
        if self.remaining is None or now >= self.reset:
            return float("inf")
        return self.remaining

    def is_low(self, min_quota: int, now: float) -> bool:
        """Below the threshold: ``min_quota``, or a tenth of a small limit (the search API allows 30)."""
        threshold = min_quota if self.limit is None else min(min_quota, max(1, self.limit // 10))
        return self.left(now) < threshold


def _int(value: Any) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


@dataclass
class Slot(Generic[C]):
    """One token's client and its quotas; ``index`` is how the token is named in messages."""

    index: int
    client: C
    quotas: dict[str, Quota] = field(default_factory=dict)

    def quota(self, resource: str) -> Quota:
        return self.quotas.setdefault(resource, Quota())


class TokenPool(Generic[C]):
    """Picks the token with the most requests left; says how long to wait when all are low."""

    def __init__(self, clients: list[C], min_quota: int):
        self.slots = [Slot(i + 1, c) for i, c in enumerate(clients)]
        self.min_quota = min_quota

    def pick(self, resource: str, now: float) -> tuple[Slot[C], float]:
        """(slot, seconds to wait first): wait is 0 unless every token is low for ``resource``."""
        usable = [s for s in self.slots if not s.quota(resource).is_low(self.min_quota, now)]
        if usable:
            return max(usable, key=lambda s: s.quota(resource).left(now)), 0.0
        soonest = min(self.slots, key=lambda s: s.quota(resource).reset)
        return soonest, max(0.0, soonest.quota(resource).reset - now) + 1.0

    def drop(self, slot: Slot[C]) -> None:
        """Stop using a token the server refused (its index stays its name in messages)."""
        self.slots = [s for s in self.slots if s is not slot]

    def observe(self, slot: Slot[C], resource: str, headers: dict[str, Any]) -> str:
        """Record the rate-limit headers of a response; returns the resource they are about."""
        resource = str(headers.get("x-ratelimit-resource") or resource)
        remaining = _int(headers.get("x-ratelimit-remaining"))
        if remaining is None:
            return resource
        quota = slot.quota(resource)
        quota.remaining = remaining
        quota.limit = _int(headers.get("x-ratelimit-limit")) or quota.limit
        quota.reset = float(_int(headers.get("x-ratelimit-reset")) or quota.reset)
        return resource

    def exhaust(self, slot: Slot[C], resource: str, headers: dict[str, Any], now: float) -> None:
        """A primary rate-limit refusal: this token has nothing left until its reset."""
        resource = self.observe(slot, resource, headers)
        quota = slot.quota(resource)
        quota.remaining = 0
        if quota.reset <= now:
            quota.reset = now + 60.0  # no usable reset header: try again in a minute
