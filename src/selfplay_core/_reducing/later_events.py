"""Events the reference subscribes to only after ad4eaccf9 (head.md §7.4)."""

from __future__ import annotations

from typing import Any

import attrs

from selfplay_core._reducing.common import Out, one_config, replace_config
from selfplay_core.events import NewGamesAvailable
from selfplay_core.state import MAX_MAGNITUDE, SchedulerState


def new_games_available(s: SchedulerState, e: NewGamesAvailable, now: float, p: Any) -> Out | None:
    """NEW_GAMES_AVAILABLE: the config's game count grows by `new_games` until the game-count
    source next reports (its count is the measured fact and overwrites). Upstream HEAD replaced
    the count with a running sum of deltas from 0 (head.md H40); this adds to the count."""
    if e.new_games == 0:
        return None  # only the bookkeeping changes
    cs = s.configs[e.config_key]
    games = min(cs.facts.game_count + e.new_games, int(MAX_MAGNITUDE))
    facts = attrs.evolve(cs.facts, game_count=games)
    return one_config(s, e.config_key, replace_config(cs, facts=facts))
