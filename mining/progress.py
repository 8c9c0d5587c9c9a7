"""What the miner shows while it works: rich progress bars, notes and rate-limit countdowns (stderr)."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


class Reporter:
    """One console for bars, notes and countdowns; ``quiet`` keeps only the notes."""

    def __init__(self, console: Console | None = None, *, quiet: bool = False,
                 sleep: Callable[[float], None] = time.sleep):
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.sleep = sleep
        self._progress: Progress | None = None

    def note(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    @contextmanager
    def progress(self) -> Iterator[Progress]:
        """A progress display for long steps; nested calls share the outer one."""
        if self._progress is not None:
            yield self._progress
            return
        self._progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=self.console, disable=self.quiet, transient=False,
        )
        try:
            with self._progress:
                yield self._progress
        finally:
            self._progress = None

    def countdown(self, seconds: float, reason: str) -> None:
        """Sleep ``seconds`` while showing a countdown (a bar that drains) and a note saying why."""
        seconds = max(0.0, seconds)
        self.note(f"{reason}: waiting {seconds:.0f} s")
        with self.progress() as bars:
            task = bars.add_task(f"[yellow]waiting: {reason}", total=seconds)
            left = seconds
            while left > 1e-9:
                step = min(0.2, left)
                self.sleep(step)
                left -= step
                bars.update(task, completed=seconds - left, refresh=True,
                            description=f"[yellow]{left:4.1f} s left: {reason}")
            bars.remove_task(task)
