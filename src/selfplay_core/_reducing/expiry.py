"""Expiry (events.md §4): boosts and backoffs that are due lapse before an envelope applies."""

from __future__ import annotations

from types import MappingProxyType

import attrs

from selfplay_core._reducing.common import Outcome
from selfplay_core.configs import ConfigKey
from selfplay_core.events import Event, SelfplayTargetUpdated
from selfplay_core.state import ConfigState, SchedulerState, dict_copy, earliest_expiry


def lapse(state: SchedulerState, at: float) -> Outcome:
    """Every boost and backoff due at `at` ends. A boost above 1.0 returns to 1.0 and the
    reference's SELFPLAY_TARGET_UPDATED "exploration_boost_expired" is emitted; the feedback
    source's last boost report for that config is forgotten, so its next report applies again.
    The configs are copied only when a boost lapses (most lapses are backoffs)."""
    configs = state.configs
    changed: dict[ConfigKey, ConfigState] | None = None
    emitted: list[Event] = []
    forgotten: list[int] = []
    for key, config in configs.items():
        expires = config.exploration_boost_expires_at
        if not expires or expires > at:
            continue
        if changed is None:
            changed = dict_copy(configs)
        if config.exploration_boost > 1.0:
            changed[key] = config.with_boost(1.0, 0.0)
            emitted.append(
                SelfplayTargetUpdated(
                    config_key=key, reason="exploration_boost_expired", exploration_boost=1.0
                )
            )
            forgotten.append(key.index)
        else:
            changed[key] = config.with_boost(config.exploration_boost, 0.0)
    if changed is not None:
        configs = MappingProxyType(changed)
    books = state.books
    reported = books.sources.reported
    if forgotten and "feedback_boost" in reported:
        kept = list(reported["feedback_boost"])
        for index in forgotten:
            kept[index] = None
        reports = MappingProxyType({**reported, "feedback_boost": tuple(kept)})
        books = attrs.evolve(books, sources=attrs.evolve(books.sources, reported=reports))
    cluster = state.cluster
    overloaded = cluster.overloaded_until
    if any(until <= at for until in overloaded.values()):
        overloaded = MappingProxyType({n: t for n, t in overloaded.items() if t > at})
        cluster = attrs.evolve(cluster, overloaded_until=overloaded)
    soonest = earliest_expiry(configs, overloaded)
    return Outcome(configs, cluster, books, soonest, tuple(emitted))
