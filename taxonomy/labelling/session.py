"""The interactive labelling session: one coder, a queue of records, every answer saved at once.

A record is done for a coder once every required dimension has a manual label from them. A new
session resumes at the record the coder touched last (if unfinished) or the next one, and wraps
around to unfinished records before it. Undo restores the previous value of the last answer.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console

from enginebugs.taxonomy import TAXONOMY, UnknownCategory
from enginebugs.taxonomy.labelling.coders import (
    coder_answers,
    dimensions_for,
    display,
    is_complete,
    last_touched_record,
    save_answer,
    to_slugs,
)
from enginebugs.taxonomy.labelling.terminal import Input, body_markdown, choices_table, record_header, render_lines
from enginebugs.taxonomy.store import Store

#: record -> dimension -> [(slug, probability)], best first.
Suggest = Callable[[dict], dict[str, list[tuple[str, float]]]]

HELP = (
    "numbers or names, several separated by commas: choose  ·  Enter: keep the current value  ·  "
    "n / p: next / previous page of the body  ·  b: show the record again  ·  s: skip record  ·  "
    "u: undo last answer  ·  q: quit (everything answered is already saved)"
)
_NUMBERS = re.compile(r"^[\d,\s]+$")


def build_queue(store: Store, coder: str, *, engine: str | None = None, source: str | None = None,
                include_done: bool = False) -> list[dict]:
    """Records to label, starting where the coder stopped last time."""
    where, params = ("", ())
    if source:
        where, params = "id IN (SELECT record_id FROM labels WHERE source = ?)", (source,)
    records = list(store.records(engine=engine, where=where, params=params))
    if not include_done:
        answers = coder_answers(store, coder)
        records = [r for r in records if not is_complete(answers.get(r["id"]))]
    last = last_touched_record(store, coder)
    if last is None:
        return records
    return [r for r in records if r["id"] >= last] + [r for r in records if r["id"] < last]


@dataclass
class SessionResult:
    answers_saved: int = 0
    records_completed: int = 0
    quit: bool = False
    undo_stack: list[tuple[int, str, list[str]]] = field(default_factory=list)


class LabelSession:
    """Walks the queue dimension by dimension; reads commands from an :class:`Input`."""

    def __init__(self, store: Store, coder: str, queue: list[dict], *, reader: Input, console: Console,
                 suggest: Suggest | None = None, review: bool = False, page_lines: int = 20):
        if not coder:
            raise ValueError("a coder name is required")
        self.store, self.coder, self.queue = store, coder, queue
        self.reader, self.console, self.suggest = reader, console, suggest
        self.review, self.page_lines = review, page_lines
        self.result = SessionResult()
        self._suggestions: dict[int, dict] = {}

    def run(self) -> SessionResult:
        i, d, forced, shown = 0, 0, None, None
        while i < len(self.queue):
            rec = self.queue[i]
            answers = coder_answers(self.store, self.coder, rec["id"]).get(rec["id"], {})
            if shown != rec["id"]:
                pages = self._show(rec, i)
                shown, page = rec["id"], 0
            dims = dimensions_for(answers)
            if d >= len(dims):
                i, d = i + 1, 0
                continue
            dim = dims[d]
            if answers.get(dim) and not self.review and forced != (rec["id"], dim):
                d += 1
                continue
            try:
                command = self.reader.read(self._prompt(rec, dim, answers.get(dim))).strip()
            except (EOFError, KeyboardInterrupt):
                command = "q"
            low = command.lower()
            if low == "q":
                self.result.quit = True
                break
            if low == "s":
                i, d = i + 1, 0
            elif low == "u":
                target = self._undo()
                if target is not None:
                    rid, dim = target
                    i = next(k for k, r in enumerate(self.queue) if r["id"] == rid)
                    back = coder_answers(self.store, self.coder, rid).get(rid, {})
                    d, forced = dimensions_for({**back, dim: []}).index(dim), target
                    shown = None if rid != rec["id"] else shown
            elif low in ("n", "p"):
                page = max(0, min(len(pages) - 1, page + (1 if low == "n" else -1)))
                self._print_page(pages, page)
            elif low == "b":
                shown = None
            elif low in ("?", "h", "help"):
                self.console.print(HELP)
            elif command == "":
                if answers.get(dim):
                    d, forced = d + 1, None
            elif self._answer(rec["id"], dim, command, answers.get(dim)):
                d, forced = d + 1, None
        done = coder_answers(self.store, self.coder)
        self.result.records_completed = sum(is_complete(done.get(r["id"])) for r in self.queue)
        return self.result

    # -- steps -------------------------------------------------------------------------------
    def _answer(self, record_id: int, dim: str, command: str, previous: list[str] | None) -> bool:
        try:
            slugs = to_slugs(dim, self._names(dim, command))
        except (UnknownCategory, ValueError) as exc:
            self.console.print(f"[red]{exc}[/red] (? for help)")
            return False
        save_answer(self.store, record_id, dim, slugs, self.coder)
        self.result.undo_stack.append((record_id, dim, list(previous or [])))
        self.result.answers_saved += 1
        self.console.print(f"[green]saved[/green] {dim.replace('_', ' ')}: {display(dim, slugs)}")
        return True

    def _undo(self) -> tuple[int, str] | None:
        if not self.result.undo_stack:
            self.console.print("nothing to undo in this session")
            return None
        record_id, dim, previous = self.result.undo_stack.pop()
        save_answer(self.store, record_id, dim, previous, self.coder)
        self.result.answers_saved -= 1
        self.console.print(f"[yellow]undone[/yellow] {dim.replace('_', ' ')} of record {record_id}")
        return record_id, dim

    @staticmethod
    def _names(dim: str, command: str) -> list[str]:
        if not _NUMBERS.match(command):
            return [part for part in command.split(",") if part.strip()]
        entries = TAXONOMY[dim]
        names = []
        for token in re.split(r"[,\s]+", command.strip()):
            number = int(token)
            if not 1 <= number <= len(entries):
                raise ValueError(f"no {dim.replace('_', ' ')} number {number} (1-{len(entries)})")
            names.append(entries[number - 1].slug)
        return names

    # -- display -----------------------------------------------------------------------------
    def _show(self, rec: dict, index: int):
        self.console.rule()
        self.console.print(record_header(rec, f"{index + 1} of {len(self.queue)} · coder {self.coder}"))
        pages = render_lines(self.console, body_markdown(rec))
        pages = [pages[k:k + self.page_lines] for k in range(0, len(pages), self.page_lines)] or [[]]
        self._print_page(pages, 0)
        return pages

    def _print_page(self, pages, page: int) -> None:
        for line in pages[page]:
            self.console.print(line)
        if len(pages) > 1:
            self.console.print(f"[dim]-- body page {page + 1}/{len(pages)} (n / p to scroll) --[/dim]")

    def _prompt(self, rec: dict, dim: str, current: list[str] | None) -> str:
        suggestions = self._suggest(rec).get(dim)
        self.console.print(choices_table(dim, suggestions))
        if suggestions:
            numbers = {e.slug: k for k, e in enumerate(TAXONOMY[dim], start=1)}
            shown = ", ".join(f"[{numbers[s]}] {TAXONOMY.resolve(dim, s).name} {p:.0%}" for s, p in suggestions)
            self.console.print(f"[green]classifier suggests:[/green] {shown}")
        keep = f" [Enter keeps {display(dim, current)}]" if current else ""
        return f"{dim.replace('_', ' ')}{keep}> "

    def _suggest(self, rec: dict) -> dict:
        if self.suggest is None:
            return {}
        if rec["id"] not in self._suggestions:
            self._suggestions[rec["id"]] = self.suggest(rec) if (rec.get("title") or rec.get("body")) else {}
        return self._suggestions[rec["id"]]
