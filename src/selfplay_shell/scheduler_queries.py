"""The reference's read and per-config calls of `SelfplayScheduler`: status, health, rankings
without a refresh, games needed, targets, boosts, backoffs (§metrics, §status, §ranking,
§targets, §boost, §job-targets).

A mixin of `SelfplayScheduler`, kept apart so the facade module holds only the single writer,
the timers and the bus: every method here reads the immutable state or applies one event
through the facade's `apply_event`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

from selfplay_core.allocation.job_targets import NodeResources, target_jobs_for_node
from selfplay_core.allocation.values import BatchAllocation
from selfplay_core.configs import ConfigKey, ConfigKeyError
from selfplay_core.decide import priorities
from selfplay_core.events import ConfigBoosted, Event, TargetTrainingSamplesSet
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.priority import games_needed, target_games
from selfplay_core.reducer import Transition
from selfplay_core.state import SchedulerState, cluster_state
from selfplay_core.status import (
    HealthLimits,
    HealthReport,
    ShellFacts,
    health_check,
    priority_configs,
    scheduler_metrics,
    scheduler_status,
    top_priorities,
)
from selfplay_core.values import ConfigPriority

__all__ = ["ReferenceQueries", "node_resources"]

_log = logging.getLogger("selfplay_shell.scheduler")


def _config_key(key: object) -> ConfigKey | None:
    """A known config, or None for anything else (the facade never raises for a bad key)."""
    if isinstance(key, ConfigKey):
        return key
    if not isinstance(key, str):
        return None
    try:
        return ConfigKey.parse(key)
    except ConfigKeyError:
        return None


def _count(value: Any, default: int) -> int:
    try:
        number = int(value or default)
    except (TypeError, ValueError, OverflowError):
        return default
    return max(0, number)


def _percent(value: Any) -> float:
    try:
        number = float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def node_resources(node: object) -> NodeResources:
    """Any host object read as the reference's `get_target_jobs_for_node` reads it (getattr
    with its defaults, §job-targets); counts below 0 and non-finite percentages read as 0."""
    if isinstance(node, NodeResources):
        return node
    has_gpu = bool(getattr(node, "has_gpu", False))
    return NodeResources(
        node_id=str(getattr(node, "node_id", "unknown") or "unknown"),
        memory_gb=_count(getattr(node, "memory_gb", 0), 0),
        has_gpu=has_gpu,
        cpu_count=_count(getattr(node, "cpu_count", 0), 0),
        cpu_percent=_percent(getattr(node, "cpu_percent", 0.0)),
        memory_percent=_percent(getattr(node, "memory_percent", 0.0)),
        disk_percent=_percent(getattr(node, "disk_percent", 0.0)),
        gpu_percent=_percent(getattr(node, "gpu_percent", 0.0)),
        gpu_memory_percent=_percent(getattr(node, "gpu_memory_percent", 0.0)),
        selfplay_jobs=_count(getattr(node, "selfplay_jobs", 0), 0),
        gpu_name=str(getattr(node, "gpu_name", "") or ""),
        gpu_count=_count(getattr(node, "gpu_count", 1), 1) if has_gpu else 0,
    )


# --- the facade -----------------------------------------------------------------------------------


class ReferenceQueries:
    """What these calls need of the facade (`SelfplayScheduler` provides each)."""

    policy: SchedulerPolicy
    health_limits: HealthLimits
    _state: SchedulerState
    _last_allocation: BatchAllocation | None

    def now(self) -> float:
        raise NotImplementedError

    def shell_facts(self) -> ShellFacts:
        raise NotImplementedError

    def apply_event(self, event: Event, *, id: str | None = None) -> Transition:
        raise NotImplementedError

    def get_metrics(self) -> dict[str, Any]:
        return scheduler_metrics(self._state, self.now(), self.policy)

    def get_status(self) -> dict[str, Any]:
        return scheduler_status(
            self._state,
            self.now(),
            self.policy,
            self.shell_facts(),
            self._last_allocation,
            self.health_limits,
        )

    def health_check(self) -> HealthReport:
        return health_check(
            self._state, self.now(), self.policy, self.shell_facts(), self.health_limits
        )

    def get_top_priorities(self, n: int = 5) -> list[dict[str, Any]]:
        return top_priorities(self._state, self.now(), self.policy, n)

    def get_priority_configs_sync(
        self, top_n: int | None = None, filter_configs: Iterable[str] | None = None
    ) -> list[tuple[str, float]]:
        """The ranking without a refresh, optionally only for `filter_configs`."""
        ranked = priority_configs(self._state, self.now(), self.policy, None)
        if filter_configs is not None:
            wanted = {str(k) for k in filter_configs}
            ranked = [item for item in ranked if item[0] in wanted]
        return ranked if top_n is None else ranked[:top_n]

    def get_config_priority(self, config_key: ConfigKey | str) -> ConfigPriority | None:
        """The config's priority now (score, game count and its breakdown), or None for an
        unknown key."""
        key = _config_key(config_key)
        if key is None:
            return None
        for priority in priorities(self._state, self.now(), self.policy, explain=True):
            if priority.config_key == key:
                return priority
        return None

    # --- per-config API ---------------------------------------------------------------------------

    def boost_config_allocation(self, config_key: ConfigKey | str, multiplier: float = 1.5) -> bool:
        """Raise the config's exploration boost (×multiplier, ≤ 2.0) and momentum (×1.2, ≤ 1.5).
        False for an unknown config or a multiplier that is negative or not finite."""
        return self._apply_to_config(
            "boost_config_allocation",
            config_key,
            lambda key: ConfigBoosted(key, float(multiplier)),
            f"multiplier {multiplier!r}",
        )

    def get_games_needed(self, config_key: ConfigKey | str) -> int:
        """Games still needed to reach the config's training-sample target; 0 if unknown."""
        key = _config_key(config_key)
        if key is None:
            return 0
        cs = self._state.configs[key]
        return games_needed(cs.game_count, cs.target_training_samples, cs.samples_per_game_estimate)

    def get_all_games_needed(self) -> dict[str, int]:
        return {str(key): self.get_games_needed(key) for key in self._state.configs}

    def set_target_training_samples(self, config_key: ConfigKey | str, target: int) -> bool:
        """Set the config's training-sample target. False (nothing recorded) for an unknown
        config or a negative target (the reference created a new config for any string)."""
        return self._apply_to_config(
            "set_target_training_samples",
            config_key,
            lambda key: TargetTrainingSamplesSet(key, int(target)),
            f"target {target!r}",
        )

    def _apply_to_config(
        self,
        call: str,
        config_key: object,
        event_for: Callable[[ConfigKey], Event],
        value: str,
    ) -> bool:
        """A per-config setter's one path: an unknown config, or a value its event refuses, is
        logged and gives False (nothing is recorded); otherwise the event is applied."""
        key = _config_key(config_key)
        if key is None:
            _log.warning("%s: unknown config %r", call, config_key)
            return False
        try:
            event = event_for(key)
        except (TypeError, ValueError, OverflowError):
            _log.warning("%s: invalid %s", call, value)
            return False
        self.apply_event(event)
        return True

    def get_target_games_for_config(self, config_key: ConfigKey | str) -> int:
        """Dynamic target games for the config's current Elo (§targets). A string
        that is not a known config is read as the reference reads it: unknown board → hex8's
        factor, players from the first character after "_" (default 2), Elo 1500."""
        key = _config_key(config_key)
        if key is not None:
            return target_games(key, self._state.configs[key].current_elo, self.policy)
        text = str(config_key)
        _, sep, rest = text.partition("_")
        players = int(rest[0]) if sep and rest[:1].isdigit() else 2
        return target_games(
            ConfigKey("hex8", players if players in (2, 3, 4) else 2), 1500.0, self.policy
        )

    def get_target_jobs_for_node(self, node: object) -> int:
        """Self-play job target for a host (§job-targets); `node` is read with getattr."""
        return target_jobs_for_node(node_resources(node), cluster_state(self._state), self.policy)

    def get_elo_velocity(self, config_key: ConfigKey | str) -> float:
        """Elo per hour from ELO_UPDATED events (0.0 when unknown)."""
        key = _config_key(config_key)
        if key is None:
            return 0.0
        return self._state.elo_velocity_per_hour.get(key, 0.0)

    def is_node_under_backoff(self, node_id: str) -> bool:
        return cluster_state(self._state).is_under_backoff(node_id, self.now())

    def get_overloaded_nodes(self) -> list[str]:
        """Nodes whose overload backoff is still running, in node-id order (reading changes
        nothing; expiry happens through ticks)."""
        now = self.now()
        return [node for node, until in self._state.overloaded_until.items() if until > now]
