"""The request suite of ``difftest serve``: ``datasets/serving/requests.toml`` or a TOML path."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from enginebugs.taxonomy.textio import TextFileError, read_toml

EXPECTATIONS = ("reject", "accept", "either")


class SuiteError(ValueError):
    pass


@dataclass(frozen=True)
class InvalidCase:
    name: str
    endpoint: str
    body: dict[str, Any]
    expect: str


@dataclass
class ServingSuite:
    name: str
    prompts: list[str]
    chats: list[tuple[str, list[dict[str, Any]]]]
    parts: list[str]
    invalid: list[InvalidCase] = field(default_factory=list)
    max_tokens: int = 12
    concurrency: int = 3


def load_serving_suite(name_or_path: str = "requests") -> ServingSuite:
    """A suite by name (a file under ``datasets/serving/``) or path; bad input raises SuiteError."""
    from enginebugs import datasets

    path = Path(name_or_path) if name_or_path.endswith(".toml") else datasets.path("serving", f"{name_or_path}.toml")
    try:
        data = read_toml(path)
    except TextFileError as exc:
        raise SuiteError(f"cannot read serving suite {name_or_path}: {exc}") from None
    prompts = data.get("prompts")
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) and p for p in prompts):
        raise SuiteError(f"serving suite {path}: 'prompts' must be a non-empty list of non-empty strings")
    invalid = []
    for case in data.get("invalid", []):
        if case.get("expect") not in EXPECTATIONS or case.get("endpoint") not in ("completions", "chat"):
            raise SuiteError(f"serving suite {path}: invalid case {case.get('name')!r} needs endpoint "
                             f"completions|chat and expect {'|'.join(EXPECTATIONS)}")
        body = dict(case.get("body", {}))
        repeat = int(body.pop("repeat_prompt", 1))
        if repeat > 1 and isinstance(body.get("prompt"), str):
            body["prompt"] = body["prompt"] * repeat
        invalid.append(InvalidCase(case["name"], case["endpoint"], body, case["expect"]))
    chats = [(c["name"], c["messages"]) for c in data.get("chat", [])]
    return ServingSuite(name=data.get("name", path.stem), prompts=prompts, chats=chats,
                        parts=list(data.get("content_parts", {}).get("parts", [])), invalid=invalid,
                        max_tokens=int(data.get("max_tokens", 12)), concurrency=int(data.get("concurrency", 3)))
