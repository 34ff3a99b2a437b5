"""Shared pieces of the event handlers: the handler contract (`Outcome` and the functions that
build it, `Handler`), bounds, and the boost rule."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple, TypeAlias

from selfplay_core.configs import ConfigKey
from selfplay_core.event_policy import EventPolicy
from selfplay_core.events import Event
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.state import (
    MAX_MAGNITUDE,
    Books,
    ClusterFacts,
    ConfigState,
    SchedulerState,
    earliest_expiry,
    with_item,
)

#: The payload `source` the scheduler puts on its own CURRICULUM_REBALANCED (the loop guard).
SCHEDULER_SOURCE: Final = "selfplay_scheduler"

MAX_COUNT: Final = int(MAX_MAGNITUDE)


class Outcome(NamedTuple):
    """What one handler did, by named part: the configs, cluster and books it changed (None:
    unchanged), the earliest boost or backoff expiry after it (None: unchanged), and the
    events the reference would publish, in order. `reduce` builds the one new state from the
    parts and the recorded ledger, so a step builds one `SchedulerState`, not two. (A named
    tuple: immutable, read by name, and the cheapest value to build once per envelope.)
    Handlers build it with `UNCHANGED`, `config_changed`, `configs_changed`,
    `cluster_changed`, `books_changed` or `whole`."""

    configs: Mapping[ConfigKey, ConfigState] | None = None
    cluster: ClusterFacts | None = None
    books: Books | None = None
    next_expiry_at: float | None = None
    emitted: tuple[Event, ...] = ()


#: A handler that changes nothing and emits nothing.
UNCHANGED: Final = Outcome()


def config_changed(
    state: SchedulerState, key: ConfigKey, config: ConfigState, emitted: tuple[Event, ...] = ()
) -> Outcome:
    """Config `key` becomes `config` (the expiry kept exact as `with_config` keeps it)."""
    before = state.configs[key]
    if config is before:
        return Outcome(emitted=emitted)
    configs = with_item(state.configs, key, config)
    soonest = state.expiry_with_config(before, config, configs)
    return Outcome(configs, None, None, soonest, emitted)


def configs_changed(
    state: SchedulerState,
    configs: Mapping[ConfigKey, ConfigState],
    emitted: tuple[Event, ...] = (),
) -> Outcome:
    """Every config replaced (`configs` in canonical order)."""
    soonest = earliest_expiry(configs, state.cluster.overloaded_until)
    return Outcome(configs, None, None, soonest, emitted)


def cluster_changed(state: SchedulerState, cluster: ClusterFacts) -> Outcome:
    """The cluster becomes `cluster` (its overload backoffs may move the next expiry)."""
    return Outcome(None, cluster, None, state.expiry_with_cluster(cluster))


def books_changed(books: Books) -> Outcome:
    return Outcome(None, None, books)


def whole(state: SchedulerState, emitted: tuple[Event, ...] = ()) -> Outcome:
    """Every part of `state` (for the rare handlers that change several parts through the
    state's own `with_…` methods)."""
    return Outcome(state.configs, state.cluster, state.books, state.next_expiry_at, emitted)


#: A handler: `(state, event, at, policy) -> Outcome`, `event` of the class it is registered
#: for, `at` the envelope's time (never before the state's `last_at`).
Handler: TypeAlias = Callable[[SchedulerState, Any, float, SchedulerPolicy], Outcome]


def same(old: object, new: object) -> bool:
    """`new` would store exactly what `old` is: same type and value, and for a zero the same
    sign (so skipping the write changes nothing, not even how the state encodes)."""
    if old is new:
        return True
    if type(old) is not type(new) or old != new:
        return False
    return bool(old) or str(old) == str(new)


def bounded(value: float) -> float:
    """Keep an outside number within ±MAX_MAGNITUDE (NaN never gets here: decode rejects it)."""
    if value > MAX_MAGNITUDE:
        return MAX_MAGNITUDE
    if value < -MAX_MAGNITUDE:
        return -MAX_MAGNITUDE
    return value


def as_weight(value: float) -> float:
    """A weight or multiplier: not negative, bounded."""
    if value < 0.0:
        return 0.0
    return MAX_MAGNITUDE if value > MAX_MAGNITUDE else value


def boost_from(
    old: float, expires: float, new: float, at: float, duration: float, ep: EventPolicy
) -> tuple[float, float]:
    """The boost `new` clamped to the policy's bounds, and its expiry, from a boost `old`
    expiring at `expires`: a boost raised above 1.0 lasts at least `duration` from `at`;
    lowering a boost keeps its expiry; a boost that ends ≤ 1.0 keeps whatever expiry it had
    (it lapses harmlessly)."""
    if new < ep.min_exploration_boost:
        new = ep.min_exploration_boost
    elif new > ep.max_exploration_boost:
        new = ep.max_exploration_boost
    if new > 1.0 and (new > old or expires == 0.0):
        until = at + duration
        if until > expires:
            expires = until
    return new, expires


def boosted(config: ConfigState, new: float, at: float, ep: EventPolicy) -> ConfigState:
    """`config` with its boost set to `new` by `boost_from` (the policy's boost lifetime);
    `config` itself when that is exactly what it holds."""
    old, expires = config.exploration_boost, config.exploration_boost_expires_at
    boost, until = boost_from(old, expires, new, at, ep.boost_lifetime_seconds, ep)
    if same(old, boost) and same(expires, until):
        return config
    return config.with_boost(boost, until)
