"""Per-config events (events.md §3.1–§3.15, §3.21, §3.25)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import attrs

from selfplay_core._reducing.common import (
    SCHEDULER_SOURCE,
    UNCHANGED,
    Outcome,
    as_weight,
    books_changed,
    boost_from,
    boosted,
    bounded,
    config_changed,
    configs_changed,
    same,
)
from selfplay_core.configs import ConfigKey
from selfplay_core.event_policy import EventPolicy
from selfplay_core.events import (
    AdaptiveParamsChanged,
    CurriculumAdvanced,
    CurriculumRebalanced,
    EloUpdated,
    EloVelocityChanged,
    Event,
    ExplorationBoost,
    LowQualityDataWarning,
    ModelPromoted,
    OpponentMastered,
    QualityDegraded,
    QualityPenaltyApplied,
    RegressionDetected,
    SelfplayAllocationUpdated,
    SelfplayComplete,
    SelfplayRateChanged,
    SelfplayTargetUpdated,
    TrainingBlockedByQuality,
    TrainingCompleted,
    TrainingEarlyStopped,
)
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.state import (
    MAX_MAGNITUDE,
    ConfigState,
    EloSeries,
    EloTracking,
    SchedulerState,
    dict_copy,
)


def selfplay_complete(
    state: SchedulerState, event: SelfplayComplete, at: float, policy: SchedulerPolicy
) -> Outcome:
    key = event.config_key
    config = state.configs[key]
    if same(config.staleness_hours, 0.0):
        return UNCHANGED  # already fresh
    return config_changed(state, key, config.with_staleness(0.0))


def training_completed(
    state: SchedulerState, event: TrainingCompleted, at: float, policy: SchedulerPolicy
) -> Outcome:
    key = event.config_key
    config = state.configs[key]
    if config.training_pending is False:
        return UNCHANGED  # nothing pending
    return config_changed(state, key, config.with_training_pending(False))


def model_promoted(
    state: SchedulerState, event: ModelPromoted, at: float, policy: SchedulerPolicy
) -> Outcome:
    # [BUG] §8.6 fixed: only an explicit `success: false` is a failure.
    ep = policy.events
    key = event.config_key
    config = state.configs[key]
    if event.success is False:
        target = min(
            ep.promotion_failure_cap, config.exploration_boost * ep.promotion_failure_factor
        )
    else:
        target = ep.promotion_success_boost
    return config_changed(state, key, boosted(config, target, at, ep))


_HIGH, _LOW, _NORMAL = 1, 2, 0
# The usual spellings, so most envelopes skip `upper()`/`lower()` (same answers as those).
_PRIORITY_KINDS: Final[Mapping[str, int]] = MappingProxyType(
    {"high": _HIGH, "HIGH": _HIGH, "low": _LOW, "LOW": _LOW, "normal": _NORMAL, "NORMAL": _NORMAL}
)


def _priority_kind(priority: object) -> int:
    """[BUG] §8.8 fixed: an integer priority (data_events' default 5) reads as "normal"."""
    if not isinstance(priority, str):
        return _NORMAL
    kind = _PRIORITY_KINDS.get(priority)
    if kind is None:  # another spelling: the reference's comparisons
        return _HIGH if priority.upper() == "HIGH" else _LOW if priority.lower() == "low" else 0
    return kind


def target_updated(
    state: SchedulerState, event: SelfplayTargetUpdated, at: float, policy: SchedulerPolicy
) -> Outcome:
    ep = policy.events
    key = event.config_key
    config = state.configs[key]
    if event.search_budget > 0 and event.reason == "velocity_feedback":
        budget = float(bounded(event.search_budget))
        if not same(budget, config.search_budget):
            config = attrs.evolve(config, search_budget=budget)
    if event.exploration_boost != 1.0:
        config = boosted(config, event.exploration_boost, at, ep)
    kind = _priority_kind(event.priority)
    if kind == _HIGH:
        if config.training_pending is not True:
            config = config.with_training_pending(True)
        if config.exploration_boost < ep.target_high_boost_floor:
            config = boosted(config, ep.target_high_boost_floor, at, ep)
    elif kind == _LOW:
        capped = max(
            ep.min_exploration_boost, min(ep.target_low_boost_cap, config.exploration_boost)
        )
        if not same(capped, config.exploration_boost):
            config = config.with_boost(capped, config.exploration_boost_expires_at)
    return config_changed(state, key, config)


def quality_degraded(
    state: SchedulerState, event: QualityDegraded, at: float, policy: SchedulerPolicy
) -> Outcome:
    key = event.config_key
    config = state.configs[key]
    score, threshold = event.quality_score, event.threshold
    if score < threshold:
        if threshold == 0.0:
            return UNCHANGED  # the reference divides by zero here and changes nothing
        penalty = -policy.events.quality_degraded_penalty_scale * (threshold - score) / threshold
    else:
        penalty = 0.0
    penalty = bounded(penalty)
    if same(config.quality_penalty, penalty):
        return UNCHANGED  # the same penalty
    return config_changed(state, key, config.with_quality_penalty(penalty))


def curriculum_rebalanced(
    state: SchedulerState, event: CurriculumRebalanced, at: float, policy: SchedulerPolicy
) -> Outcome:
    if event.source == SCHEDULER_SOURCE:
        return UNCHANGED  # the loop guard: our own regression emission
    weights: dict[ConfigKey, float] = {}
    # [BUG] §8.5 fixed: without `weight`, use `new_weight` (emit_curriculum_updated's field);
    # without either, leave the weight alone instead of resetting it to 1.0.
    weight = event.weight if event.weight is not None else event.new_weight
    if event.config_key is not None and weight is not None:
        weights[event.config_key] = weight
    if event.weights:
        weights.update(event.weights)
    if not weights:
        return UNCHANGED
    configs = dict_copy(state.configs)
    for key, w in weights.items():
        configs[key] = attrs.evolve(configs[key], curriculum_weight=as_weight(w))
    return configs_changed(state, MappingProxyType(configs))


def rate_changed(
    state: SchedulerState, event: SelfplayRateChanged, at: float, policy: SchedulerPolicy
) -> Outcome:
    if event.new_rate is None:
        return UNCHANGED  # no rate given: no information, no change (as the reference)
    key = event.config_key
    config = attrs.evolve(state.configs[key], momentum_multiplier=as_weight(event.new_rate))
    return config_changed(state, key, config)


def training_blocked(
    state: SchedulerState, event: TrainingBlockedByQuality, at: float, policy: SchedulerPolicy
) -> Outcome:
    ep = policy.events
    key = event.config_key
    config = state.configs[key]
    target = max(ep.training_blocked_floor, config.exploration_boost * ep.training_blocked_factor)
    config = boosted(config, min(ep.training_blocked_cap, target), at, ep)
    config = config.with_training_pending(True)
    update = SelfplayTargetUpdated(
        config_key=key,
        priority="high",
        reason=f"training_blocked:{event.reason}",
        exploration_boost=config.exploration_boost,
    )
    return config_changed(state, key, config, (update,))


def opponent_mastered(
    state: SchedulerState, event: OpponentMastered, at: float, policy: SchedulerPolicy
) -> Outcome:
    ep = policy.events
    key = event.config_key
    config = state.configs[key]
    weight = max(
        ep.mastered_curriculum_floor, config.curriculum_weight * ep.mastered_curriculum_factor
    )
    target = max(ep.mastered_boost_floor, config.exploration_boost * ep.mastered_boost_factor)
    config = attrs.evolve(boosted(config, target, at, ep), curriculum_weight=weight)
    # [BUG] §8.5 fixed: the echo carries the new weight, so it no longer resets it to 1.0.
    echo = CurriculumRebalanced(
        config_key=key,
        new_weight=weight,
        reason=f"config_update_{key}",
        trigger=f"opponent_mastered:{event.opponent_level}",
    )
    return config_changed(state, key, config, (echo,))


def early_stopped(
    state: SchedulerState, event: TrainingEarlyStopped, at: float, policy: SchedulerPolicy
) -> Outcome:
    ep = policy.events
    key = event.config_key
    config = state.configs[key]
    reason = event.reason.lower()
    if "regression" in reason:
        factor, cap = ep.early_stop_regression_factor, ep.early_stop_regression_cap
    elif "plateau" in reason or "stagnation" in reason:
        factor, cap = ep.early_stop_plateau_factor, ep.early_stop_plateau_cap
    else:
        factor, cap = ep.early_stop_other_factor, ep.early_stop_other_cap
    # [NOTE] min() with the cap lowers a boost already above it, as the reference does.
    config = boosted(config, min(cap, config.exploration_boost * factor), at, ep)
    weight = min(
        ep.early_stop_curriculum_cap, config.curriculum_weight * ep.early_stop_curriculum_factor
    )
    staleness = max(config.staleness_hours, ep.early_stop_staleness_floor_hours)
    config = attrs.evolve(config, curriculum_weight=weight, staleness_hours=staleness)
    update = SelfplayTargetUpdated(
        config_key=key,
        priority="urgent",
        reason=f"training_early_stopped:{event.reason}",
        exploration_boost=config.exploration_boost,
        curriculum_weight=weight,
    )
    return config_changed(state, key, config, (update,))


def _momentum_for_trend(m: float, trend: str, ep: EventPolicy) -> float:
    if trend == "accelerating":
        return min(ep.velocity_accelerating_cap, m * ep.velocity_accelerating_factor)
    if trend == "decelerating":
        return max(ep.velocity_decelerating_floor, m * ep.velocity_decelerating_factor)
    if m > 1.0:
        return max(1.0, m * ep.velocity_stable_decay_factor)
    if m < 1.0:
        return min(1.0, m * ep.velocity_stable_growth_factor)
    return m


def rate_change(
    key: ConfigKey, old: float, new: float, reason: str, ep: EventPolicy
) -> tuple[Event, ...]:
    """SELFPLAY_RATE_CHANGED when the change exceeds the threshold (strictly; the reference's
    rounding-dependent test, events.md §8 item 11, is kept as it is)."""
    denominator = max(old, ep.rate_change_denominator_floor)
    if abs(new - old) / denominator <= ep.rate_change_emit_threshold:
        return ()
    change = bounded((new - old) / denominator * 100.0)
    return (
        SelfplayRateChanged(
            config_key=key, new_rate=new, old_rate=old, change_percent=change, reason=reason
        ),
    )


def velocity_changed(
    state: SchedulerState, event: EloVelocityChanged, at: float, policy: SchedulerPolicy
) -> Outcome:
    ep = policy.events
    key = event.config_key
    config = state.configs[key]
    old = config.momentum_multiplier
    momentum = as_weight(_momentum_for_trend(old, event.trend, ep))
    if event.velocity < 0:
        target = min(
            ep.velocity_negative_boost_cap,
            config.exploration_boost * ep.velocity_negative_boost_factor,
        )
        config = boosted(config, target, at, ep)
    velocity = bounded(event.velocity)
    if not (same(config.elo_velocity, velocity) and same(old, momentum)):
        config = config.with_velocity(velocity, momentum)
    trend = event.trend
    update = SelfplayTargetUpdated(
        config_key=key,
        priority="normal",
        reason=f"velocity_changed:{trend}",
        exploration_boost=config.exploration_boost,
        momentum_multiplier=momentum,
    )
    emitted = (*rate_change(key, old, momentum, f"elo_momentum:{trend}", ep), update)
    return config_changed(state, key, config, emitted)


def exploration_boost(
    state: SchedulerState, event: ExplorationBoost, at: float, policy: SchedulerPolicy
) -> Outcome:
    # [BUG] §8.3 fixed: the boost gets its expiry and the intended emissions happen.
    ep = policy.events
    key = event.config_key
    config = state.configs[key]
    lifetime = ep.boost_lifetime_seconds
    target = max(config.exploration_boost, event.boost_factor)
    boost, _ = boost_from(
        config.exploration_boost, config.exploration_boost_expires_at, target, at, lifetime, ep
    )
    trigger = f"exploration_boost:{event.reason}"
    high = event.boost_factor > ep.exploration_boost_high_priority_above
    emitted: tuple[Event, ...] = (
        SelfplayTargetUpdated(
            config_key=key,
            priority="high" if high else "normal",
            reason=trigger,
            exploration_boost=boost,
            anomaly_count=event.anomaly_count,
        ),
        SelfplayAllocationUpdated(
            trigger=trigger,
            total_games=0,
            configs=(key,),
            node_count=0,
            exploration_boost=boost,
            curriculum_weight=config.curriculum_weight,
        ),
    )
    config = config.with_boost(boost, at + ep.exploration_boost_duration_seconds)
    return config_changed(state, key, config, emitted)


def curriculum_advanced(
    state: SchedulerState, event: CurriculumAdvanced, at: float, policy: SchedulerPolicy
) -> Outcome:
    ep = policy.events
    if event.consecutive_promotions < ep.advanced_min_consecutive_promotions:
        return UNCHANGED
    key = event.config_key
    config = state.configs[key]
    weight = max(
        ep.advanced_curriculum_floor, config.curriculum_weight * ep.advanced_curriculum_factor
    )
    return config_changed(state, key, attrs.evolve(config, curriculum_weight=weight))


def adaptive_params(
    state: SchedulerState, event: AdaptiveParamsChanged, at: float, policy: SchedulerPolicy
) -> Outcome:
    # Only the temperature branch has an effect; the learning-rate branch writes a multiplier
    # nobody reads ([DEAD] §3.14), so it is not kept.
    old, new = event.old_value, event.new_value
    if event.param_type != "temperature" or not old or not new or not new > old:
        return UNCHANGED
    ep = policy.events
    key = event.config_key
    config = state.configs[key]
    target = max(config.exploration_boost, ep.adaptive_temperature_boost_floor)
    return config_changed(state, key, boosted(config, target, at, ep))


def low_quality(
    state: SchedulerState, event: LowQualityDataWarning, at: float, policy: SchedulerPolicy
) -> Outcome:
    """Global, as in the reference (§3.15): every config is throttled and penalised."""
    ep = policy.events
    quality = event.quality_score if event.quality_score is not None else 0.0
    throttle = ep.low_quality_throttle(quality)
    penalty = bounded(-ep.low_quality_penalty_scale * (1.0 - quality))
    configs: dict[ConfigKey, ConfigState] = {}
    throttled = 0
    for key, config in state.configs.items():
        target = max(ep.low_quality_boost_floor, config.exploration_boost * throttle)
        new = boosted(config, target, at, ep)
        if abs(new.exploration_boost - config.exploration_boost) > ep.low_quality_change_threshold:
            throttled += 1
        configs[key] = new.with_quality_penalty(penalty)
    emitted: tuple[Event, ...] = ()
    if throttled and penalty < 0:
        emitted = tuple(
            QualityPenaltyApplied(
                config_key=key,
                penalty=-penalty,
                reason="low_quality_selfplay_data",
                current_weight=config.exploration_boost,
                quality_score=quality,
                throttle_factor=throttle,
            )
            for key, config in configs.items()
        )
    return configs_changed(state, MappingProxyType(configs), emitted)


def regression(
    state: SchedulerState, event: RegressionDetected, at: float, policy: SchedulerPolicy
) -> Outcome:
    # [BUG] §8.4 fixed: the severity's value raises the boost to at least 1 + value (capped)
    # instead of setting it to 0.1–0.3, which cut the config's priority by 70–90 %.
    ep = policy.events
    key = event.config_key
    config = state.configs[key]
    raised = max(config.exploration_boost, 1.0 + ep.regression_boost(event.severity))
    config = boosted(config, min(ep.regression_boost_cap, raised), at, ep)
    echo = CurriculumRebalanced(
        config_key=key,
        reason="regression_detected",
        severity=event.severity,
        new_exploration_boost=config.exploration_boost,
        source=SCHEDULER_SOURCE,
    )
    return config_changed(state, key, config, (echo,))


def elo_updated(
    state: SchedulerState, event: EloUpdated, at: float, policy: SchedulerPolicy
) -> Outcome:
    if event.new_elo <= 0:
        return UNCHANGED
    elo = min(event.new_elo, MAX_MAGNITUDE)  # `bounded` (positive here)
    ep = policy.events
    key = event.config_key
    tracking = state.books.elo
    previous = tracking.history.get(key)
    series = previous if previous is not None else EloSeries.of()
    series = series.appended(at, elo, at - ep.elo_history_window_seconds)
    histories = dict_copy(tracking.history)
    histories[key] = series
    if previous is None:  # a new key: keep canonical config order
        histories = dict(sorted(histories.items()))
    velocities = tracking.velocity_per_hour
    count, first_at, first_elo, _ = series.ends()
    span_hours = (at - first_at) / 3600.0
    if span_hours > ep.elo_velocity_min_span_hours and count >= 2:
        changed = dict_copy(velocities)
        known = key in changed
        changed[key] = bounded((elo - first_elo) / span_hours)
        if not known:
            changed = dict(sorted(changed.items()))
        velocities = MappingProxyType(changed)
    tracking = EloTracking(MappingProxyType(histories), velocities)
    return books_changed(state.books.with_elo(tracking))
