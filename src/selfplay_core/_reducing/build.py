"""Fast constructors for the reducer's frozen values, for inputs already known to be valid.

An attrs frozen class's `__init__` sets each slot through `object.__setattr__` by name and runs
the fields' converters and validators. On the reducer's hot path every value comes from a
validated event, the policy, or the state itself (whose invariants hold), so these builders
skip that work: they create the instance with `object.__new__` and fill the slots through the
slots' own descriptors (C-level). The results are ordinary instances of the public classes,
equal to what the class's constructor would build from the same arguments, and as immutable.

Never use them on data from outside: that must go through the class (or the codec).
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


_CS: Final = _slot_setters(ConfigState)
_CS0, _CS1, _CS2, _CS3, _CS4, _CS5, _CS6, _CS7, _CS8, _CS9 = _CS


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
    new = _new(ConfigState)
    _CS0(new, sh)
    _CS1(new, ev)
    _CS2(new, tp)
    _CS3(new, eb)
    _CS4(new, xa)
    _CS5(new, cw)
    _CS6(new, qp)
    _CS7(new, mm)
    _CS8(new, sb)
    _CS9(new, facts)
    return new


_CF: Final = _slot_setters(ConfigFacts)
_CF0, _CF1, _CF2, _CF3, _CF4, _CF5, _CF6, _CF7 = _CF


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
    new = _new(ConfigFacts)
    _CF0(new, current_elo)
    _CF1(new, game_count)
    _CF2(new, quality_score)
    _CF3(new, cascade_multiplier)
    _CF4(new, improvement_boost)
    _CF5(new, priority_override)
    _CF6(new, target_training_samples)
    _CF7(new, samples_per_game_estimate)
    return new


SCHEDULER_STATE_SETTERS: Final = _slot_setters(SchedulerState)
_SS0, _SS1, _SS2, _SS3 = SCHEDULER_STATE_SETTERS


def scheduler_state(
    configs: Mapping[ConfigKey, ConfigState], cluster: ClusterFacts, books: Books, ledger: Ledger
) -> SchedulerState:
    new = _new(SchedulerState)
    _SS0(new, configs)
    _SS1(new, cluster)
    _SS2(new, books)
    _SS3(new, ledger)
    return new


_CL: Final = _slot_setters(ClusterFacts)
_CL0, _CL1, _CL2, _CL3, _CL4, _CL5, _CL6 = _CL


def cluster_facts(
    nodes: Any,
    unhealthy: frozenset[str],
    overloaded: Mapping[str, float],
    health: float,
    backpressure: Any,
    backpressure_active: bool,
    queue_depth: int,
) -> ClusterFacts:
    new = _new(ClusterFacts)
    _CL0(new, nodes)
    _CL1(new, unhealthy)
    _CL2(new, overloaded)
    _CL3(new, health)
    _CL4(new, backpressure)
    _CL5(new, backpressure_active)
    _CL6(new, queue_depth)
    return new


_BK0, _BK1, _BK2, _BK3 = _slot_setters(Books)


def books(elo: EloTracking, sources: SourceBook, allocations: Any, unknown: Any) -> Books:
    new = _new(Books)
    _BK0(new, elo)
    _BK1(new, sources)
    _BK2(new, allocations)
    _BK3(new, unknown)
    return new


_ET0, _ET1 = _slot_setters(EloTracking)


def elo_tracking(
    history: Mapping[ConfigKey, Any], velocity: Mapping[ConfigKey, float]
) -> EloTracking:
    new = _new(EloTracking)
    _ET0(new, history)
    _ET1(new, velocity)
    return new


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
