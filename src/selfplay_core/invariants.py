"""`check_invariants`: every way a `SchedulerState` breaks the state invariants.

The reducer keeps them on every reachable state (tests/properties checks it): finite numbers
within ±`MAX_MAGNITUDE`, boosts within the policy's bounds, expiries in the future or gone,
canonical orders, and an exact expiry cache (`ledger.next_expiry_at`).
"""

from __future__ import annotations

import math

import attrs

from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.event_policy import EventPolicy
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.state import (
    MAX_MAGNITUDE,
    ConfigFacts,
    ConfigState,
    SchedulerState,
    earliest_expiry,
)

__all__ = ["check_invariants"]


def _number_problems(where: str, value: object) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [f"{where}: not a number ({value!r})"]
    if not math.isfinite(value):
        return [f"{where}: not finite ({value!r})"]
    if abs(value) > MAX_MAGNITUDE:
        return [f"{where}: magnitude above {MAX_MAGNITUDE:g} ({value!r})"]
    return []


def _time_problems(where: str, value: object) -> list[str]:
    """Times (epoch seconds) only need to be finite numbers ≥ 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [f"{where}: not a number ({value!r})"]
    if not math.isfinite(value) or value < 0:
        return [f"{where}: not a finite time ({value!r})"]
    return []


def _config_problems(
    key: ConfigKey, cs: ConfigState, last_at: float, policy: EventPolicy
) -> list[str]:
    problems: list[str] = []
    for name in (
        "staleness_hours",
        "elo_velocity",
        "exploration_boost",
        "curriculum_weight",
        "quality_penalty",
        "momentum_multiplier",
        "search_budget",
    ):
        problems += _number_problems(f"{key}.{name}", getattr(cs, name))
    for name in attrs.fields_dict(ConfigFacts):
        problems += _number_problems(f"{key}.facts.{name}", getattr(cs.facts, name))
    problems += _time_problems(
        f"{key}.exploration_boost_expires_at", cs.exploration_boost_expires_at
    )
    if problems:
        return problems
    eb = cs.exploration_boost
    if not policy.min_exploration_boost <= eb <= policy.max_exploration_boost:
        problems.append(
            f"{key}.exploration_boost: {eb!r} outside "
            f"[{policy.min_exploration_boost}, {policy.max_exploration_boost}]"
        )
    expires = cs.exploration_boost_expires_at
    if expires != 0.0 and expires <= last_at:
        problems.append(f"{key}.exploration_boost_expires_at: {expires!r} is not after {last_at!r}")
    if eb > 1.0 and expires == 0.0:
        problems.append(f"{key}.exploration_boost: {eb!r} above 1.0 without an expiry")
    for name in ("curriculum_weight", "momentum_multiplier"):
        if getattr(cs, name) < 0:
            problems.append(f"{key}.{name}: negative")
    if cs.facts.cascade_multiplier < 0:
        problems.append(f"{key}.facts.cascade_multiplier: negative")
    if cs.facts.game_count < 0 or cs.facts.target_training_samples < 0:
        problems.append(f"{key}.facts: negative count")
    return problems


def check_invariants(
    state: SchedulerState, policy: SchedulerPolicy | EventPolicy | None = None
) -> tuple[str, ...]:
    """Every way `state` breaks the state invariants (empty when it holds them all): finite
    numbers within ±MAX_MAGNITUDE, boosts within the policy's bounds, expiries in the future
    or gone, canonical orders, a consistent expiry cache."""
    events = (
        policy
        if isinstance(policy, EventPolicy)
        else policy.events
        if policy is not None
        else EventPolicy()
    )
    problems: list[str] = []
    if tuple(state.configs) != ALL_CONFIGS:
        problems.append("configs: not exactly the 12 canonical configs in canonical order")
    last_at = state.last_at
    problems += _time_problems("last_at", last_at)
    for key, cs in state.configs.items():
        problems += _config_problems(key, cs, last_at, events)
    cluster = state.cluster
    ids = [node.node_id for node in cluster.nodes]
    if ids != sorted(set(ids)):
        problems.append("cluster.nodes: not one per id in id order")
    if list(cluster.overloaded_until) != sorted(cluster.overloaded_until):
        problems.append("cluster.overloaded_until: not in node-id order")
    for node_id, until in cluster.overloaded_until.items():
        problems += _time_problems(f"cluster.overloaded_until.{node_id}", until)
        if until <= last_at:
            problems.append(f"cluster.overloaded_until.{node_id}: {until!r} is not after {last_at}")
    problems += _number_problems("cluster.health_factor", cluster.health_factor)
    if not 0.0 <= cluster.health_factor <= 1.0:
        problems.append(f"cluster.health_factor: {cluster.health_factor!r} outside [0, 1]")
    for key, history in state.elo.history.items():
        times = [t for t, _ in history]
        if times != sorted(times):
            problems.append(f"elo.history.{key}: not in time order")
        for t, elo in history:
            problems += _time_problems(f"elo.history.{key}", t)
            problems += _number_problems(f"elo.history.{key}", elo)
    for key, velocity in state.elo.velocity_per_hour.items():
        problems += _number_problems(f"elo.velocity_per_hour.{key}", velocity)
    expected = earliest_expiry(state.configs, state.cluster.overloaded_until)
    if state.next_expiry_at != expected:
        problems.append(f"next_expiry_at: {state.next_expiry_at!r}, expected {expected!r}")
    if list(state.unknown_events) != sorted(state.unknown_events):
        problems.append("unknown_events: not in type order")
    if any(n < 1 for n in state.unknown_events.values()):
        problems.append("unknown_events: a count below 1")
    if state.applied < 0:
        problems.append("applied: negative")
    return tuple(problems)
