"""Engine presets (``presets.toml``): repository, former names and bug-selection rule per engine."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

from enginebugs.taxonomy.textio import TextFileError, read_toml

PRESETS_FILE = Path(str(resources.files(__package__).joinpath("presets.toml")))
PRESETS_ENV = "ENGINEBUGS_PRESETS"
REPO_RE = re.compile(r"^[\w.-]+/[\w.-]+$")
STATES = ("open", "closed", "all")


class PresetError(ValueError):
    """A malformed presets file or a name that is neither a preset nor owner/name."""


@dataclass(frozen=True)
class Rule:
    """Which issues count as bugs: every label in ``labels``, ``state``, any of ``keywords``."""

    labels: tuple[str, ...] = ("bug",)
    state: str = "closed"
    keywords: tuple[str, ...] = ()
    include_prs: bool = False

    def matches_text(self, title: str | None, body: str | None) -> bool:
        if not self.keywords:
            return True
        text = f"{title or ''}\n{body or ''}".lower()
        return any(k.lower() in text for k in self.keywords)

    def selects(self, state: str, labels: list[str], title: str | None, body: str | None) -> bool:
        """Does an issue in this state with these labels (and text) fall under the rule?"""
        have = {label.lower() for label in labels}
        return ((self.state == "all" or state == self.state) and all(l.lower() in have for l in self.labels)
                and self.matches_text(title, body))

    def fingerprint(self) -> dict:
        return {"labels": sorted(self.labels), "state": self.state,
                "keywords": sorted(k.lower() for k in self.keywords), "prs": self.include_prs}


@dataclass(frozen=True)
class Target:
    """One repository to mine, with the engine name its records get."""

    engine: str
    repo: str
    rule: Rule = field(default_factory=Rule)
    former_names: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    in_paper: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """Every owner/name spelling of the repository, current first."""
        return (self.repo, *self.former_names)

    def with_rule(self, **changes) -> "Target":
        """A copy whose rule has some fields replaced (``None`` values are ignored)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if "state" in changes and changes["state"] not in STATES:
            raise PresetError(f"state must be one of {', '.join(STATES)}, not {changes['state']!r}")
        return replace(self, rule=replace(self.rule, **changes))


@dataclass(frozen=True)
class Presets:
    targets: tuple[Target, ...]
    default_rule: Rule
    source: Path

    def resolve(self, name_or_repo: str) -> Target:
        """A preset by name, alias, repository or former name; any other owner/name gets the default rule."""
        key = name_or_repo.strip().lower()
        for target in self.targets:
            spellings = {target.engine, *target.aliases, *target.names}
            if key in {s.lower() for s in spellings}:
                return target
        if REPO_RE.match(name_or_repo.strip()):
            repo = name_or_repo.strip()
            return Target(engine=repo.split("/")[1], repo=repo, rule=self.default_rule)
        known = ", ".join(t.engine for t in self.targets)
        raise PresetError(f"unknown engine {name_or_repo!r}: use one of {known}, or owner/name")

    def canonical_repo(self, repo: str) -> str:
        """Map a former owner/name onto the current one (unknown repositories are returned as given)."""
        for target in self.targets:
            if repo.lower() in {n.lower() for n in target.names}:
                return target.repo
        return repo

    def names_of(self, repo: str) -> tuple[str, ...]:
        for target in self.targets:
            if repo.lower() in {n.lower() for n in target.names}:
                return target.names
        return (repo,)


def _strings(table: dict, key: str, where: str, default=()) -> tuple[str, ...]:
    value = table.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PresetError(f"{where}: {key} must be a list of strings")
    return tuple(value)


def _rule(table: dict, where: str, base: Rule) -> Rule:
    state = table.get("state", base.state)
    if state not in STATES:
        raise PresetError(f"{where}: state must be one of {', '.join(STATES)}")
    return Rule(labels=_strings(table, "labels", where, base.labels), state=state,
                keywords=_strings(table, "keywords", where, base.keywords))


def load_presets(path: str | os.PathLike | None = None) -> Presets:
    """Read presets from ``path``, ``$ENGINEBUGS_PRESETS`` or the packaged ``presets.toml``."""
    source = Path(path or os.environ.get(PRESETS_ENV) or PRESETS_FILE)
    try:
        data = read_toml(source)
    except TextFileError as exc:
        raise PresetError(f"cannot read presets: {exc}") from None
    default = _rule(data.get("default", {}), f"{source} [default]", Rule())
    targets = []
    for i, table in enumerate(data.get("engine", []), start=1):
        where = f"{source} engine #{i}"
        for key in ("name", "repo"):
            if not isinstance(table.get(key), str) or not table[key]:
                raise PresetError(f"{where}: missing {key}")
        names = (table["repo"], *_strings(table, "former_names", where))
        bad = [n for n in names if not REPO_RE.match(n)]
        if bad:
            raise PresetError(f"{where}: not owner/name: {', '.join(bad)}")
        targets.append(Target(
            engine=table["name"], repo=table["repo"], rule=_rule(table, where, default),
            former_names=names[1:], aliases=_strings(table, "aliases", where),
            in_paper=bool(table.get("in_paper", False)),
        ))
    return Presets(tuple(targets), default, source)
