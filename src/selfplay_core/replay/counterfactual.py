"""Counterfactuals: the same log under another policy, decision by decision.

`counterfactual(state0, items, policy)` replays the items under `policy`, lets each decision
it makes (not the recorded one) enter the state, and reports how each decision, and the
totals per config and per node, would have differed, with starvation figures for both sides.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, TypeVar

import attrs

from selfplay_core.allocation.values import BatchAllocation
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.replay.checking import DecisionCheck
from selfplay_core.replay.fold import Item, Step, replay
from selfplay_core.replay.report import ReplayReport, summarize
from selfplay_core.state import SchedulerState

__all__ = [
    "CounterfactualReport",
    "DecisionDelta",
    "StarvationFigures",
    "counterfactual",
    "starvation_figures",
]

K = TypeVar("K", ConfigKey, str)


@attrs.frozen
class DecisionDelta:
    """One decision, as recorded and as the other policy would have made it: games per config
    and per node on both sides (zero entries left out), and the difference (other − recorded)."""

    number: int
    at: float
    recorded_games: Mapping[ConfigKey, int]
    counterfactual_games: Mapping[ConfigKey, int]
    recorded_nodes: Mapping[str, int]
    counterfactual_nodes: Mapping[str, int]

    @property
    def games_delta(self) -> Mapping[ConfigKey, int]:
        return _delta(self.recorded_games, self.counterfactual_games)

    @property
    def nodes_delta(self) -> Mapping[str, int]:
        return _delta(self.recorded_nodes, self.counterfactual_nodes)

    @property
    def differs(self) -> bool:
        return bool(self.games_delta) or bool(self.nodes_delta)


@attrs.frozen
class StarvationFigures:
    """How evenly a sequence of decisions fed the configs.

    `longest_wait_seconds[c]`: the longest stretch between decisions that gave `c` games,
    counted from the first decision and up to the last (a config never fed waited the whole
    span); `longest_wait_decisions[c]`: the most consecutive decisions that gave it nothing;
    `never_fed`: configs no decision gave a game. `windows`: (window start, games per config)
    for each `window_seconds` from the first decision; `share` = each config's fraction of all
    games over the whole span.
    """

    span_seconds: float
    decisions: int
    longest_wait_seconds: Mapping[ConfigKey, float]
    longest_wait_decisions: Mapping[ConfigKey, int]
    never_fed: tuple[ConfigKey, ...]
    window_seconds: float
    windows: tuple[tuple[float, Mapping[ConfigKey, int]], ...]
    share: Mapping[ConfigKey, float]

    def window_shares(self) -> tuple[tuple[float, Mapping[ConfigKey, float]], ...]:
        """Each window's games per config as fractions of that window's games."""
        out = []
        for start, games in self.windows:
            total = sum(games.values())
            out.append(
                (
                    start,
                    MappingProxyType(
                        {key: (games[key] / total if total else 0.0) for key in ALL_CONFIGS}
                    ),
                )
            )
        return tuple(out)

    def as_dict(self) -> dict[str, Any]:
        return {
            "span_seconds": self.span_seconds,
            "decisions": self.decisions,
            "longest_wait_seconds": {str(k): v for k, v in self.longest_wait_seconds.items()},
            "longest_wait_decisions": {str(k): v for k, v in self.longest_wait_decisions.items()},
            "never_fed": [str(k) for k in self.never_fed],
            "window_seconds": self.window_seconds,
            "windows": [
                {"start": start, "games": {str(k): v for k, v in games.items()}}
                for start, games in self.windows
            ],
            "share": {str(k): v for k, v in self.share.items()},
        }


@attrs.frozen
class CounterfactualReport:
    """The same log under another policy: every decision both ways, totals per config and per
    node (recorded, counterfactual), and the starvation figures of both sides. `replay` is the
    counterfactual fold's own report (counts, and how many decisions came out the same)."""

    decisions: tuple[DecisionDelta, ...]
    recorded_games: Mapping[ConfigKey, int]
    counterfactual_games: Mapping[ConfigKey, int]
    recorded_nodes: Mapping[str, int]
    counterfactual_nodes: Mapping[str, int]
    recorded_starvation: StarvationFigures
    counterfactual_starvation: StarvationFigures
    replay: ReplayReport

    @property
    def decisions_differing(self) -> int:
        return sum(1 for d in self.decisions if d.differs)

    @property
    def games_delta(self) -> Mapping[ConfigKey, int]:
        return _delta(self.recorded_games, self.counterfactual_games)

    @property
    def nodes_delta(self) -> Mapping[str, int]:
        return _delta(self.recorded_nodes, self.counterfactual_nodes)

    def as_dict(self) -> dict[str, Any]:
        def configs(m: Mapping[ConfigKey, int]) -> dict[str, int]:
            return {str(k): v for k, v in m.items()}

        return {
            "decisions": len(self.decisions),
            "decisions_differing": self.decisions_differing,
            "per_decision": [
                {
                    "decision": d.number,
                    "at": d.at,
                    "recorded": configs(d.recorded_games),
                    "counterfactual": configs(d.counterfactual_games),
                    "games_delta": configs(d.games_delta),
                    "nodes_delta": dict(d.nodes_delta),
                }
                for d in self.decisions
            ],
            "totals": {
                "recorded_games": configs(self.recorded_games),
                "counterfactual_games": configs(self.counterfactual_games),
                "games_delta": configs(self.games_delta),
                "recorded_nodes": dict(self.recorded_nodes),
                "counterfactual_nodes": dict(self.counterfactual_nodes),
                "nodes_delta": dict(self.nodes_delta),
            },
            "starvation": {
                "recorded": self.recorded_starvation.as_dict(),
                "counterfactual": self.counterfactual_starvation.as_dict(),
            },
            "replay": self.replay.as_dict(),
        }


