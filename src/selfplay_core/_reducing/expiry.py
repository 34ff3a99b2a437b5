"""Expiry (events.md §4): boosts and backoffs that are due lapse before an envelope applies."""

from __future__ import annotations

from types import MappingProxyType

from selfplay_core._reducing.build import books as build_books
from selfplay_core._reducing.build import scheduler_state, target_updated_event
from selfplay_core._reducing.common import (
    next_expiry_of,
    replace_cluster,
    replace_config,
    thaw,
)
from selfplay_core.events import (
    Event,
)
from selfplay_core.state import (
    SchedulerState,
    SourceBook,
)

# --- expiry (§4) ----------------------------------------------------------------------------


def lapse(state: SchedulerState, now: float) -> tuple[SchedulerState, tuple[Event, ...]]:
    """Every boost and backoff due at `now` ends. A boost above 1.0 returns to 1.0 and the
    reference's SELFPLAY_TARGET_UPDATED "exploration_boost_expired" is emitted; the feedback
    source's last boost report for that config is forgotten, so its next report applies again."""
    configs = thaw(state.configs)
    emitted: list[Event] = []
    reported = state.sources.reported
    forgotten: list[int] = []
    for key, cs in configs.items():
        expires = cs.exploration_boost_expires_at
        if expires and expires <= now:
            if cs.exploration_boost > 1.0:
                configs[key] = replace_config(cs, eb=1.0, xa=0.0)
                emitted.append(
                    target_updated_event(key, "normal", "exploration_boost_expired", 1.0)
                )
                forgotten.append(key.index)
            else:
                configs[key] = replace_config(cs, xa=0.0)
    books = state.books
    if forgotten and "feedback_boost" in reported:
        kept = list(reported["feedback_boost"])
        for index in forgotten:
            kept[index] = None
        changed = dict(reported)
        changed["feedback_boost"] = tuple(kept)
        sources = SourceBook(books.sources.last_refresh, MappingProxyType(changed))
        books = build_books(books.elo, sources, books.allocations, books.unknown_events)
    cluster = state.cluster
    overloaded = cluster.overloaded_until
    if any(until <= now for until in overloaded.values()):
        overloaded = MappingProxyType({n: t for n, t in overloaded.items() if t > now})
        cluster = replace_cluster(cluster, overloaded=overloaded)
    frozen_configs = MappingProxyType(configs)
    next_expiry = next_expiry_of(frozen_configs, overloaded)
    lapsed = scheduler_state(
        frozen_configs, cluster, books, state.ledger.with_next_expiry(next_expiry)
    )
    return lapsed, tuple(emitted)
