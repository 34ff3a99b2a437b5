"""Metrics, status, top priorities and health, derived from a `SchedulerState` (pure).

The reference's status surface (allocation.md §8.3, §9) with the same keys and meanings, computed
at an explicit `now`. What only the shell can know (is it subscribed, which data sources are
failing, did its last refresh raise) comes in as a `ShellFacts` value.

Health has three levels, and the level is the status (the reference reported RUNNING even when
unhealthy):

- `unhealthy`: not subscribed to events; no priority data within the staleness limit (or none
  ever); no node that could take a game.
- `degraded`: still deciding, but some data source is failing or partial, some data is stale,
  backpressure throttles or pauses the batch, the cluster health factor is below 1, or the
  shell's last refresh raised.
- `healthy`: none of the above.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

from selfplay_core._validators import non_negative
from selfplay_core.allocation.capacity import exclusion_reason
from selfplay_core.allocation.values import BatchAllocation
from selfplay_core.decide import priorities
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.state import SchedulerState, cluster_state
from selfplay_core.values import ConfigPriority

__all__ = [
    "NODE_PARTS",
    "PRIORITY_PARTS",
    "HealthLimits",
    "HealthReport",
    "HealthStatus",
    "ShellFacts",
    "health_check",
    "last_priority_update",
    "priority_configs",
    "ranked_priorities",
    "scheduler_metrics",
    "scheduler_status",
    "top_priorities",
]

_REFERENCE_POLICY: Final = SchedulerPolicy()
_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})

#: `SourcesRefreshed` parts that the reference's priority refresh (`_update_priorities`) gathers.
PRIORITY_PARTS: Final[tuple[str, ...]] = (
    "staleness_hours",
    "elo_velocities",
    "feedback",
    "curriculum_weights",
    "improvement_boosts",
    "momentum_multipliers",
    "game_counts",
    "current_elos",
    "quality_scores",
    "cascade_multipliers",
    "priority_overrides",
)
#: Parts that the node-capability refresh gathers.
NODE_PARTS: Final[tuple[str, ...]] = ("nodes",)


# --- ranking -----------------------------------------------------------------------------------


def ranked_priorities(
    state: SchedulerState,
    now: float,
    policy: SchedulerPolicy = _REFERENCE_POLICY,
    top_n: int | None = None,
) -> tuple[ConfigPriority, ...]:
    """Every config ranked at `now` (highest score first, ties in canonical order); the list
    every status function and the facade read (`decide.priorities`)."""
    return priorities(state, now, policy, top_n)


def _ranking(
    state: SchedulerState, now: float, policy: SchedulerPolicy
) -> tuple[ConfigPriority, ...]:
    return priorities(state, now, policy)


# --- values ------------------------------------------------------------------------------------


@attrs.frozen
class HealthLimits:
    """When data counts as stale; by default the policy's `intervals.health_stale_seconds`."""

    stale_after_seconds: float = attrs.field(default=300.0, validator=non_negative)


def _limits(policy: SchedulerPolicy, limits: HealthLimits | None) -> HealthLimits:
    if limits is not None:
        return limits
    return HealthLimits(policy.intervals.health_stale_seconds)