def _delta(a: Mapping[Any, int], b: Mapping[Any, int]) -> Mapping[Any, int]:
    keys = sorted(set(a) | set(b))
    return MappingProxyType(
        {k: b.get(k, 0) - a.get(k, 0) for k in keys if b.get(k, 0) != a.get(k, 0)}
    )


def _games(result: BatchAllocation) -> Mapping[ConfigKey, int]:
    return MappingProxyType({k: v for k, v in result.games_by_config.items() if v})


def _nodes(result: BatchAllocation) -> Mapping[str, int]:
    totals: dict[str, int] = {}
    for per_node in result.placements.values():
        for node_id, games in per_node.items():
            if games:
                totals[node_id] = totals.get(node_id, 0) + games
    return MappingProxyType({k: totals[k] for k in sorted(totals)})


def _delta_of(check: DecisionCheck) -> DecisionDelta:
    return DecisionDelta(
        number=check.number,
        at=check.at,
        recorded_games=_games(check.recorded),
        counterfactual_games=_games(check.replayed),
        recorded_nodes=_nodes(check.recorded),
        counterfactual_nodes=_nodes(check.replayed),
    )


def _total(counts: Iterable[Mapping[K, int]]) -> Mapping[K, int]:
    """Sums per key, keys in order (canonical config order; node ids sorted)."""
    totals: dict[K, int] = {}
    for mapping in counts:
        for key, value in mapping.items():
            totals[key] = totals.get(key, 0) + value
    return MappingProxyType({k: totals[k] for k in sorted(totals)})


