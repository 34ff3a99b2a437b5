"""Event-handling and runtime constants (§events–§expiry): boosts, expiries, dedup window, timers.

Every number the reference's event handlers hard-code is a field here, named after the event it
belongs to, so that a replay can ask "what if the promotion factor had been 1.5?". The defaults
are the reference's values; fields that fix a reference bug say so. Only TOML-friendly types:
floats, ints and one string→float table.

Owned by the events work (issue 4); composed into `SchedulerPolicy.events`.
"""

from __future__ import annotations

from typing import Any

import attrs

from selfplay_core._validators import count, finite, non_negative


def _positive(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    finite(_inst, attribute, value)
    if value <= 0:
        raise ValueError(f"{attribute.name}: must be positive, got {value!r}")


def _positive_count(_inst: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    count(_inst, attribute, value)
    if value < 1:
        raise ValueError(f"{attribute.name}: must be at least 1, got {value!r}")


@attrs.frozen
class EventPolicy:
    """How each reference event changes the state, with the reference's numbers as defaults."""

    # -- exploration-boost bounds (ours: the reference clamps per handler, inconsistently) ---------
    #: Lowest and highest exploration boost any event may leave behind (deviations.md).
    min_exploration_boost: float = attrs.field(default=0.1, validator=non_negative)
    max_exploration_boost: float = attrs.field(default=2.0, validator=_positive)
    #: A boost above 1.0 that its writer gave no duration lapses after this long (s): the
    #: reference resets such boosts at its next priority refresh (§expiry), every 15 s.
    boost_lifetime_seconds: float = attrs.field(default=15.0, validator=_positive)

    # -- MODEL_PROMOTED (§events) ------------------------------------------------------------------
    promotion_success_boost: float = attrs.field(default=1.0, validator=_positive)
    promotion_failure_factor: float = attrs.field(default=1.3, validator=_positive)
    promotion_failure_cap: float = attrs.field(default=2.0, validator=_positive)

    # -- SELFPLAY_TARGET_UPDATED (§events) ---------------------------------------------------------
    target_high_boost_floor: float = attrs.field(default=1.2, validator=_positive)
    target_low_boost_cap: float = attrs.field(default=0.8, validator=_positive)

    # -- QUALITY_DEGRADED (§events) ----------------------------------------------------------------
    quality_degraded_penalty_scale: float = attrs.field(default=0.20, validator=non_negative)

    # -- TRAINING_BLOCKED_BY_QUALITY (§events) -----------------------------------------------------
    training_blocked_factor: float = attrs.field(default=1.5, validator=_positive)
    training_blocked_floor: float = attrs.field(default=1.5, validator=_positive)
    #: Ours: the reference has no cap here (deviations.md); 2.0 like the other handlers.
    training_blocked_cap: float = attrs.field(default=2.0, validator=_positive)

    # -- OPPONENT_MASTERED (§events) ---------------------------------------------------------------
    mastered_curriculum_factor: float = attrs.field(default=0.9, validator=_positive)
    mastered_curriculum_floor: float = attrs.field(default=0.5, validator=non_negative)
    mastered_boost_factor: float = attrs.field(default=0.95, validator=_positive)
    mastered_boost_floor: float = attrs.field(default=0.8, validator=non_negative)

    # -- TRAINING_EARLY_STOPPED (§events) ----------------------------------------------------------
    early_stop_regression_factor: float = attrs.field(default=1.5, validator=_positive)
    early_stop_regression_cap: float = attrs.field(default=2.0, validator=_positive)
    early_stop_plateau_factor: float = attrs.field(default=1.3, validator=_positive)
    early_stop_plateau_cap: float = attrs.field(default=1.8, validator=_positive)
    early_stop_other_factor: float = attrs.field(default=1.2, validator=_positive)
    early_stop_other_cap: float = attrs.field(default=1.5, validator=_positive)
    early_stop_curriculum_factor: float = attrs.field(default=1.3, validator=_positive)
    early_stop_curriculum_cap: float = attrs.field(default=2.0, validator=_positive)
    #: STALE_DATA_THRESHOLD: an early stop marks the data at least this stale (hours).
    early_stop_staleness_floor_hours: float = attrs.field(default=4.0, validator=non_negative)

    # -- ELO_VELOCITY_CHANGED (§events) ------------------------------------------------------------
    velocity_accelerating_factor: float = attrs.field(default=1.2, validator=_positive)
    velocity_accelerating_cap: float = attrs.field(default=1.5, validator=_positive)
    velocity_decelerating_factor: float = attrs.field(default=0.85, validator=_positive)
    velocity_decelerating_floor: float = attrs.field(default=0.6, validator=non_negative)
    velocity_stable_decay_factor: float = attrs.field(default=0.95, validator=_positive)
    velocity_stable_growth_factor: float = attrs.field(default=1.05, validator=_positive)
    velocity_negative_boost_factor: float = attrs.field(default=1.15, validator=_positive)
    velocity_negative_boost_cap: float = attrs.field(default=1.8, validator=_positive)
    #: SELFPLAY_RATE_CHANGED is emitted when |new − old| / max(old, floor) exceeds this (strictly).
    rate_change_emit_threshold: float = attrs.field(default=0.20, validator=non_negative)
    rate_change_denominator_floor: float = attrs.field(default=0.01, validator=_positive)

    # -- EXPLORATION_BOOST (§events) ---------------------------------------------------------------
    #: RINGRIFT_EXPLORATION_BOOST_DURATION: how long an exploration boost lasts (s).
    exploration_boost_duration_seconds: float = attrs.field(default=900.0, validator=_positive)
    #: The emitted target update says priority "high" when boost_factor exceeds this.
    exploration_boost_high_priority_above: float = attrs.field(default=1.3, validator=finite)

    # -- CURRICULUM_ADVANCED (§events) -------------------------------------------------------------
    advanced_min_consecutive_promotions: int = attrs.field(default=3, validator=count)
    advanced_curriculum_factor: float = attrs.field(default=0.9, validator=_positive)
    advanced_curriculum_floor: float = attrs.field(default=0.5, validator=non_negative)

    # -- ADAPTIVE_PARAMS_CHANGED (§events) ---------------------------------------------------------
    adaptive_temperature_boost_floor: float = attrs.field(default=1.2, validator=_positive)

    # -- LOW_QUALITY_DATA_WARNING (§events) --------------------------------------------------------
    low_quality_very_poor_below: float = attrs.field(default=0.4, validator=finite)
    low_quality_very_poor_throttle: float = attrs.field(default=0.5, validator=_positive)
    low_quality_poor_below: float = attrs.field(default=0.5, validator=finite)
    low_quality_poor_throttle: float = attrs.field(default=0.6, validator=_positive)
    low_quality_marginal_throttle: float = attrs.field(default=0.7, validator=_positive)
    low_quality_boost_floor: float = attrs.field(default=0.5, validator=non_negative)
    low_quality_penalty_scale: float = attrs.field(default=0.15, validator=non_negative)
    #: A config counts as throttled (and gets a QUALITY_PENALTY_APPLIED) when |Δboost| > this.
    low_quality_change_threshold: float = attrs.field(default=0.01, validator=non_negative)

    # -- NODE_UNHEALTHY / HOST_OFFLINE (§nodes) -----------------------------------------
    unhealthy_node_load: float = attrs.field(default=1.0, validator=finite)

    # P2P_CLUSTER_UNHEALTHY (§nodes): the floor and the "unknown" factor live in
    # `AllocationPolicy` (health_factor_floor, health_factor_unknown), next to their reader.

    # -- REGRESSION_DETECTED (§events) -------------------------------------------------------------
    #: Ours: the reference *sets* the boost to these values (cutting priority by 70–90 %,
    #: deviations.md); we raise the boost to at least 1 + value.
    regression_boost_mild: float = attrs.field(default=0.1, validator=non_negative)
    regression_boost_moderate: float = attrs.field(default=0.2, validator=non_negative)
    regression_boost_severe: float = attrs.field(default=0.3, validator=non_negative)
    regression_boost_other: float = attrs.field(default=0.15, validator=non_negative)
    regression_boost_cap: float = attrs.field(default=2.0, validator=_positive)

    # -- NODE_OVERLOADED (§nodes) ------------------------------------------------------------------
    overload_backoff_consecutive_failures_seconds: float = attrs.field(
        default=120.0, validator=non_negative
    )
    overload_backoff_memory_seconds: float = attrs.field(default=90.0, validator=non_negative)
    overload_backoff_default_seconds: float = attrs.field(default=60.0, validator=non_negative)

    # -- ELO_UPDATED (§events) ---------------------------------------------------------------------
    elo_history_window_seconds: float = attrs.field(default=86400.0, validator=_positive)
    elo_velocity_min_span_hours: float = attrs.field(default=0.5, validator=non_negative)

    # -- boost_config_allocation (§boost) -----------------------------------------
    config_boost_cap: float = attrs.field(default=2.0, validator=_positive)
    config_boost_momentum_factor: float = attrs.field(default=1.2, validator=_positive)
    config_boost_momentum_cap: float = attrs.field(default=1.5, validator=_positive)

    # -- bookkeeping -----------------------------------------------------------------------
    #: How many recent envelope ids are remembered to drop duplicate deliveries (the
    #: reference's content-hash window holds 10,000 hashes).
    dedup_window: int = attrs.field(default=10_000, validator=_positive_count)
    #: Allocation history kept for "games in the last hour" (§metrics), seconds.
    allocation_history_seconds: float = attrs.field(default=3600.0, validator=_positive)

    # -- shell timer ---------------------------------------------------------------------
    #: How often the shell sends a `Tick` so that boosts and backoffs lapse on time. The
    #: priority (15 s) and node (60 s) refresh intervals are `SchedulerPolicy.intervals`.
    tick_interval_seconds: float = attrs.field(default=5.0, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.min_exploration_boost > self.max_exploration_boost:
            raise ValueError(
                "min_exploration_boost: must not exceed max_exploration_boost "
                f"({self.min_exploration_boost!r} > {self.max_exploration_boost!r})"
            )
        if self.low_quality_very_poor_below > self.low_quality_poor_below:
            raise ValueError(
                "low_quality_very_poor_below: must not exceed low_quality_poor_below "
                f"({self.low_quality_very_poor_below!r} > {self.low_quality_poor_below!r})"
            )

    def regression_boost(self, severity: str) -> float:
        """The boost increment for a regression of this severity (unknown names: 'other')."""
        if severity == "mild":
            return self.regression_boost_mild
        if severity == "moderate":
            return self.regression_boost_moderate
        if severity == "severe":
            return self.regression_boost_severe
        return self.regression_boost_other

    def overload_backoff_seconds(self, resource_type: str) -> float:
        if resource_type == "consecutive_failures":
            return self.overload_backoff_consecutive_failures_seconds
        if resource_type == "memory":
            return self.overload_backoff_memory_seconds
        return self.overload_backoff_default_seconds

    def low_quality_throttle(self, quality_score: float) -> float:
        if quality_score < self.low_quality_very_poor_below:
            return self.low_quality_very_poor_throttle
        if quality_score < self.low_quality_poor_below:
            return self.low_quality_poor_throttle
        return self.low_quality_marginal_throttle
