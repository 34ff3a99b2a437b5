"""The scheduler's own events: Tick, AllocationDecided and the facade's setters."""

from __future__ import annotations

from selfplay_core._reducing.common import (
    MAX_COUNT,
    Out,
    as_weight,
    boost_of,
    one_config,
    put_boosted_config,
    replace_config,
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
from selfplay_core.state import (
    AllocationBook,
    Books,
    ConfigFacts,
    SchedulerState,
)

# --- the scheduler's own events -------------------------------------------------------------


def tick(s: SchedulerState, e: Tick, now: float, p: SchedulerPolicy) -> Out | None:
    return None  # only the bookkeeping changes  # expiry already happened in `reduce`


def allocation_decided(
    s: SchedulerState, e: AllocationDecided, now: float, p: SchedulerPolicy
) -> Out | None:
    book = s.allocations
    games = e.result.placed_games  # the reference records placed games only (allocation.md §3.7)
    cutoff = now - p.events.allocation_history_seconds
    history = (*(item for item in book.history if item[0] >= cutoff), (now, games))
    new = AllocationBook(history, book.games_total + games, book.decisions + 1)
    books = Books(s.books.elo, s.books.sources, new, s.books.unknown_events)
    return (s.configs, s.cluster, books, s.ledger.next_expiry_at, ())


def target_samples_set(
    s: SchedulerState, e: TargetTrainingSamplesSet, now: float, p: SchedulerPolicy
) -> Out | None:
    key = e.config_key
    cs = s.configs[key]
    f = cs.facts
    facts = ConfigFacts(
        f.current_elo,
        f.game_count,
        f.quality_score,
        f.cascade_multiplier,
        f.improvement_boost,
        f.priority_override,
        min(e.target, MAX_COUNT),
        samples_per_game(key, p),
    )
    return one_config(s, key, replace_config(cs, facts=facts))


def config_boosted(
    s: SchedulerState, e: ConfigBoosted, now: float, p: SchedulerPolicy
) -> Out | None:
    """The facade's `boost_config_allocation` (allocation.md §8.4)."""
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    eb, xa = boost_of(
        cs,
        min(ep.config_boost_cap, cs.exploration_boost * e.multiplier),
        now,
        ep.boost_lifetime_seconds,
        ep,
    )
    old = cs.momentum_multiplier
    mm = as_weight(min(ep.config_boost_momentum_cap, old * ep.config_boost_momentum_factor))
    emitted = rate_change(key, old, mm, "config_boost", ep)
    new = replace_config(cs, eb=eb, xa=xa, mm=mm)
    return put_boosted_config(s, key, cs, new, emitted)
