"""Fast constructors for the reducer's frozen values, for inputs already known to be valid.

An attrs frozen class's `__init__` sets each slot through `object.__setattr__` by name and runs
the fields' converters and validators. On the reducer's hot path every value comes from a
validated event, the policy, or the state itself (whose invariants hold), so these builders
skip that work.

The state's own parts (`ConfigState`, `ConfigFacts`, `ClusterFacts`, `Books`, `EloTracking`,
`SchedulerState`) are filled as an instance of a private writable *twin*: a plain class with
exactly the same slots, whose stores are ordinary (specialised) attribute stores. The finished
instance then becomes the public class by `__class__` assignment, which CPython allows only
between identical slot layouts (it checks, and raises TypeError otherwise). That is half the
cost of calling each slot descriptor's `__set__`. Classes of other modules (events, nodes) are
filled through their slot descriptors (C-level), as before.

The results are ordinary instances of the public classes, equal to what the class's
constructor would build from the same arguments, and as immutable: once the class is
assigned, the frozen `__setattr__` applies. Never use them on data from outside: that must go
through the class (or the codec).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from selfplay_core.cluster import NodeCapability
from selfplay_core.configs import ConfigKey
from selfplay_core.events import SelfplayRateChanged, SelfplayTargetUpdated
from selfplay_core.state import (
    Books,
    ClusterFacts,
    ConfigFacts,
    ConfigState,
    EloTracking,
    Ledger,
    SchedulerState,
    SourceBook,
)

_new: Final = object.__new__


def _slot_setters(cls: type[Any]) -> tuple[Callable[[Any, Any], None], ...]:
    """The slot descriptors' `__set__`, in field order (they ignore the frozen `__setattr__`)."""
    setters = tuple(cls.__dict__[field.name].__set__ for field in attrs.fields(cls))
    if not setters or len(cls.__slots__) < len(setters):  # not a slotted attrs class
        raise TypeError(f"{cls.__name__}: not a slotted attrs class")
    return setters


def _writable_twin(cls: type[Any]) -> type[Any]:
    """A plain class with exactly `cls`'s slots (same names, same order, no `__weakref__` or
    `__dict__`), so an instance filled through it can become a `cls` by `__class__` assignment."""
    slots = tuple(cls.__slots__)
    fields = tuple(field.name for field in attrs.fields(cls))
    if slots != fields or cls.__weakrefoffset__ or cls.__dictoffset__ or cls.__bases__ != (object,):
        raise TypeError(f"{cls.__name__}: not a slotted attrs class with a plain slot layout")
    return type(f"_Writable{cls.__name__}", (), {"__slots__": slots})


_CS_TWIN: Final = _writable_twin(ConfigState)


def config_state(
    sh: float,
    ev: float,
    tp: bool,
    eb: float,
    xa: float,
    cw: float,
    qp: float,
    mm: float,
    sb: float,
    facts: ConfigFacts,
) -> ConfigState:
    """`ConfigState(sh, ev, tp, eb, xa, cw, qp, mm, sb, facts)`, without the `__init__`."""
    new = _new(_CS_TWIN)
    new.staleness_hours = sh
    new.elo_velocity = ev
    new.training_pending = tp
    new.exploration_boost = eb
    new.exploration_boost_expires_at = xa
    new.curriculum_weight = cw
    new.quality_penalty = qp
    new.momentum_multiplier = mm
    new.search_budget = sb
    new.facts = facts
    new.__class__ = ConfigState
    return new  # type: ignore[no-any-return]


_CF_TWIN: Final = _writable_twin(ConfigFacts)


def config_facts(
    current_elo: float,
    game_count: int,
    quality_score: float,
    cascade_multiplier: float,
    improvement_boost: float,
    priority_override: int,
    target_training_samples: int,
    samples_per_game_estimate: float,
) -> ConfigFacts:
    new = _new(_CF_TWIN)
    new.current_elo = current_elo
    new.game_count = game_count
    new.quality_score = quality_score
    new.cascade_multiplier = cascade_multiplier
    new.improvement_boost = improvement_boost
    new.priority_override = priority_override
    new.target_training_samples = target_training_samples
    new.samples_per_game_estimate = samples_per_game_estimate
    new.__class__ = ConfigFacts
    return new  # type: ignore[no-any-return]


SCHEDULER_STATE_TWIN: Final = _writable_twin(SchedulerState)


def scheduler_state(
    configs: Mapping[ConfigKey, ConfigState], cluster: ClusterFacts, books: Books, ledger: Ledger
) -> SchedulerState:
    new = _new(SCHEDULER_STATE_TWIN)
    new.configs = configs
    new.cluster = cluster
    new.books = books
    new.ledger = ledger
    new.__class__ = SchedulerState
    return new  # type: ignore[no-any-return]


