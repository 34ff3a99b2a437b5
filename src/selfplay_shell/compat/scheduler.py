"""The reference's `SelfplayScheduler` constructor and calls, translated onto the shell's.

What this module adds to `selfplay_shell.SelfplayScheduler`, and nothing else:

- the reference's constructor: 14 optional callbacks, ``backpressure_monitor=`` and
  ``verbose=`` (the polled ones become `CallbackAccessor` sources; the per-node ones are called
  when a job target is asked for; the ones the reference never calls are accepted, unused);
- `get_config_priority` returns the reference-shaped record (`records.ConfigPriority`, string
  key) computed from the state now;
- the calls RingRift's newer code makes: `activate_backpressure`, `pause_spawning`,
  `resume_spawning` (each one event the core applies: `SpawningPaused`, `SpawningResumed`);
  `get_priority_configs_sync` and `health_check` are the shell's;
- event intake: router events (objects with ``.event_type`` and ``.payload``) and raw dicts.

State, rules and formulas stay in the core: every method here builds a value or an event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
from returns.result import Failure, Result

from selfplay_core import ConfigKey, ConfigKeyError, DecodeError, Envelope
from selfplay_core.allocation import HostTarget
from selfplay_core.decide import priorities
from selfplay_core.events import NewGamesAvailable, SpawningPaused, SpawningResumed
from selfplay_core.priority import elo_uncertainty
from selfplay_core.state import priority_inputs_for
from selfplay_shell.bus import BusMessage
from selfplay_shell.compat.callbacks import CallbackAccessor
from selfplay_shell.compat.records import ConfigPriority
from selfplay_shell.scheduler import SelfplayScheduler as ShellScheduler
from selfplay_shell.scheduler import get_selfplay_scheduler as _get_shell_scheduler
from selfplay_shell.scheduler import reset_selfplay_scheduler as _reset_shell_scheduler
from selfplay_shell.scheduler_queries import node_resources
from selfplay_shell.sources.config import AccessorConfig

__all__ = [
    "UNUSED_CALLBACKS",
    "ReferenceCallbacks",
    "SelfplayScheduler",
    "get_selfplay_scheduler",
    "reset_selfplay_scheduler",
]

_log = logging.getLogger(__name__)

Callback = Callable[..., Any] | None

#: Accepted for the reference's signature, never called: the reference never calls them either
#: (§inputs, §sources and §job-targets: stored only, or behind an import that always
#: fails). docs/deviations.md C1.
UNUSED_CALLBACKS: Final = (
    "get_cluster_elo_fn",
    "load_curriculum_weights_fn",
    "get_board_priority_overrides_fn",
    "should_stop_production_fn",
    "should_throttle_production_fn",
    "get_throttle_factor_fn",
    "get_hybrid_selfplay_limits_fn",
)


@attrs.frozen
class ReferenceCallbacks:
    """The reference constructor's callbacks, in its order (§job-targets for the per-node
    ones; see `UNUSED_CALLBACKS` for those never called)."""

    get_cluster_elo_fn: Callback = None
    load_curriculum_weights_fn: Callback = None
    get_board_priority_overrides_fn: Callback = None
    should_stop_production_fn: Callback = None
    should_throttle_production_fn: Callback = None
    get_throttle_factor_fn: Callback = None
    record_utilization_fn: Callback = None
    get_host_targets_fn: Callback = None
    get_target_job_count_fn: Callback = None
    should_scale_up_fn: Callback = None
    should_scale_down_fn: Callback = None
    get_max_selfplay_for_node_fn: Callback = None
    get_hybrid_selfplay_limits_fn: Callback = None
    is_emergency_active_fn: Callback = None


class SelfplayScheduler(ShellScheduler):
    """Drop-in for the reference's `SelfplayScheduler` (see the module docstring).

    Keyword arguments after the reference's (``policy``, ``accessor``, ``log``, ``clock``,
    ``bus``, …) are the shell scheduler's; an ``accessor`` given there keeps feeding the state,
    with the callbacks' sources added on top. ``accessor_config`` sets the callbacks' sources'
    timeouts and TTL (`AccessorConfig`)."""

    #: The reference's 28 types and NEW_GAMES_AVAILABLE, which RingRift publishes at HEAD.
    subscribed_types = (*ShellScheduler.subscribed_types, NewGamesAvailable.TAG)

    def __init__(
        self,
        get_cluster_elo_fn: Callback = None,
        load_curriculum_weights_fn: Callback = None,
        get_board_priority_overrides_fn: Callback = None,
        should_stop_production_fn: Callback = None,
        should_throttle_production_fn: Callback = None,
        get_throttle_factor_fn: Callback = None,
        record_utilization_fn: Callback = None,
        get_host_targets_fn: Callback = None,
        get_target_job_count_fn: Callback = None,
        should_scale_up_fn: Callback = None,
        should_scale_down_fn: Callback = None,
        get_max_selfplay_for_node_fn: Callback = None,
        get_hybrid_selfplay_limits_fn: Callback = None,
        is_emergency_active_fn: Callback = None,
        backpressure_monitor: Any = None,
        verbose: bool = False,
        *,
        accessor_config: AccessorConfig | None = None,
        **shell_options: Any,
    ) -> None:
        self.callbacks = ReferenceCallbacks(
            get_cluster_elo_fn,
            load_curriculum_weights_fn,
            get_board_priority_overrides_fn,
            should_stop_production_fn,
            should_throttle_production_fn,
            get_throttle_factor_fn,
            record_utilization_fn,
            get_host_targets_fn,
            get_target_job_count_fn,
            should_scale_up_fn,
            should_scale_down_fn,
            get_max_selfplay_for_node_fn,
            get_hybrid_selfplay_limits_fn,
            is_emergency_active_fn,
        )
        self.verbose = verbose
        accessor = shell_options.pop("accessor", None)
        #: The callbacks' accessor this scheduler made (and closes); None without the callbacks.
        self.callback_accessor: CallbackAccessor | None = None
        if backpressure_monitor is not None or is_emergency_active_fn is not None:
            accessor = self.callback_accessor = CallbackAccessor(
                backpressure_monitor=backpressure_monitor,
                is_emergency_active_fn=is_emergency_active_fn,
                inner=accessor,
                config=accessor_config,
                clock=shell_options.get("clock", time.time),
            )
        super().__init__(accessor=accessor, **shell_options)

    def close(self) -> None:
        """Unsubscribe and close the callbacks' accessor this scheduler made (its reading
        threads); an ``accessor`` you passed stays open."""
        super().close()
        if self.callback_accessor is not None:
            self.callback_accessor.close()

    # --- the reference-shaped record --------------------------------------------------------------

    def get_config_priority(self, config_key: ConfigKey | str) -> ConfigPriority | None:  # type: ignore[override]
        """The reference's record for the config, computed from the state now (its score, its
        share of the last batch); None for an unknown key."""
        try:
            key = ConfigKey.parse(config_key) if isinstance(config_key, str) else config_key
        except ConfigKeyError:
            return None
        state, now = self.state, self.now()
        cs = state.configs[key]
        inputs = priority_inputs_for(state, key, now)
        score = next(p.score for p in priorities(state, now, self.policy) if p.config_key is key)
        last = self.last_allocation
        placed = last.as_reference_dict().get(str(key), {}) if last is not None else {}
        return ConfigPriority(
            config_key=key,
            staleness_hours=inputs.staleness_hours,
            elo_velocity=inputs.elo_velocity,
            training_pending=inputs.training_pending,
            exploration_boost=inputs.exploration_boost,
            exploration_boost_expires_at=cs.exploration_boost_expires_at,
            curriculum_weight=inputs.curriculum_weight,
            improvement_boost=inputs.improvement_boost,
            quality_penalty=inputs.quality_penalty,
            momentum_multiplier=inputs.momentum_multiplier,
            game_count=inputs.games_count,
            priority_override=inputs.priority_override,
            search_budget=int(cs.search_budget),
            current_elo=inputs.current_elo,
            elo_uncertainty=elo_uncertainty(inputs.games_count, self.policy),
            target_elo=inputs.target_elo,
            target_training_samples=cs.target_training_samples,
            samples_per_game_estimate=cs.samples_per_game_estimate,
            priority_score=score,
            games_allocated=sum(placed.values()),
            nodes_allocated=tuple(placed),
        )

    # --- RingRift's newer calls: each one event the core applies ----------------------------------

    def activate_backpressure(
        self, reason: str = "backpressure", duration_seconds: float = 300.0
    ) -> None:
        """No games for `duration_seconds` from now (`SpawningPaused` with a duration)."""
        self.apply_event(
            SpawningPaused(reason=str(reason), duration_seconds=float(duration_seconds))
        )

    def pause_spawning(self, reason: str = "pause_spawning") -> None:
        """No games until `resume_spawning()` (`SpawningPaused` without a duration)."""
        self.apply_event(SpawningPaused(reason=str(reason)))

    def resume_spawning(self) -> None:
        """End any pause, timed or not (`SpawningResumed`)."""
        self.apply_event(SpawningResumed())

    # --- per-node callbacks -----------------------------------------------------------------------

    def get_target_jobs_for_node(self, node: object) -> int:
        """The core's job target for the host, with the per-node callbacks' answers as data:
        ``get_host_targets_fn``/``get_target_job_count_fn``/``should_scale_*_fn`` → the
        unified path (a callback that raises falls back to the table, as the reference), and
        ``get_max_selfplay_for_node_fn`` → the table path's limit. ``record_utilization_fn`` is
        told the host's figures first (its errors are logged and ignored, as the reference)."""
        resources = node_resources(node)
        cb = self.callbacks
        if cb.record_utilization_fn is not None:
            try:
                cb.record_utilization_fn(
                    resources.node_id,
                    resources.cpu_percent,
                    resources.gpu_percent,
                    resources.memory_percent,
                    resources.selfplay_jobs,
                )
            except Exception:
                _log.exception("record_utilization_fn failed for %s", resources.node_id)
        host = self._host_target(resources)
        limit = None
        if host is None and cb.get_max_selfplay_for_node_fn is not None:
            limit = int(
                cb.get_max_selfplay_for_node_fn(
                    node_id=resources.node_id,
                    gpu_count=resources.effective_gpu_count,
                    gpu_name=resources.gpu_name,
                    cpu_count=resources.cpu_count,
                    memory_gb=resources.memory_gb,
                    has_gpu=resources.has_gpu,
                )
            )
        resources = attrs.evolve(resources, host_target=host, max_selfplay_override=limit)
        return super().get_target_jobs_for_node(resources)

    def _host_target(self, r: Any) -> HostTarget | None:
        cb = self.callbacks
        if cb.get_host_targets_fn is None or cb.get_target_job_count_fn is None:
            return None
        try:
            targets = cb.get_host_targets_fn(r.node_id)
            count = cb.get_target_job_count_fn(
                r.node_id,
                r.cpu_count if r.cpu_count > 0 else 8,
                r.cpu_percent,
                r.gpu_percent if r.has_gpu else 0.0,
            )
            scale_up = False
            if cb.should_scale_up_fn is not None:
                scale_up = bool(
                    cb.should_scale_up_fn(r.node_id, r.cpu_percent, r.gpu_percent, r.selfplay_jobs)[
                        0
                    ]
                )
            reduction = None
            if cb.should_scale_down_fn is not None:
                down, cut, _ = cb.should_scale_down_fn(
                    r.node_id, r.cpu_percent, r.gpu_percent, r.memory_percent
                )
                reduction = int(cut) if down else None
            cap = getattr(targets, "max_selfplay", None)
            return HostTarget(
                max(0, int(count)), None if cap is None else max(0, int(cap)), scale_up, reduction
            )
        except Exception:
            _log.exception("unified job target for %s failed; using the hardware table", r.node_id)
            return None

    # --- event intake -----------------------------------------------------------------------------

    def handle_event(
        self, event: Any, event_type: str | None = None
    ) -> Result[Envelope, DecodeError]:
        """Apply one event as RingRift delivers it: an object with ``.event_type`` (a string or
        an enum) and ``.payload`` (a router or data-bus event), a dict with "event_type" and
        "payload", or a bare payload dict with `event_type` given (as a handler receives it).
        The codec reads the publishers' aliases; a bad event is rejected and counted, never
        raised."""
        if isinstance(event, Mapping):
            payload: Any = (
                event.get("payload") if isinstance(event.get("payload"), Mapping) else event
            )
            kind: Any = event_type or event.get("event_type") or event.get("type")
            event_id, source = event.get("event_id"), event.get("source", "")
        else:
            payload = getattr(event, "payload", None)
            kind = event_type or getattr(event, "event_type", None)
            event_id = getattr(event, "event_id", None) or getattr(event, "id", None)
            source = getattr(event, "source", "")
        kind = getattr(kind, "value", kind)  # an enum member → its string value
        if not kind or not isinstance(kind, str):
            with self._lock:
                self.events_rejected += 1
            why = f"no event type: got {type(event).__name__} without a usable event_type"
            _log.warning("rejected event: %s", why)
            return Failure(DecodeError(None, "event_type", "missing", why))
        return self.publish(
            kind,
            payload,
            id=str(event_id) if event_id else None,
            source=source if isinstance(source, str) else str(source),
        )

    def _on_message(self, message: BusMessage) -> None:
        self.handle_event(message)


def get_selfplay_scheduler(**kwargs: Any) -> SelfplayScheduler:
    """The process-wide compat scheduler, created on first use with `kwargs` and subscribed to
    the process bus (the shell's singleton, of this class)."""
    scheduler = _get_shell_scheduler(scheduler_class=SelfplayScheduler, **kwargs)
    assert isinstance(scheduler, SelfplayScheduler)
    return scheduler


def reset_selfplay_scheduler() -> None:
    """Forget the process-wide scheduler (unsubscribing it)."""
    _reset_shell_scheduler()
