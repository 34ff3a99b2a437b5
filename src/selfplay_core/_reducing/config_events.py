"""Per-config events (events.md §3.1–§3.15, §3.21, §3.25)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from selfplay_core._reducing.build import books as build_books
from selfplay_core._reducing.build import (
    config_state,
    elo_tracking,
    rate_changed_event,
    target_updated_in_order,
)
from selfplay_core._reducing.common import (
    SCHEDULER_SOURCE,
    Out,
    as_weight,
    boost_from,
    boost_of,
    bounded,
    config_out,
    next_expiry_of,
    one_config,
    put_boosted_config,
    put_config,
    replace_config,
    same,
    thaw,
    with_boost,
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
    SchedulerState,
)

# --- config events (§3.1–§3.15, §3.21, §3.25) -----------------------------------------------


def selfplay_complete(s: SchedulerState, e: SelfplayComplete, now: float, p: Any) -> Out | None:
    key = e.config_key
    cs = s.configs[key]
    if same(cs.staleness_hours, 0.0):
        return None  # already fresh: only the bookkeeping changes
    new = config_state(
        0.0,
        cs.elo_velocity,
        cs.training_pending,
        cs.exploration_boost,
        cs.exploration_boost_expires_at,
        cs.curriculum_weight,
        cs.quality_penalty,
        cs.momentum_multiplier,
        cs.search_budget,
        cs.facts,
    )
    return one_config(s, key, new)


def training_completed(s: SchedulerState, e: TrainingCompleted, now: float, p: Any) -> Out | None:
    key = e.config_key
    cs = s.configs[key]
    if cs.training_pending is False:
        return None  # nothing pending: only the bookkeeping changes
    new = config_state(
        cs.staleness_hours,
        cs.elo_velocity,
        False,
        cs.exploration_boost,
        cs.exploration_boost_expires_at,
        cs.curriculum_weight,
        cs.quality_penalty,
        cs.momentum_multiplier,
        cs.search_budget,
        cs.facts,
    )
    return one_config(s, key, new)


def model_promoted(
    s: SchedulerState, e: ModelPromoted, now: float, p: SchedulerPolicy
) -> Out | None:
    # [BUG] §8.6 fixed: only an explicit `success: false` is a failure.
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    if e.success is False:
        target = min(ep.promotion_failure_cap, cs.exploration_boost * ep.promotion_failure_factor)
    else:
        target = ep.promotion_success_boost
    eb, xa = boost_of(cs, target, now, ep.boost_lifetime_seconds, ep)
    return put_boosted_config(s, key, cs, with_boost(cs, eb, xa))


_HIGH, _LOW = 1, 2
# The usual spellings, so most envelopes skip `upper()`/`lower()` (same answers as those).
_PRIORITY_KINDS: Final[Mapping[str, int]] = MappingProxyType(
    {"high": _HIGH, "HIGH": _HIGH, "low": _LOW, "LOW": _LOW, "normal": 0, "NORMAL": 0}
)


def target_updated(
    s: SchedulerState, e: SelfplayTargetUpdated, now: float, p: SchedulerPolicy
) -> Out | None:
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    budget = cs.search_budget
    if e.search_budget > 0 and e.reason == "velocity_feedback":
        budget = float(bounded(e.search_budget))
    eb, xa, tp = cs.exploration_boost, cs.exploration_boost_expires_at, cs.training_pending
    if e.exploration_boost != 1.0:
        eb, xa = boost_of(cs, e.exploration_boost, now, ep.boost_lifetime_seconds, ep)
    # [BUG] §8.8 fixed: an integer priority (data_events' default 5) reads as "normal".
    priority = e.priority
    if isinstance(priority, str):
        kind = _PRIORITY_KINDS.get(priority)
        if kind is None:  # another spelling: the reference's comparisons
            kind = _HIGH if priority.upper() == "HIGH" else _LOW if priority.lower() == "low" else 0
        if kind == _HIGH:
            tp = True
            floor = ep.target_high_boost_floor
            if eb < floor:
                eb, xa = boost_from(eb, xa, floor, now, ep.boost_lifetime_seconds, ep)
        elif kind == _LOW:
            eb = max(ep.min_exploration_boost, min(ep.target_low_boost_cap, eb))
    if tp is cs.training_pending and same(budget, cs.search_budget):
        new = with_boost(cs, eb, xa)
    else:
        new = config_state(
            cs.staleness_hours,
            cs.elo_velocity,
            tp,
            eb,
            xa,
            cs.curriculum_weight,
            cs.quality_penalty,
            cs.momentum_multiplier,
            budget,
            cs.facts,
        )
    return put_boosted_config(s, key, cs, new)


def quality_degraded(
    s: SchedulerState, e: QualityDegraded, now: float, p: SchedulerPolicy
) -> Out | None:
    key = e.config_key
    cs = s.configs[key]
    score, threshold = e.quality_score, e.threshold
    if score < threshold:
        if threshold == 0.0:
            return None  # the reference divides by zero here and changes nothing
        penalty = -p.events.quality_degraded_penalty_scale * (threshold - score) / threshold
    else:
        penalty = 0.0
    qp = bounded(penalty)
    if same(cs.quality_penalty, qp):
        return None  # the same penalty: only the bookkeeping changes
    configs = put_config(s.configs, key, replace_config(cs, qp=qp))
    return config_out(s, configs, s.ledger.next_expiry_at)


def curriculum_rebalanced(
    s: SchedulerState, e: CurriculumRebalanced, now: float, p: SchedulerPolicy
) -> Out | None:
    if e.source == SCHEDULER_SOURCE:
        return None  # the loop guard: our own regression emission
    changed: dict[ConfigKey, ConfigState] | None = None
    key = e.config_key
    # [BUG] §8.5 fixed: without `weight`, use `new_weight` (emit_curriculum_updated's field);
    # without either, leave the weight alone instead of resetting it to 1.0.
    weight = e.weight if e.weight is not None else e.new_weight
    if key is not None and weight is not None:
        changed = thaw(s.configs)
        changed[key] = replace_config(changed[key], cw=as_weight(weight))
    if e.weights:
        if changed is None:
            changed = thaw(s.configs)
        for cfg, w in e.weights.items():
            changed[cfg] = replace_config(changed[cfg], cw=as_weight(w))
    if changed is None:
        return None  # only the bookkeeping changes
    return config_out(s, MappingProxyType(changed), s.ledger.next_expiry_at)


def rate_changed(s: SchedulerState, e: SelfplayRateChanged, now: float, p: Any) -> Out | None:
    key = e.config_key
    new = replace_config(s.configs[key], mm=as_weight(e.new_rate))
    return one_config(s, key, new)


def training_blocked(
    s: SchedulerState, e: TrainingBlockedByQuality, now: float, p: SchedulerPolicy
) -> Out | None:
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    target = max(ep.training_blocked_floor, cs.exploration_boost * ep.training_blocked_factor)
    eb, xa = boost_of(cs, min(ep.training_blocked_cap, target), now, ep.boost_lifetime_seconds, ep)
    emitted: tuple[Event, ...] = (
        SelfplayTargetUpdated(
            config_key=key,
            priority="high",
            reason=f"training_blocked:{e.reason}",
            exploration_boost=eb,
        ),
    )
    new = replace_config(cs, tp=True, eb=eb, xa=xa)
    return put_boosted_config(s, key, cs, new, emitted)


def opponent_mastered(
    s: SchedulerState, e: OpponentMastered, now: float, p: SchedulerPolicy
) -> Out | None:
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    cw = max(ep.mastered_curriculum_floor, cs.curriculum_weight * ep.mastered_curriculum_factor)
    target = max(ep.mastered_boost_floor, cs.exploration_boost * ep.mastered_boost_factor)
    eb, xa = boost_of(cs, target, now, ep.boost_lifetime_seconds, ep)
    # [BUG] §8.5 fixed: the echo carries the new weight, so it no longer resets it to 1.0.
    emitted: tuple[Event, ...] = (
        CurriculumRebalanced(
            config_key=key,
            new_weight=cw,
            reason=f"config_update_{key}",
            trigger=f"opponent_mastered:{e.opponent_level}",
        ),
    )
    new = replace_config(cs, cw=cw, eb=eb, xa=xa)
    return put_boosted_config(s, key, cs, new, emitted)


def early_stopped(
    s: SchedulerState, e: TrainingEarlyStopped, now: float, p: SchedulerPolicy
) -> Out | None:
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    reason = e.reason.lower()
    if "regression" in reason:
        factor, cap = ep.early_stop_regression_factor, ep.early_stop_regression_cap
    elif "plateau" in reason or "stagnation" in reason:
        factor, cap = ep.early_stop_plateau_factor, ep.early_stop_plateau_cap
    else:
        factor, cap = ep.early_stop_other_factor, ep.early_stop_other_cap
    # [NOTE] min() with the cap lowers a boost already above it, as the reference does.
    lifetime = ep.boost_lifetime_seconds
    eb, xa = boost_of(cs, min(cap, cs.exploration_boost * factor), now, lifetime, ep)
    cw = min(ep.early_stop_curriculum_cap, cs.curriculum_weight * ep.early_stop_curriculum_factor)
    sh = max(cs.staleness_hours, ep.early_stop_staleness_floor_hours)
    emitted: tuple[Event, ...] = (
        SelfplayTargetUpdated(
            config_key=key,
            priority="urgent",
            reason=f"training_early_stopped:{e.reason}",
            exploration_boost=eb,
            curriculum_weight=cw,
        ),
    )
    new = replace_config(cs, eb=eb, xa=xa, cw=cw, sh=sh)
    return put_boosted_config(s, key, cs, new, emitted)


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
    return (rate_changed_event(key, new, old, change, reason),)


def velocity_changed(
    s: SchedulerState, e: EloVelocityChanged, now: float, p: SchedulerPolicy
) -> Out | None:
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    old = cs.momentum_multiplier
    mm = as_weight(_momentum_for_trend(old, e.trend, ep))
    eb, xa = cs.exploration_boost, cs.exploration_boost_expires_at
    if e.velocity < 0:
        target = min(ep.velocity_negative_boost_cap, eb * ep.velocity_negative_boost_factor)
        eb, xa = boost_of(cs, target, now, ep.boost_lifetime_seconds, ep)
    trend = e.trend
    update = target_updated_in_order(
        key, "normal", f"velocity_changed:{trend}", 0.0, eb, None, mm, None
    )
    # `rate_change`, inline for the common case (no change worth a SELFPLAY_RATE_CHANGED)
    if abs(mm - old) / max(old, ep.rate_change_denominator_floor) <= ep.rate_change_emit_threshold:
        emitted: tuple[Event, ...] = (update,)
    else:
        emitted = (*rate_change(key, old, mm, f"elo_momentum:{trend}", ep), update)
    ev = bounded(e.velocity)
    if (cs.elo_velocity is ev or same(cs.elo_velocity, ev)) and (old is mm or same(old, mm)):
        new = with_boost(cs, eb, xa)
    else:
        new = config_state(
            cs.staleness_hours,
            ev,
            cs.training_pending,
            eb,
            xa,
            cs.curriculum_weight,
            cs.quality_penalty,
            mm,
            cs.search_budget,
            cs.facts,
        )
    return put_boosted_config(s, key, cs, new, emitted)


def exploration_boost(
    s: SchedulerState, e: ExplorationBoost, now: float, p: SchedulerPolicy
) -> Out | None:
    # [BUG] §8.3 fixed: the boost gets its expiry and the intended emissions happen.
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    lifetime = ep.boost_lifetime_seconds
    eb, _ = boost_of(cs, max(cs.exploration_boost, e.boost_factor), now, lifetime, ep)
    xa = now + ep.exploration_boost_duration_seconds
    trigger = f"exploration_boost:{e.reason}"
    high = e.boost_factor > ep.exploration_boost_high_priority_above
    emitted: tuple[Event, ...] = (
        SelfplayTargetUpdated(
            config_key=key,
            priority="high" if high else "normal",
            reason=trigger,
            exploration_boost=eb,
            anomaly_count=e.anomaly_count,
        ),
        SelfplayAllocationUpdated(
            trigger=trigger,
            total_games=0,
            configs=(key,),
            node_count=0,
            exploration_boost=eb,
            curriculum_weight=cs.curriculum_weight,
        ),
    )
    return put_boosted_config(s, key, cs, replace_config(cs, eb=eb, xa=xa), emitted)


def curriculum_advanced(
    s: SchedulerState, e: CurriculumAdvanced, now: float, p: SchedulerPolicy
) -> Out | None:
    ep = p.events
    if e.consecutive_promotions < ep.advanced_min_consecutive_promotions:
        return None  # only the bookkeeping changes
    key = e.config_key
    cs = s.configs[key]
    cw = max(ep.advanced_curriculum_floor, cs.curriculum_weight * ep.advanced_curriculum_factor)
    return one_config(s, key, replace_config(cs, cw=cw))


def adaptive_params(
    s: SchedulerState, e: AdaptiveParamsChanged, now: float, p: SchedulerPolicy
) -> Out | None:
    # Only the temperature branch has an effect; the learning-rate branch writes a multiplier
    # nobody reads ([DEAD] §3.14), so it is not kept.
    old, new = e.old_value, e.new_value
    if e.param_type != "temperature" or not old or not new or not new > old:
        return None  # only the bookkeeping changes
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    target = max(cs.exploration_boost, ep.adaptive_temperature_boost_floor)
    eb, xa = boost_of(cs, target, now, ep.boost_lifetime_seconds, ep)
    return put_boosted_config(s, key, cs, replace_config(cs, eb=eb, xa=xa))


def low_quality(
    s: SchedulerState, e: LowQualityDataWarning, now: float, p: SchedulerPolicy
) -> Out | None:
    """Global, as in the reference (§3.15): every config is throttled and penalised."""
    ep = p.events
    q = e.quality_score if e.quality_score is not None else 0.0
    throttle = ep.low_quality_throttle(q)
    penalty = bounded(-ep.low_quality_penalty_scale * (1.0 - q))
    configs: dict[ConfigKey, ConfigState] = {}
    throttled = 0
    for key, cs in s.configs.items():
        target = max(ep.low_quality_boost_floor, cs.exploration_boost * throttle)
        eb, xa = boost_of(cs, target, now, ep.boost_lifetime_seconds, ep)
        if abs(eb - cs.exploration_boost) > ep.low_quality_change_threshold:
            throttled += 1
        configs[key] = replace_config(cs, eb=eb, xa=xa, qp=penalty)
    emitted: tuple[Event, ...] = ()
    if throttled and penalty < 0:
        emitted = tuple(
            QualityPenaltyApplied(
                config_key=key,
                penalty=-penalty,
                reason="low_quality_selfplay_data",
                current_weight=cs.exploration_boost,
                quality_score=q,
                throttle_factor=throttle,
            )
            for key, cs in configs.items()
        )
    frozen = MappingProxyType(configs)
    next_expiry = next_expiry_of(frozen, s.cluster.overloaded_until)
    return config_out(s, frozen, next_expiry, emitted)


def regression(
    s: SchedulerState, e: RegressionDetected, now: float, p: SchedulerPolicy
) -> Out | None:
    # [BUG] §8.4 fixed: the severity's value raises the boost to at least 1 + value (capped)
    # instead of setting it to 0.1–0.3, which cut the config's priority by 70–90 %.
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    target = min(
        ep.regression_boost_cap, max(cs.exploration_boost, 1.0 + ep.regression_boost(e.severity))
    )
    eb, xa = boost_of(cs, target, now, ep.boost_lifetime_seconds, ep)
    emitted: tuple[Event, ...] = (
        CurriculumRebalanced(
            config_key=key,
            reason="regression_detected",
            severity=e.severity,
            new_exploration_boost=eb,
            source=SCHEDULER_SOURCE,
        ),
    )
    return put_boosted_config(s, key, cs, replace_config(cs, eb=eb, xa=xa), emitted)


def elo_updated(s: SchedulerState, e: EloUpdated, now: float, p: SchedulerPolicy) -> Out | None:
    new_elo = e.new_elo
    if new_elo <= 0:
        return None  # only the bookkeeping changes
    if new_elo > MAX_MAGNITUDE:  # `bounded`, inline (positive here)
        new_elo = MAX_MAGNITUDE
    ep = p.events
    key = e.config_key
    books = s.books
    elo = books.elo
    histories_before = elo.history
    previous = histories_before.get(key)
    base = previous if previous is not None else EloSeries.of()
    history = base.appended(now, new_elo, now - ep.elo_history_window_seconds)
    histories = (
        histories_before.copy()
        if type(histories_before) is MappingProxyType
        else dict(histories_before)
    )
    histories[key] = history
    if previous is None:  # a new key: keep canonical config order
        histories = dict(sorted(histories.items()))
    velocities = elo.velocity_per_hour
    # `history.ends()`, inline: the newest point is the one just appended
    first_t, first_elo = history._log.points[history._start]
    span_hours = (now - first_t) / 3600.0
    if span_hours > ep.elo_velocity_min_span_hours and history._end - history._start >= 2:
        changed = velocities.copy() if type(velocities) is MappingProxyType else dict(velocities)
        known = key in changed
        changed[key] = bounded((new_elo - first_elo) / span_hours)
        if not known:
            changed = dict(sorted(changed.items()))
        velocities = MappingProxyType(changed)
    new_elo_tracking = elo_tracking(MappingProxyType(histories), velocities)
    new_books = build_books(
        new_elo_tracking, books.sources, books.allocations, books.unknown_events
    )
    return (s.configs, s.cluster, new_books, s.ledger.next_expiry_at, ())
