"""Shared pieces of the event handlers: the handler contract, fast field replacement, bounds,
boost expiry and the expiry cache."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, TypeAlias, TypeVar

from selfplay_core._reducing.build import cluster_facts, config_state
from selfplay_core.configs import ConfigKey
from selfplay_core.event_policy import EventPolicy
from selfplay_core.events import (
    Event,
)
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.state import (
    MAX_MAGNITUDE,
    Books,
    ClusterFacts,
    ConfigState,
    SchedulerState,
)

#: The payload `source` the scheduler puts on its own CURRICULUM_REBALANCED (the loop guard).
SCHEDULER_SOURCE: Final = "selfplay_scheduler"

MAX_COUNT: Final = int(MAX_MAGNITUDE)

# What a handler changes: (configs, cluster, books, next_expiry_at, emitted).
Out: TypeAlias = tuple[
    Mapping[ConfigKey, ConfigState],
    ClusterFacts,
    Books,
    float,
    tuple[Event, ...],
]
Handler: TypeAlias = Callable[[SchedulerState, Any, float, SchedulerPolicy], Out | None]


# --- small helpers --------------------------------------------------------------------------

_KEEP: Final[Any] = object()


def replace_config(
    cs: ConfigState,
    *,
    sh: Any = _KEEP,
    ev: Any = _KEEP,
    tp: Any = _KEEP,
    eb: Any = _KEEP,
    xa: Any = _KEEP,
    cw: Any = _KEEP,
    qp: Any = _KEEP,
    mm: Any = _KEEP,
    sb: Any = _KEEP,
    facts: Any = _KEEP,
) -> ConfigState:
    """`cs` with some fields replaced (a fast, explicit `attrs.evolve`)."""
    return config_state(
        cs.staleness_hours if sh is _KEEP else sh,
        cs.elo_velocity if ev is _KEEP else ev,
        cs.training_pending if tp is _KEEP else tp,
        cs.exploration_boost if eb is _KEEP else eb,
        cs.exploration_boost_expires_at if xa is _KEEP else xa,
        cs.curriculum_weight if cw is _KEEP else cw,
        cs.quality_penalty if qp is _KEEP else qp,
        cs.momentum_multiplier if mm is _KEEP else mm,
        cs.search_budget if sb is _KEEP else sb,
        cs.facts if facts is _KEEP else facts,
    )


_K = TypeVar("_K")
_V = TypeVar("_V")


def thaw(mapping: Mapping[_K, _V]) -> dict[_K, _V]:
    """A mutable copy; a mappingproxy's dict is copied directly (no rehashing of the keys)."""
    if type(mapping) is MappingProxyType:
        return mapping.copy()
    return dict(mapping)


def with_boost(cs: ConfigState, eb: float, xa: float) -> ConfigState:
    """`cs` with boost `eb` expiring at `xa`; `cs` itself when that is what it holds."""
    if same(cs.exploration_boost, eb) and same(cs.exploration_boost_expires_at, xa):
        return cs
    return config_state(  # `replace_config(cs, eb=eb, xa=xa)`, positional: a hot path
        cs.staleness_hours,
        cs.elo_velocity,
        cs.training_pending,
        eb,
        xa,
        cs.curriculum_weight,
        cs.quality_penalty,
        cs.momentum_multiplier,
        cs.search_budget,
        cs.facts,
    )


def put_config(
    configs: Mapping[ConfigKey, ConfigState], key: ConfigKey, cs: ConfigState
) -> Mapping[ConfigKey, ConfigState]:
    changed = configs.copy() if type(configs) is MappingProxyType else dict(configs)
    changed[key] = cs
    return MappingProxyType(changed)


