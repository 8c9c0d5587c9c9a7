"""The taxonomy loaded from ``data/taxonomy.toml``: entries by dimension, lookup by slug or name."""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

DATA_FILE = Path(str(resources.files(__package__).joinpath("data", "taxonomy.toml")))

#: Dimensions a label can carry, in display order. ``root_cause_group`` is derived from ``root_cause``.
DIMENSIONS = ("symptom", "root_cause", "component", "phase", "output_subtype")
ALL_DIMENSIONS = ("symptom", "root_cause_group", "root_cause", "component", "phase", "output_subtype")


class UnknownCategory(ValueError):
    """A name or slug that is not in the taxonomy for that dimension."""


@dataclass(frozen=True)
class Entry:
    """One category: stable slug, display name, parent group (root causes only), our definition."""

    dimension: str
    slug: str
    name: str
    definition: str
    group: str | None = None
    aliases: tuple[str, ...] = ()


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


@dataclass
class Taxonomy:
    version: str
    entries: dict[str, tuple[Entry, ...]]
    _index: dict[tuple[str, str], Entry] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for dim, items in self.entries.items():
            for e in items:
                for key in (e.slug, e.name, *e.aliases):
                    self._index[(dim, _norm(key))] = e

    def __getitem__(self, dimension: str) -> tuple[Entry, ...]:
        return self.entries[dimension]

    @property
    def symptoms(self) -> tuple[Entry, ...]:
        return self.entries["symptom"]

    @property
    def root_causes(self) -> tuple[Entry, ...]:
        return self.entries["root_cause"]

    @property
    def groups(self) -> tuple[Entry, ...]:
        return self.entries["root_cause_group"]

    def resolve(self, dimension: str, key: str) -> Entry:
        """Find an entry by slug, display name or alias (case and punctuation insensitive)."""
        if dimension not in self.entries:
            raise UnknownCategory(f"unknown dimension {dimension!r}")
        try:
            return self._index[(dimension, _norm(key))]
        except KeyError:
            raise UnknownCategory(f"unknown {dimension.replace('_', ' ')} {key!r}") from None

    def group_of(self, root_cause: str) -> Entry:
        """The root-cause group entry of a root-cause slug or name."""
        return self.resolve("root_cause_group", self.resolve("root_cause", root_cause).group)

    def names(self, dimension: str) -> list[str]:
        return [e.name for e in self.entries[dimension]]


@lru_cache(maxsize=None)
def load(path: Path = DATA_FILE) -> Taxonomy:
    """Load and validate the taxonomy file."""
    raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    entries: dict[str, tuple[Entry, ...]] = {}
    for dim in ALL_DIMENSIONS:
        entries[dim] = tuple(
            Entry(dim, d["slug"], d["name"], d["definition"], d.get("group"), tuple(d.get("aliases", ())))
            for d in raw[dim]
        )
    groups = {g.slug for g in entries["root_cause_group"]}
    for rc in entries["root_cause"]:
        if rc.group not in groups:
            raise ValueError(f"root cause {rc.slug} names unknown group {rc.group}")
    return Taxonomy(str(raw["version"]), entries)


TAXONOMY = load()
