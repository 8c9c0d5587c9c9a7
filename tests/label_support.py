"""Stores with a few records for the labelling and classifier tests."""
from __future__ import annotations

from pathlib import Path

from enginebugs.taxonomy.store import Store

BODY = "It crashes.\n\n```\nTraceback (most recent call last):\n  File \"x.py\", line 1\nRuntimeError: boom\n```\n"


def url(n: int) -> str:
    return f"https://github.com/vllm-project/vllm/issues/{n}"


def make_store(path: Path, n: int = 6, engine: str = "vLLM") -> Path:
    """A store with ``n`` records titled ``Issue number 1`` ... with a body and a comment."""
    with Store.open(path) as store, store.transaction():
        for k in range(1, n + 1):
            store.upsert_record({
                "url": url(k), "engine": engine, "repo": "vllm-project/vllm", "number": k,
                "title": f"Issue number {k}", "body": BODY, "labels": ["bug"],
                "comments": [{"author": "maintainer", "body": f"Thanks, fixed in #{100 + k}."}],
                "fix_url": f"https://github.com/vllm-project/vllm/pull/{100 + k}", "fix_files_changed": 2,
                "fix_additions": 10, "fix_deletions": 3,
            })
    return path


def record_id(store: Store, n: int) -> int:
    return store.get_record(url(n))["id"]


def label_as(store: Store, coder: str, n: int, **dims: list[str]) -> None:
    """Give record ``n`` the coder's manual labels (slugs) for the dimensions passed."""
    with store.transaction():
        for dim, values in dims.items():
            store.set_labels(record_id(store, n), dim, values, source="manual", coder=coder)
