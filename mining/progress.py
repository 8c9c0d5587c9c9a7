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
                 sleep: Callable[[float], None] = time.sleep, every: float = 30.0):
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.sleep = sleep
        self.every = every  # seconds between plain progress lines when stderr is not a terminal
        self._progress: Progress | None = None
        self._last_line = time.monotonic()

    @property
    def plain(self) -> bool:
        """Not a terminal (CI log, nohup, a pipe): bars would show nothing until the end."""
        return not self.quiet and not self.console.is_terminal

    def heartbeat(self, line: Callable[[], str]) -> None:
        """Print ``line()`` as a plain progress line when on no terminal and ``every`` seconds have passed."""
        now = time.monotonic()
        if self.plain and now - self._last_line >= self.every:
            self._last_line = now
            self.note(f"progress: {line()}")

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
            TimeElapsedColumn(), console=self.console, disable=self.quiet or self.plain, transient=False,
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


def rate_line(done: int, total: int | None, started: float, what: str = "issues") -> str:
    """``120/600 issues, 4.0/s, ETA 2m00s`` (no ETA while the total is unknown)."""
    elapsed = max(1e-9, time.monotonic() - started)
    rate = done / elapsed
    text = f"{done}/{total if total else '?'} {what}, {rate:.1f}/s"
    if total and rate > 0 and total >= done:
        left = int((total - done) / rate)
        text += f", ETA {left // 60}m{left % 60:02d}s"
    return text
