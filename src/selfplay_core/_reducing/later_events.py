"""Events the reference subscribes to only after ad4eaccf9 (head.md §7.4)."""

from __future__ import annotations

import attrs

from selfplay_core._reducing.common import MAX_COUNT, UNCHANGED, Outcome, config_changed
from selfplay_core.events import NewGamesAvailable
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.state import SchedulerState


def new_games_available(
    state: SchedulerState, event: NewGamesAvailable, at: float, policy: SchedulerPolicy
) -> Outcome:
    """NEW_GAMES_AVAILABLE: the config's game count grows by `new_games` until the game-count
    source next reports (its count is the measured fact and overwrites). Upstream HEAD replaced
    the count with a running sum of deltas from 0 (head.md H40); this adds to the count."""
    if event.new_games == 0:
        return UNCHANGED
    key = event.config_key
    config = state.configs[key]
    games = min(config.facts.game_count + event.new_games, MAX_COUNT)
    facts = attrs.evolve(config.facts, game_count=games)
    return config_changed(state, key, attrs.evolve(config, facts=facts))
