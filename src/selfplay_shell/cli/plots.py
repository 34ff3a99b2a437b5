"""Drawing a run's PNG for `simulate --plot` and `replay --plot` (matplotlib is imported by
selfplay_shell.plot only when a plot is asked for)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfplay_core.replay import replay
from selfplay_shell.replay_files import ReplayInputError, log_items, starting_point


def plot(series: Any, path: Path, *, title: str) -> Path:
    from selfplay_shell.plot import PlotUnavailable, plot_run

    try:
        return plot_run(series, path, title=title)
    except PlotUnavailable as error:
        raise ReplayInputError(str(error)) from None


def plot_log(log: Path, path: Path, *, title: str) -> Path:
    from selfplay_shell.plot import DecisionSeries

    start, _ = starting_point(log, None)
    series = DecisionSeries()
    for step in replay(start.state, log_items(log), start.policy):
        series.on_step(step)
    return plot(series, path, title=title)
