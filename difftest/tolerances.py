"""Named tolerance profiles (``strict``, ``default``, ``lenient``) per configuration-pair class.

The built-in values live in ``data/tolerances.toml`` (documented there and in the README); a user
file with the same layout overrides any of them. Lookup order for a pair class inside a profile:
the class itself (``same:bf16``), its prefix (``same``), then ``"*"``; keys a class leaves out come
from its prefix class where there is one, else from ``"*"``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from enginebugs.difftest.protocol import EngineConfig
from enginebugs.taxonomy.textio import TextFileError, read_toml

BUILTIN = Path(str(resources.files(__package__).joinpath("data", "tolerances.toml")))
PROFILES = ("strict", "default", "lenient")
#: Dtype order used to name a pair class: the more precise side first.
DTYPE_ORDER = ("f32", "bf16", "f16", "q8_0", "q6_K", "q5_K", "q4_K", "q4_0")


class ToleranceError(ValueError):
    """A malformed tolerance file, unknown profile or unknown key."""


@dataclass(frozen=True)
class Tolerance:
    """Thresholds of one pair class (see ``data/tolerances.toml`` for the meaning of each)."""

    exact: bool = False
    topk: int = 5
    logprob_atol: float = 0.5
    kld_mean: float = 0.05
    kld_p99: float = 0.5
    same_top1_min: float = 80.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


KEYS = {f.name for f in fields(Tolerance)}


def pair_class(a: EngineConfig, b: EngineConfig) -> str:
    """``same:<dtype>`` for one engine and dtype (knobs may differ), else ``"<dtype>~<dtype>"``."""
    if a.engine == b.engine and a.dtype == b.dtype:
        return same_class(a.dtype)
    rank = lambda d: DTYPE_ORDER.index(d) if d in DTYPE_ORDER else len(DTYPE_ORDER)  # noqa: E731
    x, y = sorted((a.dtype, b.dtype), key=lambda d: (rank(d), d))
    return f"{x}~{y}"


def same_class(dtype: str) -> str:
    """The class of a metamorphic pair within one configuration of dtype ``dtype``."""
    return f"same:{dtype}"


@dataclass(frozen=True)
class ToleranceProfile:
    """One profile: a table of pair class -> :class:`Tolerance`."""

    name: str
    classes: dict[str, Tolerance]

    def for_class(self, cls: str, oracle: str | None = None, engine: str | None = None,
                  model: str | None = None) -> Tolerance:
        """The most specific table: ``same:f32@llamacpp/batch.needle`` (a calibrated engine and
        oracle), ``same:f32/batch.needle``, ``same:f32@llamacpp``, ``same:f32``, ``same``, ``*``;
        with ``model``, each name suffixed ``#<model>`` (calibrated on that model) comes first."""
        keys = ([f"{cls}@{engine}/{oracle}"] if engine and oracle else []) + ([f"{cls}/{oracle}"] if oracle else []) \
            + ([f"{cls}@{engine}"] if engine else []) + [cls]
        keys = ([f"{k}#{model}" for k in keys] if model else []) + keys + [cls.split(":")[0]]
        for key in keys:
            if key in self.classes:
                return self.classes[key]
        return self.classes["*"]

    def for_pair(self, a: EngineConfig, b: EngineConfig) -> Tolerance:
        return self.for_class(pair_class(a, b))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "classes": {k: v.to_dict() for k, v in sorted(self.classes.items())}}


def _check_value(where: str, key: str, value: Any) -> None:
    if key == "exact":
        ok = isinstance(value, bool)
    elif key == "topk":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
    if not ok:
        raise ToleranceError(f"{where}: invalid value {value!r}")


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = read_toml(path)
    except TextFileError as exc:
        raise ToleranceError(f"cannot read tolerance file: {exc}") from None
    profiles = raw.get("profiles")
    if not isinstance(profiles, dict):
        raise ToleranceError(f"{path}: expected [profiles.<name>.\"<pair class>\"] tables")
    for pname, classes in profiles.items():
        for cls, values in classes.items():
            unknown = set(values) - KEYS
            if unknown:
                raise ToleranceError(f"{path}: profile {pname!r} class {cls!r}: unknown key(s) {sorted(unknown)}; "
                                     f"known: {sorted(KEYS)}")
            for key, value in values.items():
                _check_value(f"{path}: profile {pname!r} class {cls!r} key {key!r}", key, value)
    return profiles


def _parents(cls: str) -> list[str]:
    """``same:f32@llamacpp/batch.needle`` -> ``same:f32/batch.needle``, ``same:f32@llamacpp``,
    ``same:f32``, ``same`` (the tables whose values it inherits, closest first)."""
    name, _, model = cls.partition("#")
    if model:
        return [name] + _parents(name)
    base, _, oracle = cls.partition("/")
    klass, _, engine = base.partition("@")
    out = ([f"{klass}/{oracle}"] if engine and oracle else []) + ([base] if oracle else []) \
        + ([klass] if engine and base != klass else []) + ([klass.split(":")[0]] if ":" in klass else [])
    return [p for p in dict.fromkeys(out) if p != cls]


def _depth(cls: str) -> int:
    return cls.count(":") + cls.count("@") + cls.count("/") + cls.count("#")


def load_profile(name: str = "default", override: str | Path | None = None) -> ToleranceProfile:
    """The built-in profile ``name`` with the values of ``override`` (a TOML file) on top."""
    tables = _read(BUILTIN)
    extra = _read(Path(override)) if override else {}
    if name not in tables and name not in extra:
        raise ToleranceError(f"unknown tolerance profile {name!r} (known: {', '.join(sorted({*tables, *extra}))})")
    merged: dict[str, dict[str, Any]] = {}
    for source in (tables.get(name, {}), extra.get(name, {})):
        for cls, values in source.items():
            merged.setdefault(cls, {}).update(values)
    classes = {"*": Tolerance(**merged.get("*", {}))}
    for cls in sorted((c for c in merged if c != "*"), key=_depth):  # "same" before "same:bf16" before "same:bf16/x"
        parent = next((classes[p] for p in _parents(cls) if p in classes), classes["*"])
        try:
            classes[cls] = replace(parent, **merged[cls])
        except TypeError as exc:
            raise ToleranceError(f"profile {name!r} class {cls!r}: {exc}") from None
    return ToleranceProfile(name, classes)
