"""Where the command's human output goes, and the few formats every command shares: exit
codes, JSON on stdout, UTC times, numbers."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from selfplay_core.replay import Step
from selfplay_shell.replay_files import count_lines

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

EXIT_OK: Final = 0
EXIT_DIFFERS: Final = 1
EXIT_USAGE: Final = 2

#: Logs with more lines than this get a progress bar (on a terminal).
PROGRESS_MIN_LINES: Final = 50_000
#: How many rejected lines / differing decisions the tables list.
LIST_LIMIT: Final = 10


#: Width of piped output when `COLUMNS` does not say (a terminal's own width wins).
PIPED_WIDTH: Final = 100


def _console(*, stderr: bool) -> Console:
    """A console that never reads text as markup (user paths and config names print as
    given; style comes from `Text` objects) and is as wide as the terminal, or `COLUMNS`, or
    `PIPED_WIDTH` when piped."""
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, markup=False, emoji=False)
    if not console.is_terminal and not os.environ.get("COLUMNS", "").isdigit():
        console = Console(
            stderr=stderr, highlight=False, markup=False, emoji=False, width=PIPED_WIDTH
        )
    return console


def one_line(message: str) -> str:
    return " ".join(message.split())


class Output:
    """Where human output goes: rich consoles for stdout and stderr, and whether to print at
    all (`--json` and `--quiet` silence the tables)."""

    def __init__(self, *, quiet: bool = False) -> None:
        self.out = _console(stderr=False)
        self.err = _console(stderr=True)
        self.quiet = quiet

    def print(self, *things: Any) -> None:
        if not self.quiet:
            self.out.print(*things)

    def line(self, *parts: str | tuple[str, str]) -> None:
        """One line of text: plain strings, or (text, style) pairs such as ("done", "bold")."""
        if not self.quiet:
            from rich.text import Text

            self.out.print(Text.assemble(*parts))

    def error(self, message: str) -> None:
        """One line on stderr, never wrapped, whatever the message holds."""
        from rich.text import Text

        self.err.print(
            Text.assemble(("error:", "bold red"), " ", one_line(message)), soft_wrap=True
        )

    @staticmethod
    def plain_error(message: str) -> None:
        """The same line, before any console exists (the arguments are not yet parsed)."""
        sys.stderr.write(f"error: {one_line(message)}\n")

    @contextmanager
    def progress(self, total: int | None, label: str) -> Iterator[Callable[[object], None] | None]:
        """A progress bar on stderr for long logs on a terminal; None otherwise."""
        if total is None or total < PROGRESS_MIN_LINES or not self.err.is_terminal:
            yield None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress(
            "{task.description}",
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


def number(value: float) -> str:
    """The one format of a measured number: three decimals, or whole with thousands
    separators from 1,000 on."""
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"


def count(value: int) -> str:
    """The one format of a count: thousands separators."""
    return f"{value:,}"


def cell(value: object) -> str:
    """A table cell: counts and numbers in their one format, anything else as text."""
    if isinstance(value, bool) or value is None:
        return "-" if value is None else ("yes" if value else "no")
    if isinstance(value, int):
        return count(value)
    if isinstance(value, float):
        return number(value)
    return str(value)


def new_table(title: str, **options: Any) -> Table:
    """A table in the one style of the command: a title on the left, a rule under the header,
    no vertical lines and one space between columns (so tables fit 100 columns)."""
    from rich import box
    from rich.table import Table

    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        **options,
    )
