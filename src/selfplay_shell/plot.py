"""Pictures of a run: games per config over time and node utilisation (the `[plot]` extra).

`DecisionSeries` collects what the plots need from replay steps (one small record per
decision, nothing per envelope); `plot_run` draws it with matplotlib, imported only here and
only when a plot is asked for.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from selfplay_core.allocation.values import BatchAllocation
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.replay import Step

__all__ = ["DecisionSeries", "PlotUnavailable", "plot_run"]


class PlotUnavailable(Exception):
    """matplotlib is not installed (`pip install 'selfplay-scheduler[plot]'`)."""


@attrs.define
class DecisionSeries:
    """Per decision: when, games per config (recorded, and the other policy's when a
    counterfactual ran), and each node's placed games over its batch cap."""

    times: list[float] = attrs.field(factory=list)
    recorded: list[Mapping[ConfigKey, int]] = attrs.field(factory=list)
    counterfactual: list[Mapping[ConfigKey, int]] = attrs.field(factory=list)
    utilisation: list[dict[str, float]] = attrs.field(factory=list)
    with_counterfactual: bool = False

    def on_step(self, step: Step) -> None:
        check = step.check
        if check is None:
            return
        self.times.append(check.at)
        self.recorded.append(check.recorded.games_by_config)
        if self.with_counterfactual:
            self.counterfactual.append(check.replayed.games_by_config)
        self.utilisation.append(_utilisation(check.recorded))


def _utilisation(result: BatchAllocation) -> dict[str, float]:
    return {
        node.node_id: node.total_games / node.games_cap if node.games_cap else 0.0
        for node in result.nodes
    }


def _cumulative(series: list[Mapping[ConfigKey, int]], key: ConfigKey) -> list[int]:
    total = 0
    out = []
    for games in series:
        total += games.get(key, 0)
        out.append(total)
    return out


def plot_run(
    series: DecisionSeries, out: str | os.PathLike[str], *, title: str = "selfplay-scheduler"
) -> Path:
    """Draw the run to a PNG at `out` and return its path."""
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
    fig, (games_ax, nodes_ax) = plt.subplots(
        2, 1, figsize=(11, 9), gridspec_kw={"height_ratios": [3, 2]}
    )
    colours: Any = plt.get_cmap("tab20")
    for i, key in enumerate(ALL_CONFIGS):
        colour = colours(i % 20)
        games_ax.plot(hours, _cumulative(series.recorded, key), color=colour, label=str(key))
        if series.with_counterfactual and series.counterfactual:
            cf = _cumulative(series.counterfactual, key)
            games_ax.plot(hours, cf, color=colour, linestyle="--", linewidth=1.0)
    games_ax.set_title(
        "games allocated per config (cumulative)"
        + ("; dashed: under the other policy" if series.with_counterfactual else "")
    )
    games_ax.set_xlabel("hours since the first decision")
    games_ax.set_ylabel("games")
    games_ax.legend(ncol=4, fontsize="small")
    games_ax.grid(alpha=0.3)

    node_ids = sorted({node for row in series.utilisation for node in row})
    if node_ids and series.utilisation:
        grid = [[row.get(node, 0.0) for row in series.utilisation] for node in node_ids]
        extent = (hours[0], hours[-1] if hours[-1] > hours[0] else hours[0] + 1.0, len(node_ids), 0)
        image = nodes_ax.imshow(
            grid, aspect="auto", interpolation="nearest", cmap="viridis", vmin=0.0, extent=extent
        )
        nodes_ax.set_yticks([i + 0.5 for i in range(len(node_ids))])
        nodes_ax.set_yticklabels(node_ids, fontsize="x-small")
        fig.colorbar(image, ax=nodes_ax, label="placed games / batch cap")
    else:
        nodes_ax.text(0.5, 0.5, "no node placements", ha="center", va="center")
    nodes_ax.set_title("node utilisation per decision")
    nodes_ax.set_xlabel("hours since the first decision")
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(out)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