def counterfactual(
    state0: SchedulerState,
    items: Iterable[Item],
    policy: SchedulerPolicy,
    *,
    window_seconds: float = 3600.0,
    start_position: int = 0,
    on_step: Callable[[Step], None] | None = None,
) -> CounterfactualReport:
    """Replay `items` under `policy`: at each recorded decision, decide under `policy` from the
    state replayed under it, and let that decision (not the recorded one) enter the state, so
    later decisions follow from the counterfactual ones. The world (game counts, Elo, nodes)
    is what the log observed: this answers "what would the scheduler have decided", not how
    the cluster would have evolved. Memory grows with the number of decisions (one small
    `DecisionDelta` each), not with the number of envelopes."""
    deltas: list[DecisionDelta] = []

    def steps() -> Iterator[Step]:
        for step in replay(state0, items, policy, start_position=start_position, substitute=True):
            if step.check is not None:
                deltas.append(_delta_of(step.check))
            if on_step is not None:
                on_step(step)
            yield step

    report = summarize(steps(), initial=state0, start_position=start_position)
    recorded = [(d.at, d.recorded_games) for d in deltas]
    other = [(d.at, d.counterfactual_games) for d in deltas]
    return CounterfactualReport(
        decisions=tuple(deltas),
        recorded_games=_total(d.recorded_games for d in deltas),
        counterfactual_games=_total(d.counterfactual_games for d in deltas),
        recorded_nodes=_total(d.recorded_nodes for d in deltas),
        counterfactual_nodes=_total(d.counterfactual_nodes for d in deltas),
        recorded_starvation=starvation_figures(recorded, window_seconds),
        counterfactual_starvation=starvation_figures(other, window_seconds),
        replay=report,
    )


def starvation_figures(
    decisions: Sequence[tuple[float, Mapping[ConfigKey, int]]], window_seconds: float = 3600.0
) -> StarvationFigures:
    """Starvation figures of a sequence of (at, games per config) decisions, in time order."""
    window = window_seconds if window_seconds > 0 and math.isfinite(window_seconds) else 3600.0
    if not decisions:
        empty_f: Mapping[ConfigKey, float] = MappingProxyType(dict.fromkeys(ALL_CONFIGS, 0.0))
        empty_i: Mapping[ConfigKey, int] = MappingProxyType(dict.fromkeys(ALL_CONFIGS, 0))
        return StarvationFigures(0.0, 0, empty_f, empty_i, (), window, (), empty_f)
    start = decisions[0][0]
    end = decisions[-1][0]
    last_fed = dict.fromkeys(ALL_CONFIGS, start)
    longest = dict.fromkeys(ALL_CONFIGS, 0.0)
    streak = dict.fromkeys(ALL_CONFIGS, 0)
    longest_streak = dict.fromkeys(ALL_CONFIGS, 0)
    fed: set[ConfigKey] = set()
    totals = dict.fromkeys(ALL_CONFIGS, 0)
    windows: list[tuple[float, dict[ConfigKey, int]]] = []
    for at, games in decisions:
        index = int((at - start) // window)
        while len(windows) <= index:
            windows.append((start + len(windows) * window, dict.fromkeys(ALL_CONFIGS, 0)))
        bucket = windows[index][1]
        for key in ALL_CONFIGS:
            n = games.get(key, 0)
            if n > 0:
                longest[key] = max(longest[key], at - last_fed[key])
                last_fed[key] = at
                streak[key] = 0
                fed.add(key)
                totals[key] += n
                bucket[key] += n
            else:
                streak[key] += 1
                longest_streak[key] = max(longest_streak[key], streak[key])
    for key in ALL_CONFIGS:
        longest[key] = max(longest[key], end - last_fed[key])
    grand = sum(totals.values())
    return StarvationFigures(
        span_seconds=end - start,
        decisions=len(decisions),
        longest_wait_seconds=MappingProxyType(longest),
        longest_wait_decisions=MappingProxyType(longest_streak),
        never_fed=tuple(key for key in ALL_CONFIGS if key not in fed),
        window_seconds=window,
        windows=tuple((s, MappingProxyType(g)) for s, g in windows),
        share=MappingProxyType(
            {key: (totals[key] / grand if grand else 0.0) for key in ALL_CONFIGS}
        ),
    )