def replace_cluster(
    c: ClusterFacts,
    *,
    nodes: Any = _KEEP,
    unhealthy: Any = _KEEP,
    overloaded: Any = _KEEP,
    health: Any = _KEEP,
    backpressure: Any = _KEEP,
    backpressure_active: Any = _KEEP,
    queue_depth: Any = _KEEP,
    spawn_pause: Any = _KEEP,
) -> ClusterFacts:
    """`c` with some fields replaced (a fast, explicit `attrs.evolve`)."""
    return cluster_facts(
        c.nodes if nodes is _KEEP else nodes,
        c.unhealthy_nodes if unhealthy is _KEEP else unhealthy,
        c.overloaded_until if overloaded is _KEEP else overloaded,
        c.health_factor if health is _KEEP else health,
        c.backpressure if backpressure is _KEEP else backpressure,
        c.backpressure_active if backpressure_active is _KEEP else backpressure_active,
        c.training_queue_depth if queue_depth is _KEEP else queue_depth,
        c.spawn_pause if spawn_pause is _KEEP else spawn_pause,
    )


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


def boost_of(
    cs: ConfigState, new: float, now: float, duration: float, ep: EventPolicy
) -> tuple[float, float]:
    """The boost `new` (clamped to the policy's bounds) and its expiry, from `cs`'s (the body of
    `boost_from`, repeated: this is on the path of every boosting event)."""
    expires = cs.exploration_boost_expires_at
    if new < ep.min_exploration_boost:
        new = ep.min_exploration_boost
    elif new > ep.max_exploration_boost:
        new = ep.max_exploration_boost
    if new > 1.0 and (new > cs.exploration_boost or expires == 0.0):
        until = now + duration
        if until > expires:
            expires = until
    return new, expires


def boost_from(
    old: float, expires: float, new: float, now: float, duration: float, ep: EventPolicy
) -> tuple[float, float]:
    """A boost raised above 1.0 lasts at least `duration` from now; lowering a boost keeps its
    expiry; a boost that ends ≤ 1.0 keeps whatever expiry it had (it lapses harmlessly)."""
    if new < ep.min_exploration_boost:
        new = ep.min_exploration_boost
    elif new > ep.max_exploration_boost:
        new = ep.max_exploration_boost
    if new > 1.0 and (new > old or expires == 0.0):
        until = now + duration
        if until > expires:
            expires = until
    return new, expires


def sooner(next_expiry: float, expires: float) -> float:
    if expires and (next_expiry == 0.0 or expires < next_expiry):
        return expires
    return next_expiry


def one_config(
    s: SchedulerState, key: ConfigKey, cs: ConfigState, emitted: tuple[Event, ...] = ()
) -> Out:
    """Config `key` replaced by `cs` (its boost expiry unchanged)."""
    configs = s.configs
    changed = configs.copy() if type(configs) is MappingProxyType else dict(configs)
    changed[key] = cs
    return (MappingProxyType(changed), s.cluster, s.books, s.ledger.next_expiry_at, emitted)


def config_out(
    state: SchedulerState,
    configs: Mapping[ConfigKey, ConfigState],
    next_expiry: float,
    emitted: tuple[Event, ...] = (),
) -> Out:
    return (configs, state.cluster, state.books, next_expiry, emitted)


def put_boosted_config(
    s: SchedulerState,
    key: ConfigKey,
    old: ConfigState,
    new: ConfigState,
    emitted: tuple[Event, ...] = (),
) -> Out | None:
    """`new` in place of `old`, keeping the expiry cache exact when the boost's expiry moved."""
    if new is old:  # nothing changed (see `replace_boost`)
        if not emitted:
            return None
        return (s.configs, s.cluster, s.books, s.ledger.next_expiry_at, emitted)
    configs = put_config(s.configs, key, new)
    before, after = old.exploration_boost_expires_at, new.exploration_boost_expires_at
    next_expiry = s.ledger.next_expiry_at
    if after != before:
        if before and before == next_expiry:  # the earliest expiry moved: find the new one
            next_expiry = next_expiry_of(configs, s.cluster.overloaded_until)
        else:
            next_expiry = sooner(next_expiry, after)
    return (configs, s.cluster, s.books, next_expiry, emitted)


def cluster_out(state: SchedulerState, cluster: ClusterFacts, next_expiry: float) -> Out:
    return (state.configs, cluster, state.books, next_expiry, ())


def next_expiry_of(
    configs: Mapping[ConfigKey, ConfigState], overloaded: Mapping[str, float]
) -> float:
    times = [cs.exploration_boost_expires_at for cs in configs.values()]
    times += overloaded.values()
    return min([t for t in times if t], default=0.0)
