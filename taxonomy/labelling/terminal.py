"""Input abstraction of the labeller and the rendering of a record for the terminal."""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Protocol

from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from enginebugs.taxonomy import TAXONOMY


class Input(Protocol):
    """Where the labeller's answers come from. ``read`` raises ``EOFError`` when input ends."""

    def read(self, prompt: str) -> str: ...


class ConsoleInput:
    """Lines typed at the terminal."""

    def __init__(self, console: Console):
        self.console = console

    def read(self, prompt: str) -> str:
        return self.console.input(prompt)


class ScriptedInput:
    """Answers given in advance (tests, scripted sessions); records the prompts it was asked."""

    def __init__(self, lines: Iterable[str]):
        self.lines = list(lines)
        self.prompts: list[str] = []

    def read(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.lines:
            raise EOFError
        return self.lines.pop(0)


def record_header(rec: dict, position: str) -> Panel:
    """Title, identity, GitHub labels and fix linkage of a record."""
    lines = Text()
    lines.append(rec.get("title") or "(no title: run `enginebugs mine hydrate`)", style="bold")
    lines.append(f"\n{rec['url']}\n", style="cyan")
    kind, state = rec.get("kind") or "issue", rec.get("state") or "state unknown"
    lines.append(f"{rec['engine']} · {rec['repo']} · {kind} · {state}")
    gh_labels = rec.get("labels") or []
    if gh_labels:
        lines.append("\nGitHub labels: " + ", ".join(map(str, gh_labels)))
    lines.append("\n" + fix_linkage(rec))
    return Panel(lines, title=f"record {position}", title_align="left")


def fix_linkage(rec: dict) -> str:
    if not rec.get("fix_url"):
        return "fix: none linked"
    parts = [f"fix: {rec['fix_url']}"]
    if rec.get("fix_merged_at"):
        parts.append(f"merged {rec['fix_merged_at']}")
    if rec.get("fix_files_changed") is not None:
        added, deleted = rec.get("fix_additions") or 0, rec.get("fix_deletions") or 0
        parts.append(f"{rec['fix_files_changed']} file(s), +{added}/-{deleted}")
    if rec.get("time_to_fix_days") is not None:
        parts.append(f"{rec['time_to_fix_days']:.1f} days to fix")
    return " · ".join(parts)


def body_markdown(rec: dict) -> str:
    """The body followed by the comments, as Markdown (fenced code blocks kept)."""
    parts = [rec.get("body") or "_(no body stored)_"]
    for comment in _comments(rec):
        author = comment.get("author") or comment.get("user") or "someone"
        parts.append(f"---\n**comment by {author}**\n\n{comment.get('body') or ''}")
    return "\n\n".join(parts)


def _comments(rec: dict) -> list[dict]:
    comments = rec.get("comments") or []
    if isinstance(comments, str):
        comments = json.loads(comments)
    return [c if isinstance(c, dict) else {"body": str(c)} for c in comments]


def render_lines(console: Console, markdown: str) -> list[Text]:
    """Markdown rendered at the console's width, split into lines for paging."""
    with console.capture() as capture:
        console.print(Markdown(markdown))
    return [Text.from_ansi(line) for line in capture.get().rstrip("\n").split("\n")]


def choices_table(dimension: str, suggestions: list[tuple[str, float]] | None) -> Table:
    """The numbered categories of a dimension, suggested ones marked with their probability."""
    probs = dict(suggestions or ())
    table = Table(show_header=False, box=None, pad_edge=False, padding=(0, 1))
    for number, entry in enumerate(TAXONOMY[dimension], start=1):
        mark = f"[green]← {probs[entry.slug]:.0%}[/green]" if entry.slug in probs else ""
        group = f"[dim]{TAXONOMY.resolve('root_cause_group', entry.group).name}[/dim]" if entry.group else ""
        table.add_row(f"[bold]{number:>2}[/bold]", entry.name, group, mark)
    return table
