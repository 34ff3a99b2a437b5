"""Pictures of a run: games per config over time (a panel per board) and node load
(the `[plot]` extra).

`DecisionSeries` collects what the plots need from replay steps (one small record per
decision, nothing per envelope); `plot_run` draws it with matplotlib, imported only here and
only when a plot is asked for.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import attrs

from selfplay_core.configs import ALL_CONFIGS, BOARDS, ConfigKey
from selfplay_core.replay import Step

__all__ = ["DecisionSeries", "PlotUnavailable", "plot_run"]


class PlotUnavailable(Exception):
    """matplotlib is not installed (`pip install 'selfplay-scheduler[plot]'`)."""


@attrs.define
class DecisionSeries:
    """Per decision: when, games per config (recorded, and the other policy's when a
    counterfactual ran), and the load of every node the cluster knows at that moment."""

    times: list[float] = attrs.field(factory=list)
    recorded: list[Mapping[ConfigKey, int]] = attrs.field(factory=list)
    counterfactual: list[Mapping[ConfigKey, int]] = attrs.field(factory=list)
    load: list[dict[str, float]] = attrs.field(factory=list)
    with_counterfactual: bool = False

    def on_step(self, step: Step) -> None:
        check = step.check
        if check is None:
            return
        self.times.append(check.at)
        self.recorded.append(check.recorded.games_by_config)
        if self.with_counterfactual:
            self.counterfactual.append(check.replayed.games_by_config)
        self.load.append({node.node_id: node.current_load for node in check.state.cluster.nodes})


def _cumulative(series: list[Mapping[ConfigKey, int]], key: ConfigKey) -> list[int]:
    total = 0
    out = []
    for games in series:
        total += games.get(key, 0)
        out.append(total)
    return out


#: One colour and line style per player count, the same on every board's panel.
_PLAYER_STYLE: Final = {2: ("tab:blue", "-"), 3: ("tab:orange", "--"), 4: ("tab:green", ":")}


def plot_run(
    series: DecisionSeries, out: str | os.PathLike[str], *, title: str = "selfplay-scheduler"
) -> Path:
    """Draw the run to a PNG at `out` and return its path: one panel per board (a line per
    player count, games allocated so far), then every node's load at each decision."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the installation
        raise PlotUnavailable(
            "plotting needs matplotlib: pip install 'selfplay-scheduler[plot]'"
        ) from error

    start = series.times[0] if series.times else 0.0
    hours = [(t - start) / 3600.0 for t in series.times]
    fig = plt.figure(figsize=(12, 11))
    grid = fig.add_gridspec(3, 2, height_ratios=[1, 1, 1.3])
    board_axes = [fig.add_subplot(grid[i // 2, i % 2]) for i in range(len(BOARDS))]
    for board, axes in zip(BOARDS, board_axes, strict=True):
        _draw_board(axes, board, series, hours)
    board_axes[0].legend(fontsize="small", loc="upper left")
    _draw_nodes(fig, fig.add_subplot(grid[2, :]), series, hours)
    fig.suptitle(
        f"{title}: games allocated so far per config"
        + ("; thin faded lines: under the other policy" if series.with_counterfactual else "")
    )
    fig.tight_layout()
    path = Path(out)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _draw_board(axes: Any, board: str, series: DecisionSeries, hours: list[float]) -> None:
    for key in ALL_CONFIGS:
        if key.board != board:
            continue
        colour, style = _PLAYER_STYLE[key.players]
        axes.plot(
            hours,
            _cumulative(series.recorded, key),
            color=colour,
            linestyle=style,
            linewidth=2.0,
            label=f"{key.players} players",
        )
        if series.with_counterfactual and series.counterfactual:
            axes.plot(
                hours,
                _cumulative(series.counterfactual, key),
                color=colour,
                linestyle=style,
                linewidth=1.0,
                alpha=0.5,
                label=f"{key.players} players, other policy",
            )
    axes.set_title(f"board {board}")
    axes.set_xlabel("hours since the first decision")
    axes.set_ylabel("games allocated so far")
    axes.grid(alpha=0.3)


def _draw_nodes(fig: Any, axes: Any, series: DecisionSeries, hours: list[float]) -> None:
    node_ids = sorted({node for row in series.load for node in row})
    if not node_ids or not hours:
        axes.text(0.5, 0.5, "no nodes in the cluster", ha="center", va="center")
        return
    # a node not in the cluster at a decision is NaN: drawn grey, not as idle
    grid = [[row.get(node, math.nan) for row in series.load] for node in node_ids]
    end = hours[-1] if hours[-1] > hours[0] else hours[0] + 1.0
    import matplotlib.pyplot as plt

    colours = plt.get_cmap("magma_r").with_extremes(bad="lightgrey")
    image = axes.imshow(
        grid,
        aspect="auto",
        interpolation="nearest",
        cmap=colours,
        vmin=0.0,
        vmax=1.0,
        extent=(hours[0], end, len(node_ids), 0),
    )
    axes.set_yticks([i + 0.5 for i in range(len(node_ids))])
    axes.set_yticklabels(node_ids, fontsize="x-small")
    axes.set_title(
        f"load of each of the {len(node_ids)} nodes at each decision "
        "(0 idle → 1 full; grey: not in the cluster)"
    )
    axes.set_xlabel("hours since the first decision")
    fig.colorbar(image, ax=axes, label="node load")
