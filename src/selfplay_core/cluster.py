"""What the scheduler knows about the nodes and the cluster (plain data; the maths lives in
allocation): `NodeCapability`, `Backpressure`, `ClusterState`."""

from __future__ import annotations

import math
import types
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from selfplay_core._validators import count, finite, non_empty_text, non_negative

if TYPE_CHECKING:
    from selfplay_core.allocation_policy import AllocationPolicy, BackpressureRules


@attrs.frozen
class NodeCapability:
    """One node as last reported: GPU type and memory, load in [0, 1], running jobs."""

    node_id: str = attrs.field(validator=non_empty_text)
    gpu_type: str = "unknown"
    gpu_memory_gb: float = attrs.field(default=0.0, validator=non_negative)
    is_ephemeral: bool = False
    current_load: float = attrs.field(default=0.0, validator=finite)
    current_jobs: int = attrs.field(default=0, validator=count)
    data_lag_seconds: float = attrs.field(default=0.0, validator=non_negative)


def _pressure(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    non_negative(_inst, attribute, value)


@attrs.frozen
class Backpressure:
    """The reference's backpressure signal (backpressure.py 44-110) as its inputs: queue,
    training, disk, sync and memory pressures (0 = idle, 1 = full). The rules that turn them into
    a spawn-rate multiplier and a pause live in `AllocationPolicy.backpressure`.

    `emergency_active` is the reference's `is_emergency_active_fn` (job targets drop to 0)."""

    queue_pressure: float = attrs.field(default=0.0, validator=_pressure)
    training_pressure: float = attrs.field(default=0.0, validator=_pressure)
    disk_pressure: float = attrs.field(default=0.0, validator=_pressure)
    sync_pressure: float = attrs.field(default=0.0, validator=_pressure)
    memory_pressure: float = attrs.field(default=0.0, validator=_pressure)
    emergency_active: bool = False

    def overall_pressure(self, rules: BackpressureRules) -> float:
        w = rules.weights
        return (
            w.get("queue", 0.0) * self.queue_pressure
            + w.get("training", 0.0) * self.training_pressure
            + w.get("disk", 0.0) * self.disk_pressure
            + w.get("sync", 0.0) * self.sync_pressure
            + w.get("memory", 0.0) * self.memory_pressure
        )

    def spawn_rate_multiplier(self, rules: BackpressureRules) -> float:
        """1.0 below `low_pressure`, 0.0 above `high_pressure`, linear in between."""
        p = self.overall_pressure(rules)
        if p < rules.low_pressure:
            return 1.0
        if p > rules.high_pressure:
            return 0.0
        span = rules.high_pressure - rules.low_pressure
        return max(0.0, min(1.0, 1.0 - (p - rules.low_pressure) / span))

    def should_pause(self, rules: BackpressureRules) -> bool:
        return self.spawn_rate_multiplier(rules) < rules.pause_below_multiplier


@attrs.frozen
class SpawnPause:
    """Spawning paused by the facade: `pause_spawning()` (`until` None: until resumed) or
    `activate_backpressure(reason, duration)` (`until` = when it was asked + duration). While
    it holds, every batch is empty (mode "paused")."""

    reason: str = "pause_spawning"
    until: float | None = None

    def holds_at(self, now: float) -> bool:
        return self.until is None or now < self.until


def _nodes_by_id(value: Iterable[NodeCapability]) -> tuple[NodeCapability, ...]:
    """Keep one capability per node id (the last given wins), ordered by id."""
    by_id: dict[str, NodeCapability] = {}
    for node in value:
        if not isinstance(node, NodeCapability):
            raise TypeError(f"nodes: expected NodeCapability, got {type(node).__name__}")
        by_id[node.node_id] = node
    return tuple(by_id[key] for key in sorted(by_id))


def _node_set(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


def _overload_map(value: Mapping[str, float]) -> Mapping[str, float]:
    return types.MappingProxyType({str(k): value[k] for k in sorted(value)})


def _check_overloads(
    _inst: Any, attribute: attrs.Attribute[Any], value: Mapping[str, float]
) -> None:
    for node_id, until in value.items():
        number = isinstance(until, int | float) and not isinstance(until, bool)
        if not number or not math.isfinite(until):
            raise ValueError(f"{attribute.name}.{node_id}: expected a finite time, got {until!r}")


def _health(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    non_negative(_inst, attribute, value)
    if value > 1:
        raise ValueError(f"{attribute.name}: must lie in [0, 1], got {value!r}")


@attrs.frozen
class ClusterState:
    """What allocation knows of the cluster at one moment.

    `nodes` keeps one capability per id (ordered by id); `unhealthy_nodes` are excluded;
    `overloaded_until` maps node id → the time its overload backoff ends (excluded while
    `now <` that time); `health_factor` (≤ 1) scales the batch down; `backpressure` may pause or
    throttle it; `spawn_pause` (when it holds at the request's time) empties it."""

    nodes: tuple[NodeCapability, ...] = attrs.field(default=(), converter=_nodes_by_id)
    unhealthy_nodes: frozenset[str] = attrs.field(default=frozenset(), converter=_node_set)
    overloaded_until: Mapping[str, float] = attrs.field(
        factory=dict, converter=_overload_map, validator=_check_overloads
    )
    health_factor: float = attrs.field(default=1.0, validator=_health)
    backpressure: Backpressure | None = None
    spawn_pause: SpawnPause | None = None

    def is_under_backoff(self, node_id: str, now: float) -> bool:
        return self.overloaded_until.get(node_id, 0.0) > now


def cluster_health_factor(healthy: int, total: int, policy: AllocationPolicy) -> float:
    """`_on_cluster_unhealthy`: max(floor, healthy/total), `unknown` when total is 0; ≤ 1."""
    if total <= 0:
        return policy.health_factor_unknown
    return min(1.0, max(policy.health_factor_floor, healthy / total))