def _names(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


def _text_map(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType({str(k): str(value[k]) for k in sorted(value)})


@attrs.frozen
class ShellFacts:
    """What the shell knows and the state cannot: whether it is subscribed to an event bus,
    whether data sources are attached (and which are failing or partial, source → reason), the
    last refresh error, and how many bus messages were rejected at decoding."""

    subscribed: bool = False
    sources_attached: bool = True
    failing_sources: Mapping[str, str] = attrs.field(default=_EMPTY, converter=_text_map)
    #: Failing sources that never produced a value (the state's defaults stand for them).
    failing_without_value: frozenset[str] = attrs.field(default=frozenset(), converter=_names)
    partial_sources: Mapping[str, str] = attrs.field(default=_EMPTY, converter=_text_map)
    refresh_error: str | None = None
    events_rejected: int = 0
    timers_running: bool = False


class HealthStatus(enum.StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@attrs.frozen
class HealthReport:
    """`health_check()`: the level, every reason for it (unhealthy ones first), and the
    reference's details plus ours (read-only: tuples and mappings; `as_dict()` for JSON).
    `healthy` is true unless the level is unhealthy: a degraded scheduler still decides (on
    its last good data)."""

    status: HealthStatus
    reasons: tuple[str, ...]
    details: Mapping[str, Any]

    @property
    def healthy(self) -> bool:
        return self.status is not HealthStatus.UNHEALTHY

    @property
    def message(self) -> str:
        if self.status is HealthStatus.HEALTHY:
            return "Running"
        if self.status is HealthStatus.DEGRADED:
            return "Degraded: " + "; ".join(self.reasons)
        return "; ".join(self.reasons)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (lists and dicts)."""
        return {
            "healthy": self.healthy,
            "status": str(self.status),
            "message": self.message,
            "reasons": list(self.reasons),
            "details": {key: _plain(value) for key, value in self.details.items()},
        }


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


# --- metrics -----------------------------------------------------------------------------------


def _games_in_window(state: SchedulerState, now: float, policy: SchedulerPolicy) -> int:
    window = policy.events.allocation_history_seconds
    return sum(games for at, games in state.allocations.history if now - at < window)


def scheduler_metrics(
    state: SchedulerState, now: float, policy: SchedulerPolicy = _REFERENCE_POLICY
) -> dict[str, Any]:
    """`get_metrics()` (allocation.md §8.3). "Last hour" counts the decisions with
    `now − at < window`, the same rule as `health_check` (the reference summed its unpruned
    history, so the two could disagree)."""
    window = policy.events.allocation_history_seconds
    in_window = _games_in_window(state, now, policy)
    book = state.allocations
    return {
        "games_allocated_total": book.games_total,
        "games_allocated_last_hour": in_window,
        "games_per_hour": in_window / (window / 3600.0),
        "allocation_window_seconds": window,
        "allocations_decided": book.decisions,
    }


# --- priorities --------------------------------------------------------------------------------


def priority_configs(
    state: SchedulerState,
    now: float,
    policy: SchedulerPolicy = _REFERENCE_POLICY,
    top_n: int | None = 12,
) -> list[tuple[str, float]]:
    """`get_priority_configs(top_n)`: (config, score), highest first, ties in canonical order,
    sliced like the reference (`[:top_n]`: 0 → [], a negative value drops from the end)."""
    ranked = _ranking(state, now, policy)
    chosen = ranked if top_n is None else ranked[:top_n]
    return [(str(p.config_key), p.score) for p in chosen]


def top_priorities(
    state: SchedulerState, now: float, policy: SchedulerPolicy = _REFERENCE_POLICY, n: int = 5
) -> list[dict[str, Any]]:
    """`get_top_priorities(n)` (allocation.md §9): the score key is "priority", as upstream.
    Scores are computed at `now` (upstream sorted cached scores from its last refresh)."""
    out = []
    for p in _ranking(state, now, policy)[:n]:
        cs = state.configs[p.config_key]
        out.append(
            {
                "config": str(p.config_key),
                "priority": p.score,
                "staleness_hours": cs.staleness_hours,
                "elo_velocity": cs.elo_velocity,
                "exploration_boost": cs.boost_at(now),
                "curriculum_weight": cs.curriculum_weight,
            }
        )
    return out


# --- status ------------------------------------------------------------------------------------


def last_priority_update(state: SchedulerState) -> float:
    """When priority data last arrived (the latest priority part refreshed), 0.0 if never —
    the reference's `_last_priority_update`."""
    refreshed = state.last_refresh
    times = [refreshed[part] for part in PRIORITY_PARTS if part in refreshed]
    return max(times) if times else 0.0


def _overloaded(state: SchedulerState, now: float) -> list[str]:
    return [node for node, until in state.overloaded_until.items() if until > now]


def scheduler_status(
    state: SchedulerState,
    now: float,
    policy: SchedulerPolicy = _REFERENCE_POLICY,
    facts: ShellFacts = ShellFacts(),
    last_allocation: BatchAllocation | None = None,
    limits: HealthLimits | None = None,
) -> dict[str, Any]:
    """`get_status()` (allocation.md §9): the reference's keys (`subscribed`,
    `last_priority_update`, `node_count`, `overloaded_nodes`, `config_priorities`), then ours.

    `overloaded_nodes` lists the backoffs still running at `now`, in node-id order, and reading
    it changes nothing. `games_allocated` is the config's share of `last_allocation` (0 when the
    last batch left it out; upstream kept a stale count)."""
    scores = {p.config_key: p.score for p in _ranking(state, now, policy)}
    placed = last_allocation.games_by_config if last_allocation is not None else {}
    configs: dict[str, dict[str, Any]] = {}
    for key, cs in state.configs.items():
        configs[str(key)] = {
            "priority_score": scores.get(key, 0.0),
            "staleness_hours": cs.staleness_hours,
            "elo_velocity": cs.elo_velocity,
            "exploration_boost": cs.boost_at(now),
            "curriculum_weight": cs.curriculum_weight,
            "games_allocated": placed.get(key, 0),
        }
    report = health_check(state, now, policy, facts, limits)
    return {
        "subscribed": facts.subscribed,
        "last_priority_update": last_priority_update(state),
        "node_count": len(state.nodes),
        "overloaded_nodes": _overloaded(state, now),
        "config_priorities": configs,
        # ours
        "health": str(report.status),
        "health_reasons": list(report.reasons),
        "eligible_nodes": list(report.details["eligible_nodes"]),
        "unhealthy_nodes": sorted(state.unhealthy_nodes),
        "cluster_health_factor": state.cluster_health_factor,
        "backpressure_active": state.cluster.backpressure_active,
        "training_queue_depth": state.training_queue_depth,
        "last_refresh": dict(state.last_refresh),
        "failing_sources": dict(facts.failing_sources),
        "partial_sources": dict(facts.partial_sources),
        "events_applied": state.applied,
        "events_rejected": facts.events_rejected,
        "unknown_events": dict(state.unknown_events),
        "last_event_at": state.last_at,
        "timers_running": facts.timers_running,
    }


# --- health ------------------------------------------------------------------------------------


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min"


def _node_reasons(
    state: SchedulerState, now: float, policy: SchedulerPolicy
) -> tuple[list[str], list[str]]:
    """(eligible node ids, "id: why not" for the others), in node-id order."""
    cluster = cluster_state(state)
    eligible: list[str] = []
    excluded: list[str] = []
    for node in cluster.nodes:
        why = exclusion_reason(node, cluster, now, policy.allocation)
        if why is None:
            eligible.append(node.node_id)
        else:
            excluded.append(f"{node.node_id}: {why}")
    return eligible, excluded


def health_check(
    state: SchedulerState,
    now: float,
    policy: SchedulerPolicy = _REFERENCE_POLICY,
    facts: ShellFacts = ShellFacts(),
    limits: HealthLimits | None = None,
) -> HealthReport:
    """`health_check()` with three levels and every reason (see the module docstring)."""
    limit = _limits(policy, limits).stale_after_seconds
    unhealthy: list[str] = []
    degraded: list[str] = []

    if not facts.subscribed:
        unhealthy.append("Not subscribed to events")

    refreshed = state.last_refresh
    last_update = last_priority_update(state)
    age = now - last_update
    # Staleness needs someone expected to refresh: attached sources, or a history of reports.
    expects_data = facts.sources_attached or any(p in refreshed for p in PRIORITY_PARTS)
    priority_stale = False
    if expects_data:
        if not any(p in refreshed for p in PRIORITY_PARTS):
            priority_stale = True
            unhealthy.append("Priority data stale (never refreshed)")
        elif age > limit:
            priority_stale = True
            unhealthy.append(
                f"Priority data stale (>{_minutes(limit)}): last refresh {age:g} s ago"
            )

    eligible, excluded = _node_reasons(state, now, policy)
    if not state.nodes:
        unhealthy.append("No eligible nodes: no nodes known")
    elif not eligible:
        unhealthy.append("No eligible nodes: " + "; ".join(excluded))

    for source, why in facts.failing_sources.items():
        if source in facts.failing_without_value:
            degraded.append(f"Source {source} failing (no good value yet, defaults stand): {why}")
        else:
            degraded.append(f"Source {source} failing (serving its last good value): {why}")
    for source, why in facts.partial_sources.items():
        degraded.append(f"Source {source} partial: {why}")
    stale_parts = [
        part
        for part, at in refreshed.items()
        if expects_data and now - at > limit and not (priority_stale and part in PRIORITY_PARTS)
    ]
    for part in stale_parts:
        degraded.append(f"Stale data: {part} last refreshed {now - refreshed[part]:g} s ago")

    bp = state.cluster.backpressure
    multiplier = 1.0
    if bp is not None:
        rules = policy.allocation.backpressure
        multiplier = bp.spawn_rate_multiplier(rules)
        if bp.should_pause(rules):
            degraded.append(f"Backpressure pause (spawn-rate ×{multiplier:.2f}): nothing allocated")
        elif multiplier < 1.0:
            degraded.append(f"Backpressure throttles batches (spawn-rate ×{multiplier:.2f})")
        if bp.emergency_active:
            degraded.append("Backpressure emergency: node job targets are 0")
    if state.cluster.backpressure_active:
        degraded.append("Backpressure activated by event (BACKPRESSURE_ACTIVATED)")
    pause = state.cluster.spawn_pause
    if pause is not None and pause.holds_at(now):
        until = "until resumed" if pause.until is None else f"until {pause.until:g}"
        degraded.append(f"Spawning paused ({pause.reason}) {until}: nothing allocated")
    health_factor = min(1.0, max(0.0, state.cluster_health_factor))
    if health_factor < 1.0:
        degraded.append(f"Cluster health factor {health_factor:g}: batches scaled down")
    if facts.refresh_error is not None:
        degraded.append(f"Last refresh failed: {facts.refresh_error}")

    if unhealthy:
        status = HealthStatus.UNHEALTHY
    elif degraded:
        status = HealthStatus.DEGRADED
    else:
        status = HealthStatus.HEALTHY
    details: dict[str, Any] = {
        "subscribed": facts.subscribed,
        "configs_tracked": len(state.configs),
        "nodes_tracked": len(state.nodes),
        "last_priority_update": last_update,
        "priority_age_seconds": age,
        "games_allocated_total": state.allocations.games_total,
        "games_in_last_hour": _games_in_window(state, now, policy),
        # ours
        "eligible_nodes": tuple(eligible),
        "excluded_nodes": tuple(excluded),
        "failing_sources": facts.failing_sources,
        "partial_sources": facts.partial_sources,
        "stale_parts": tuple(stale_parts),
        "spawn_rate_multiplier": multiplier,
        "cluster_health_factor": health_factor,
        "stale_after_seconds": limit,
    }
    return HealthReport(status, (*unhealthy, *degraded), MappingProxyType(details))
