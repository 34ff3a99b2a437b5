"""The run plot's data: one record per decision with the load of every node the cluster knows
(also the nodes no decision placed games on), and a PNG drawn from it."""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

import pytest

from selfplay_core.replay import replay
from selfplay_shell.plot import DecisionSeries, plot_run
from selfplay_shell.replay_files import log_items, starting_point

GOLDEN = Path(__file__).resolve().parents[2] / "tests" / "replay" / "golden"
LOG = GOLDEN / "sim-seed7-6nodes-2h.jsonl"


def series_of(log: Path) -> tuple[DecisionSeries, set[str], list[set[str]]]:
    """The series, every node id the cluster ever knew, and each decision's nodes with games."""
    start, _ = starting_point(log, None)
    series = DecisionSeries()
    known: set[str] = set()
    placed: list[set[str]] = []
    for step in replay(start.state, log_items(log), start.policy):
        series.on_step(step)
        known |= {node.node_id for node in step.state.cluster.nodes}
        if step.check is not None:
            placed.append({n.node_id for n in step.check.recorded.nodes if n.total_games})
    return series, known, placed


def test_every_known_node_has_a_load_at_each_decision() -> None:
    series, known, placed = series_of(LOG)
    assert len(series.load) == len(series.times) == 12
    drawn = {node for row in series.load for node in row}
    assert drawn == known
    # nodes a decision gave no games (excluded, full) are in its row all the same
    assert any(set(row) - games for row, games in zip(series.load, placed, strict=True))
    assert all(0.0 <= load <= 1.0 for row in series.load for load in row.values())
    assert any(load >= 0.99 for row in series.load for load in row.values())  # busy, shown busy


@pytest.mark.slow  # takes seconds
@pytest.mark.skipif(find_spec("matplotlib") is None, reason="matplotlib is not installed")
def test_plot_run_writes_a_png(tmp_path: Path) -> None:
    series, _, _ = series_of(LOG)
    path = plot_run(series, tmp_path / "run.png", title="golden")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
