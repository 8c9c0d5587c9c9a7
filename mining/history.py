"""What changed upstream between two syncs of an issue, kept in the record's ``extra``.

``extra.selected``: false once the issue no longer matches the bug rule (reopened, its bug label
removed); ``extra.history``: one entry per observed change (state, labels, selection) stamped with
the issue's ``updated_at``; ``extra.reopen_count``: reopenings seen (from the timeline when it was
fetched, else counted between syncs).
"""
from __future__ import annotations

from typing import Any


def _change(old: dict[str, Any], new: dict[str, Any], selected: bool) -> dict[str, Any] | None:
    entry: dict[str, Any] = {"at": new["updated_at"]}
    if old.get("state") != new["state"]:
        entry["state"] = new["state"]
    before, after = old.get("labels") or [], new.get("labels") or []
    added, removed = [l for l in after if l not in before], [l for l in before if l not in after]
    if added:
        entry["labels_added"] = added
    if removed:
        entry["labels_removed"] = removed
    if (old.get("extra") or {}).get("selected", True) != selected:
        entry["selected"] = selected
    return entry if len(entry) > 1 else None


def _with_history(old: dict[str, Any] | None, new: dict[str, Any], selected: bool) -> dict[str, Any]:
    extra = new.setdefault("extra", {})
    extra["selected"] = selected
    if old is None:
        return new
    before = old.get("extra") or {}
    entry = _change(old, new, selected)
    extra["history"] = [*before.get("history", []), *([entry] if entry else [])]
    if old.get("state") == "closed" and new["state"] == "open":
        extra["reopen_count"] = max(before.get("reopen_count") or 0, extra.get("reopen_count") or 0) + 1
    return new


def selected(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """A record that matches the rule (again)."""
    return _with_history(old, new, True)


def left_selection(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A stored record whose issue no longer matches the rule: state, labels and dates updated,
    linkage and labels of ours kept."""
    return _with_history(old, new, False)