_CL_TWIN: Final = _writable_twin(ClusterFacts)


def cluster_facts(
    nodes: Any,
    unhealthy: frozenset[str],
    overloaded: Mapping[str, float],
    health: float,
    backpressure: Any,
    backpressure_active: bool,
    queue_depth: int,
    spawn_pause: Any,
) -> ClusterFacts:
    new = _new(_CL_TWIN)
    new.nodes = nodes
    new.unhealthy_nodes = unhealthy
    new.overloaded_until = overloaded
    new.health_factor = health
    new.backpressure = backpressure
    new.backpressure_active = backpressure_active
    new.training_queue_depth = queue_depth
    new.spawn_pause = spawn_pause
    new.__class__ = ClusterFacts
    return new  # type: ignore[no-any-return]


_BK_TWIN: Final = _writable_twin(Books)


def books(elo: EloTracking, sources: SourceBook, allocations: Any, unknown: Any) -> Books:
    new = _new(_BK_TWIN)
    new.elo = elo
    new.sources = sources
    new.allocations = allocations
    new.unknown_events = unknown
    new.__class__ = Books
    return new  # type: ignore[no-any-return]


_ET_TWIN: Final = _writable_twin(EloTracking)


def elo_tracking(
    history: Mapping[ConfigKey, Any], velocity: Mapping[ConfigKey, float]
) -> EloTracking:
    new = _new(_ET_TWIN)
    new.history = history
    new.velocity_per_hour = velocity
    new.__class__ = EloTracking
    return new  # type: ignore[no-any-return]


_SB_TWIN: Final = _writable_twin(SourceBook)


def source_book(last_refresh: Mapping[str, float], reported: Mapping[str, Any]) -> SourceBook:
    new = _new(_SB_TWIN)
    new.last_refresh = last_refresh
    new.reported = reported
    new.__class__ = SourceBook
    return new  # type: ignore[no-any-return]


_TU: Final = _slot_setters(SelfplayTargetUpdated)
_TU0, _TU1, _TU2, _TU3, _TU4, _TU5, _TU6, _TU7 = _TU


def target_updated_event(
    config_key: ConfigKey,
    priority: str,
    reason: str,
    exploration_boost: float,
    *,
    search_budget: float = 0.0,
    curriculum_weight: float | None = None,
    momentum_multiplier: float | None = None,
    anomaly_count: int | None = None,
) -> SelfplayTargetUpdated:
    """The SELFPLAY_TARGET_UPDATED the reducer emits (its inputs are the state's own values)."""
    return target_updated_in_order(
        config_key,
        priority,
        reason,
        search_budget,
        exploration_boost,
        curriculum_weight,
        momentum_multiplier,
        anomaly_count,
    )


def target_updated_in_order(
    config_key: ConfigKey,
    priority: str,
    reason: str,
    search_budget: float,
    exploration_boost: float,
    curriculum_weight: float | None,
    momentum_multiplier: float | None,
    anomaly_count: int | None,
) -> SelfplayTargetUpdated:
    """`target_updated_event` with every field positional, in field order (for the hot path:
    ELO_VELOCITY_CHANGED emits one per envelope)."""
    new = _new(SelfplayTargetUpdated)
    _TU0(new, config_key)
    _TU1(new, priority)
    _TU2(new, reason)
    _TU3(new, search_budget)
    _TU4(new, exploration_boost)
    _TU5(new, curriculum_weight)
    _TU6(new, momentum_multiplier)
    _TU7(new, anomaly_count)
    return new


_RC0, _RC1, _RC2, _RC3, _RC4 = _slot_setters(SelfplayRateChanged)


def rate_changed_event(
    config_key: ConfigKey, new_rate: float, old_rate: float, change_percent: float, reason: str
) -> SelfplayRateChanged:
    """The SELFPLAY_RATE_CHANGED the reducer emits (bounded numbers from the state)."""
    new = _new(SelfplayRateChanged)
    _RC0(new, config_key)
    _RC1(new, new_rate)
    _RC2(new, old_rate)
    _RC3(new, change_percent)
    _RC4(new, reason)
    return new


_NC0, _NC1, _NC2, _NC3, _NC4, _NC5, _NC6 = _slot_setters(NodeCapability)


def node_with_load(node: NodeCapability, load: float) -> NodeCapability:
    """`attrs.evolve(node, current_load=load)` for a finite `load` (the policy's, validated)."""
    new = _new(NodeCapability)
    _NC0(new, node.node_id)
    _NC1(new, node.gpu_type)
    _NC2(new, node.gpu_memory_gb)
    _NC3(new, node.is_ephemeral)
    _NC4(new, load)
    _NC5(new, node.current_jobs)
    _NC6(new, node.data_lag_seconds)
    return new
