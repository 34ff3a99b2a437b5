"""Where the command's human output goes, and the few formats every command shares: exit
codes, JSON on stdout, UTC times, numbers."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final

from selfplay_core.replay import Step
from selfplay_shell.replay_files import count_lines

EXIT_OK: Final = 0
EXIT_DIFFERS: Final = 1
EXIT_USAGE: Final = 2

#: Logs with more lines than this get a progress bar (on a terminal).
PROGRESS_MIN_LINES: Final = 50_000
#: How many rejected lines / differing decisions the tables list.
LIST_LIMIT: Final = 10


class Output:
    """Where human output goes: rich consoles for stdout and stderr (plain when not a
    terminal), and whether to print at all (`--json` and `--quiet` silence the tables)."""

    def __init__(self, *, quiet: bool = False) -> None:
        from rich.console import Console

        self.out = Console(highlight=False)
        if not self.out.is_terminal:
            # piped or captured: wide enough that tables do not wrap, no wrapping of text
            self.out = Console(highlight=False, width=180, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False)
        if not self.err.is_terminal:
            self.err = Console(stderr=True, highlight=False, width=180, soft_wrap=True)
        self.quiet = quiet

    def print(self, *things: Any) -> None:
        if not self.quiet:
            self.out.print(*things)

    def error(self, message: str) -> None:
        self.err.print(f"[bold red]error:[/] {message}")

    @contextmanager
    def progress(self, total: int | None, label: str) -> Iterator[Callable[[object], None] | None]:
        """A progress bar on stderr for long logs on a terminal; None otherwise."""
        if total is None or total < PROGRESS_MIN_LINES or not self.err.is_terminal:
            yield None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=self.err,
            transient=True,
        ) as bar:
            task = bar.add_task(label, total=total)
            seen = [0]

            def advance(_item: object) -> None:
                seen[0] += 1
                if seen[0] % 4096 == 0:
                    bar.update(task, completed=seen[0])

            yield advance


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def chain(*callbacks: Callable[[Step], None] | None) -> Callable[[Step], None] | None:
    """One callback calling each of `callbacks` (None ones left out)."""
    active = [c for c in callbacks if c is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]

    def both(step: Step) -> None:
        for callback in active:
            callback(step)

    return both


def lines_after(log: str, start: int) -> int | None:
    total = count_lines(log)
    return None if total is None else max(0, total - start)


def fmt(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"
