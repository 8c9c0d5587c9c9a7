"""Prompt suites: ``datasets/prompts/<name>.toml`` (or any TOML path) with prompts and sizes."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from enginebugs import datasets
from enginebugs.taxonomy.textio import TextFileError, read_toml

PROMPTS_DIR = datasets.path("prompts")


class SuiteError(ValueError):
    """A suite that cannot be found or read."""


@dataclass(frozen=True)
class Suite:
    """What one run feeds the engines. See ``datasets/prompts/default.toml`` for each field."""

    name: str
    prompts: tuple[str, ...]
    needle: str
    description: str = ""
    max_new_tokens: int = 16
    top_k: int = 10
    strings_per_generator: int = 24
    generators: tuple[str, ...] | None = None
    edge_cases: bool = True
    #: Tokenizer strings of this suite, checked like the generated ones (decode, round trip, stream).
    strings: tuple[str, ...] = ()
    batch_size: int = 4
    batch_placements: int = 2
    prefix_prompts: int = 3
    path: str = field(default="", compare=False)

    def to_dict(self) -> dict:
        return {"name": self.name, "path": self.path, "prompts": len(self.prompts),
                "max_new_tokens": self.max_new_tokens, "top_k": self.top_k,
                "strings_per_generator": self.strings_per_generator, "batch_size": self.batch_size}


def available_suites() -> list[str]:
    return sorted(p.stem for p in PROMPTS_DIR.glob("*.toml"))


def load_suite(name_or_path: str) -> Suite:
    """A suite by name (``default``, ``smoke``) or by path to a TOML file."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROMPTS_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise SuiteError(f"unknown suite {name_or_path!r} (known: {', '.join(available_suites())}, or a .toml path)")
    try:
        raw = read_toml(path)
    except TextFileError as exc:
        raise SuiteError(f"suite: {exc}") from None
    prompts = raw.pop("prompts", None)
    if not prompts or not all(isinstance(p, str) and p for p in prompts):
        raise SuiteError(f"suite {path}: 'prompts' must be a non-empty list of non-empty strings")
    known = set(Suite.__dataclass_fields__) - {"name", "prompts", "path"}
    unknown = set(raw) - known
    if unknown:
        raise SuiteError(f"suite {path}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
    if "generators" in raw:
        raw["generators"] = tuple(raw["generators"])
    if "strings" in raw:
        if not isinstance(raw["strings"], list) or not all(isinstance(t, str) and t for t in raw["strings"]):
            raise SuiteError(f"suite {path}: 'strings' must be a list of non-empty strings")
        raw["strings"] = tuple(raw["strings"])
    raw.setdefault("needle", prompts[0])
    suite = Suite(name=path.stem, prompts=tuple(prompts), path=str(path), **raw)
    for key in ("max_new_tokens", "top_k", "batch_size"):
        if not isinstance(getattr(suite, key), int) or getattr(suite, key) < 1:
            raise SuiteError(f"suite {path}: {key} must be a positive integer")
    return suite
