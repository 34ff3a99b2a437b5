"""Expiry (events.md §4): boosts and backoffs that are due lapse before an envelope applies."""

from __future__ import annotations

from types import MappingProxyType

from selfplay_core._reducing.build import books as build_books
from selfplay_core._reducing.build import scheduler_state, source_book, target_updated_event
from selfplay_core._reducing.common import (
    replace_cluster,
    replace_config,
    thaw,
)
from selfplay_core.configs import ConfigKey
from selfplay_core.events import (
    Event,
)
from selfplay_core.state import (
    ConfigState,
    SchedulerState,
)

# --- expiry (§4) ----------------------------------------------------------------------------


def lapse(state: SchedulerState, now: float) -> tuple[SchedulerState, tuple[Event, ...]]:
    """Every boost and backoff due at `now` ends. A boost above 1.0 returns to 1.0 and the
    reference's SELFPLAY_TARGET_UPDATED "exploration_boost_expired" is emitted; the feedback
    source's last boost report for that config is forgotten, so its next report applies again.

    One pass over the configs and one over the backoffs, which also find the next expiry; the
    configs are copied only when a boost lapses (most lapses are backoffs)."""
    configs = state.configs
    changed: dict[ConfigKey, ConfigState] | None = None
    emitted: list[Event] = []
    forgotten: list[int] = []
    soonest = 0.0
    for key, cs in configs.items():
        expires = cs.exploration_boost_expires_at
        if not expires:
            continue
        if expires > now:
            if soonest == 0.0 or expires < soonest:
                soonest = expires
            continue
        if changed is None:
            changed = thaw(configs)
        if cs.exploration_boost > 1.0:
            changed[key] = replace_config(cs, eb=1.0, xa=0.0)
            emitted.append(target_updated_event(key, "normal", "exploration_boost_expired", 1.0))
            forgotten.append(key.index)
        else:
            changed[key] = replace_config(cs, xa=0.0)
    if changed is not None:
        configs = MappingProxyType(changed)
    books = state.books
    reported = books.sources.reported
    if forgotten and "feedback_boost" in reported:
        kept = list(reported["feedback_boost"])
        for index in forgotten:
            kept[index] = None
        changed_reports = dict(reported)
        changed_reports["feedback_boost"] = tuple(kept)
        sources = source_book(books.sources.last_refresh, MappingProxyType(changed_reports))
        books = build_books(books.elo, sources, books.allocations, books.unknown_events)
    cluster = state.cluster
    overloaded = cluster.overloaded_until
    for until in overloaded.values():
        if until <= now:
            overloaded = MappingProxyType({n: t for n, t in overloaded.items() if t > now})
            cluster = replace_cluster(cluster, overloaded=overloaded)
            break
    for until in overloaded.values():
        if soonest == 0.0 or until < soonest:
            soonest = until
    ledger = state.ledger.with_next_expiry(soonest)
    return scheduler_state(configs, cluster, books, ledger), tuple(emitted)
