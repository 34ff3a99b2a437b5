"""The scheduler's own events: Tick, AllocationDecided and the facade's setters."""

from __future__ import annotations

import attrs

from selfplay_core._reducing.common import (
    MAX_COUNT,
    UNCHANGED,
    Outcome,
    as_weight,
    books_changed,
    boosted,
    config_changed,
)
from selfplay_core._reducing.config_events import rate_change
from selfplay_core.events import (
    AllocationDecided,
    ConfigBoosted,
    TargetTrainingSamplesSet,
    Tick,
)
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.priority import samples_per_game
from selfplay_core.state import AllocationBook, SchedulerState


def tick(state: SchedulerState, event: Tick, at: float, policy: SchedulerPolicy) -> Outcome:
    return UNCHANGED  # expiry already happened in `reduce`


def allocation_decided(
    state: SchedulerState, event: AllocationDecided, at: float, policy: SchedulerPolicy
) -> Outcome:
    book = state.allocations
    games = event.result.placed_games  # the reference records placed games only (§3.7)
    cutoff = at - policy.events.allocation_history_seconds
    history = (*(item for item in book.history if item[0] >= cutoff), (at, games))
    new = AllocationBook(history, book.games_total + games, book.decisions + 1)
    return books_changed(attrs.evolve(state.books, allocations=new))


def target_samples_set(
    state: SchedulerState, event: TargetTrainingSamplesSet, at: float, policy: SchedulerPolicy
) -> Outcome:
    key = event.config_key
    config = state.configs[key]
    facts = attrs.evolve(
        config.facts,
        target_training_samples=min(event.target, MAX_COUNT),
        samples_per_game_estimate=samples_per_game(key, policy),
    )
    return config_changed(state, key, attrs.evolve(config, facts=facts))


def config_boosted(
    state: SchedulerState, event: ConfigBoosted, at: float, policy: SchedulerPolicy
) -> Outcome:
    """The facade's `boost_config_allocation` (allocation.md §8.4)."""
    ep = policy.events
    key = event.config_key
    config = state.configs[key]
    target = min(ep.config_boost_cap, config.exploration_boost * event.multiplier)
    old = config.momentum_multiplier
    momentum = as_weight(min(ep.config_boost_momentum_cap, old * ep.config_boost_momentum_factor))
    emitted = rate_change(key, old, momentum, "config_boost", ep)
    config = attrs.evolve(boosted(config, target, at, ep), momentum_multiplier=momentum)
    return config_changed(state, key, config, emitted)
