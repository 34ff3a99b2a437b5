"""`reduce(state, envelope, policy) -> Transition(state, emitted)`: every event as a pure step.

One small function per event family, chosen from `_HANDLERS` by the event's class. The order of
one step:

1. an envelope whose id is in the state's window of recent ids changes nothing (our answer to
   the reference's double delivery and content dedup, events.md §8 items 1–2);
2. an `UnknownEvent` only counts (and is remembered as seen);
3. time is `envelope.at` (never earlier than the state's `last_at`): every boost and backoff
   whose expiry is at or before it lapses first (§4), emitting what the reference's decay emits;
4. the handler applies the event (§3) and says what the reference would publish (§6), as data.

Handlers return the parts of the state they change; `reduce` builds the new state once. Numbers
that come from outside are kept within ±`MAX_MAGNITUDE`, weights and multipliers are kept ≥ 0
and boosts within the policy's bounds, so every reachable state satisfies `check_invariants`.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, TypeAlias, TypeVar

import attrs

from selfplay_core.cluster import cluster_health_factor
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.event_policy import EventPolicy
from selfplay_core.events import (
    AdaptiveParamsChanged,
    AllocationDecided,
    BackpressureActivated,
    BackpressureReleased,
    ConfigBoosted,
    CurriculumAdvanced,
    CurriculumRebalanced,
    EloUpdated,
    EloVelocityChanged,
    Envelope,
    Event,
    ExplorationBoost,
    HostOffline,
    LowQualityDataWarning,
    ModelPromoted,
    NodeActivated,
    NodeOverloaded,
    NodeRecovered,
    NodeTerminated,
    NodeUnhealthy,
    OpponentMastered,
    P2PClusterHealthy,
    P2PClusterUnhealthy,
    P2PNodeDead,
    QualityDegraded,
    QualityPenaltyApplied,
    RegressionDetected,
    SelfplayAllocationUpdated,
    SelfplayComplete,
    SelfplayRateChanged,
    SelfplayTargetUpdated,
    SourcesRefreshed,
    TargetTrainingSamplesSet,
    Tick,
    TrainingBlockedByQuality,
    TrainingCompleted,
    TrainingEarlyStopped,
    UnknownEvent,
)
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.priority import adaptive_budget, samples_per_game
from selfplay_core.state import (
    MAX_MAGNITUDE,
    AllocationBook,
    Books,
    ClusterFacts,
    ConfigFacts,
    ConfigState,
    EloTracking,
    Ledger,
    SchedulerState,
    SourceBook,
)

__all__ = ["SCHEDULER_SOURCE", "Transition", "reduce"]

#: The payload `source` the scheduler puts on its own CURRICULUM_REBALANCED (the loop guard).
SCHEDULER_SOURCE: Final = "selfplay_scheduler"

_REFERENCE_POLICY: Final = SchedulerPolicy()
_MAX_COUNT: Final = int(MAX_MAGNITUDE)


@attrs.frozen
class Transition:
    """The state after one envelope, and the events the reference would have published."""

    state: SchedulerState
    emitted: tuple[Event, ...] = ()


# What a handler changes: (configs, cluster, books, next_expiry_at, emitted).
_Out: TypeAlias = tuple[
    Mapping[ConfigKey, ConfigState],
    ClusterFacts,
    Books,
    float,
    tuple[Event, ...],
]
_Handler: TypeAlias = Callable[[SchedulerState, Any, float, SchedulerPolicy], _Out | None]


def reduce(
    state: SchedulerState, envelope: Envelope, policy: SchedulerPolicy = _REFERENCE_POLICY
) -> Transition:
    """Apply one envelope. Pure: `state` is not changed, time is `envelope.at`."""
    ledger = state.ledger
    envelope_id = envelope.id
    if envelope_id in ledger:
        return Transition(state, ())
    size = policy.events.dedup_window
    if ledger.size != size:
        ledger = ledger.resized(size)
    event = envelope.event
    handler = _HANDLERS.get(type(event))
    if handler is None:
        return Transition(_seen_only(state, ledger, envelope_id, event), ())
    now = envelope.at
    if now < ledger.last_at:
        now = ledger.last_at  # a late envelope does not move time backwards
    lapsed: tuple[Event, ...] = ()
    next_expiry = ledger.next_expiry_at
    if next_expiry and now >= next_expiry:
        state, lapsed = _lapse(state, now)
    out = handler(state, event, now, policy)
    if out is None:  # only the bookkeeping changes
        new_ledger = ledger.record(
            envelope_id, ledger.applied + 1, now, state.ledger.next_expiry_at
        )
        return Transition(
            SchedulerState(state.configs, state.cluster, state.books, new_ledger), lapsed
        )
    new_ledger = ledger.record(envelope_id, ledger.applied + 1, now, out[3])
    new_state = SchedulerState(out[0], out[1], out[2], new_ledger)
    return Transition(new_state, lapsed + out[4] if lapsed else out[4])


def _seen_only(
    state: SchedulerState, ledger: Ledger, envelope_id: str, event: object
) -> SchedulerState:
    """An unknown (or emit-only) event: remembered as seen, unknown types counted, nothing else."""
    books = state.books
    if type(event) is UnknownEvent:
        counts = dict(books.unknown_events)
        counts[event.type] = counts.get(event.type, 0) + 1
        unknown = MappingProxyType(dict(sorted(counts.items())))
        books = Books(books.elo, books.sources, books.allocations, unknown)
    new_ledger = ledger.record(envelope_id, ledger.applied, ledger.last_at, ledger.next_expiry_at)
    return SchedulerState(state.configs, state.cluster, books, new_ledger)


# --- small helpers --------------------------------------------------------------------------

_KEEP: Final[Any] = object()


def _with(
    cs: ConfigState,
    *,
    sh: Any = _KEEP,
    ev: Any = _KEEP,
    tp: Any = _KEEP,
    eb: Any = _KEEP,
    xa: Any = _KEEP,
    cw: Any = _KEEP,
    qp: Any = _KEEP,
    mm: Any = _KEEP,
    sb: Any = _KEEP,
    facts: Any = _KEEP,
) -> ConfigState:
    """`cs` with some fields replaced (a fast, explicit `attrs.evolve`)."""
    return ConfigState(
        cs.staleness_hours if sh is _KEEP else sh,
        cs.elo_velocity if ev is _KEEP else ev,
        cs.training_pending if tp is _KEEP else tp,
        cs.exploration_boost if eb is _KEEP else eb,
        cs.exploration_boost_expires_at if xa is _KEEP else xa,
        cs.curriculum_weight if cw is _KEEP else cw,
        cs.quality_penalty if qp is _KEEP else qp,
        cs.momentum_multiplier if mm is _KEEP else mm,
        cs.search_budget if sb is _KEEP else sb,
        cs.facts if facts is _KEEP else facts,
    )


_K = TypeVar("_K")
_V = TypeVar("_V")


def _thaw(mapping: Mapping[_K, _V]) -> dict[_K, _V]:
    """A mutable copy; a mappingproxy's dict is copied directly (no rehashing of the keys)."""
    if type(mapping) is MappingProxyType:
        return mapping.copy()
    return dict(mapping)


def _put(
    configs: Mapping[ConfigKey, ConfigState], key: ConfigKey, cs: ConfigState
) -> Mapping[ConfigKey, ConfigState]:
    changed = _thaw(configs)
    changed[key] = cs
    return MappingProxyType(changed)


def _cluster_with(
    c: ClusterFacts,
    *,
    nodes: Any = _KEEP,
    unhealthy: Any = _KEEP,
    overloaded: Any = _KEEP,
    health: Any = _KEEP,
    backpressure: Any = _KEEP,
    backpressure_active: Any = _KEEP,
    queue_depth: Any = _KEEP,
) -> ClusterFacts:
    """`c` with some fields replaced (a fast, explicit `attrs.evolve`)."""
    return ClusterFacts(
        c.nodes if nodes is _KEEP else nodes,
        c.unhealthy_nodes if unhealthy is _KEEP else unhealthy,
        c.overloaded_until if overloaded is _KEEP else overloaded,
        c.health_factor if health is _KEEP else health,
        c.backpressure if backpressure is _KEEP else backpressure,
        c.backpressure_active if backpressure_active is _KEEP else backpressure_active,
        c.training_queue_depth if queue_depth is _KEEP else queue_depth,
    )


def _bounded(value: float) -> float:
    """Keep an outside number within ±MAX_MAGNITUDE (NaN never gets here: decode rejects it)."""
    if value > MAX_MAGNITUDE:
        return MAX_MAGNITUDE
    if value < -MAX_MAGNITUDE:
        return -MAX_MAGNITUDE
    return value


def _weight(value: float) -> float:
    """A weight or multiplier: not negative, bounded."""
    if value < 0.0:
        return 0.0
    return MAX_MAGNITUDE if value > MAX_MAGNITUDE else value


def _boost(
    cs: ConfigState, new: float, now: float, duration: float, ep: EventPolicy
) -> tuple[float, float]:
    """The boost `new` (clamped to the policy's bounds) and its expiry, from `cs`'s."""
    return _boost_from(
        cs.exploration_boost, cs.exploration_boost_expires_at, new, now, duration, ep
    )


def _boost_from(
    old: float, expires: float, new: float, now: float, duration: float, ep: EventPolicy
) -> tuple[float, float]:
    """A boost raised above 1.0 lasts at least `duration` from now; lowering a boost keeps its
    expiry; a boost that ends ≤ 1.0 keeps whatever expiry it had (it lapses harmlessly)."""
    if new < ep.min_exploration_boost:
        new = ep.min_exploration_boost
    elif new > ep.max_exploration_boost:
        new = ep.max_exploration_boost
    if new > 1.0 and (new > old or expires == 0.0):
        until = now + duration
        if until > expires:
            expires = until
    return new, expires


def _sooner(next_expiry: float, expires: float) -> float:
    if expires and (next_expiry == 0.0 or expires < next_expiry):
        return expires
    return next_expiry


def _one_config(
    s: SchedulerState, key: ConfigKey, cs: ConfigState, emitted: tuple[Event, ...] = ()
) -> _Out:
    """Config `key` replaced by `cs` (its boost expiry unchanged)."""
    configs = s.configs
    changed = configs.copy() if type(configs) is MappingProxyType else dict(configs)
    changed[key] = cs
    return (MappingProxyType(changed), s.cluster, s.books, s.next_expiry_at, emitted)


def _config_out(
    state: SchedulerState,
    configs: Mapping[ConfigKey, ConfigState],
    next_expiry: float,
    emitted: tuple[Event, ...] = (),
) -> _Out:
    return (configs, state.cluster, state.books, next_expiry, emitted)


def _put_boosted(
    s: SchedulerState,
    key: ConfigKey,
    old: ConfigState,
    new: ConfigState,
    emitted: tuple[Event, ...] = (),
) -> _Out:
    """`new` in place of `old`, keeping the expiry cache exact when the boost's expiry moved."""
    configs = _put(s.configs, key, new)
    before, after = old.exploration_boost_expires_at, new.exploration_boost_expires_at
    next_expiry = s.next_expiry_at
    if after != before:
        if before and before == next_expiry:  # the earliest expiry moved: find the new one
            next_expiry = _recompute_next_expiry(configs, s.cluster.overloaded_until)
        else:
            next_expiry = _sooner(next_expiry, after)
    return (configs, s.cluster, s.books, next_expiry, emitted)


def _cluster_out(state: SchedulerState, cluster: ClusterFacts, next_expiry: float) -> _Out:
    return (state.configs, cluster, state.books, next_expiry, ())


def _recompute_next_expiry(
    configs: Mapping[ConfigKey, ConfigState], overloaded: Mapping[str, float]
) -> float:
    times = [cs.exploration_boost_expires_at for cs in configs.values()]
    times += overloaded.values()
    return min([t for t in times if t], default=0.0)


# --- expiry (§4) ----------------------------------------------------------------------------


def _lapse(state: SchedulerState, now: float) -> tuple[SchedulerState, tuple[Event, ...]]:
    """Every boost and backoff due at `now` ends. A boost above 1.0 returns to 1.0 and the
    reference's SELFPLAY_TARGET_UPDATED "exploration_boost_expired" is emitted; the feedback
    source's last boost report for that config is forgotten, so its next report applies again."""
    configs = _thaw(state.configs)
    emitted: list[Event] = []
    reported = state.sources.reported
    forgotten: list[int] = []
    for key, cs in configs.items():
        expires = cs.exploration_boost_expires_at
        if expires and expires <= now:
            if cs.exploration_boost > 1.0:
                configs[key] = _with(cs, eb=1.0, xa=0.0)
                emitted.append(
                    SelfplayTargetUpdated(
                        config_key=key,
                        priority="normal",
                        reason="exploration_boost_expired",
                        exploration_boost=1.0,
                    )
                )
                forgotten.append(key.index)
            else:
                configs[key] = _with(cs, xa=0.0)
    books = state.books
    if forgotten and "feedback_boost" in reported:
        kept = list(reported["feedback_boost"])
        for index in forgotten:
            kept[index] = None
        changed = dict(reported)
        changed["feedback_boost"] = tuple(kept)
        sources = SourceBook(books.sources.last_refresh, MappingProxyType(changed))
        books = Books(books.elo, sources, books.allocations, books.unknown_events)
    cluster = state.cluster
    overloaded = cluster.overloaded_until
    if any(until <= now for until in overloaded.values()):
        overloaded = MappingProxyType({n: t for n, t in overloaded.items() if t > now})
        cluster = _cluster_with(cluster, overloaded=overloaded)
    frozen_configs = MappingProxyType(configs)
    next_expiry = _recompute_next_expiry(frozen_configs, overloaded)
    lapsed = SchedulerState(
        frozen_configs, cluster, books, state.ledger.with_next_expiry(next_expiry)
    )
    return lapsed, tuple(emitted)


# --- config events (§3.1–§3.15, §3.21, §3.25) -----------------------------------------------


def _selfplay_complete(s: SchedulerState, e: SelfplayComplete, now: float, p: Any) -> _Out | None:
    key = e.config_key
    cs = s.configs[key]
    new = ConfigState(
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
    return _one_config(s, key, new)


def _training_completed(s: SchedulerState, e: TrainingCompleted, now: float, p: Any) -> _Out | None:
    key = e.config_key
    cs = s.configs[key]
    new = ConfigState(
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
    return _one_config(s, key, new)


def _model_promoted(
    s: SchedulerState, e: ModelPromoted, now: float, p: SchedulerPolicy
) -> _Out | None:
    # [BUG] §8.6 fixed: only an explicit `success: false` is a failure.
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    if e.success is False:
        target = min(ep.promotion_failure_cap, cs.exploration_boost * ep.promotion_failure_factor)
    else:
        target = ep.promotion_success_boost
    eb, xa = _boost(cs, target, now, ep.boost_lifetime_seconds, ep)
    return _put_boosted(s, key, cs, _with(cs, eb=eb, xa=xa))


def _target_updated(
    s: SchedulerState, e: SelfplayTargetUpdated, now: float, p: SchedulerPolicy
) -> _Out | None:
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    budget = cs.search_budget
    if e.search_budget > 0 and e.reason == "velocity_feedback":
        budget = float(_bounded(e.search_budget))
    eb, xa, tp = cs.exploration_boost, cs.exploration_boost_expires_at, cs.training_pending
    if e.exploration_boost != 1.0:
        eb, xa = _boost(cs, e.exploration_boost, now, ep.boost_lifetime_seconds, ep)
    # [BUG] §8.8 fixed: an integer priority (data_events' default 5) reads as "normal".
    priority = e.priority
    if isinstance(priority, str):
        if priority.upper() == "HIGH":
            tp = True
            floor = ep.target_high_boost_floor
            if eb < floor:
                eb, xa = _boost_from(eb, xa, floor, now, _life(ep), ep)
        elif priority.lower() == "low":
            eb = max(ep.min_exploration_boost, min(ep.target_low_boost_cap, eb))
    new = _with(cs, tp=tp, eb=eb, xa=xa, sb=budget)
    return _put_boosted(s, key, cs, new)


def _life(ep: EventPolicy) -> float:
    return ep.boost_lifetime_seconds


def _quality_degraded(
    s: SchedulerState, e: QualityDegraded, now: float, p: SchedulerPolicy
) -> _Out | None:
    key = e.config_key
    cs = s.configs[key]
    score, threshold = e.quality_score, e.threshold
    if score < threshold:
        if threshold == 0.0:
            return None  # the reference divides by zero here and changes nothing
        penalty = -p.events.quality_degraded_penalty_scale * (threshold - score) / threshold
    else:
        penalty = 0.0
    return _config_out(s, _put(s.configs, key, _with(cs, qp=_bounded(penalty))), s.next_expiry_at)


def _curriculum_rebalanced(
    s: SchedulerState, e: CurriculumRebalanced, now: float, p: SchedulerPolicy
) -> _Out | None:
    if e.source == SCHEDULER_SOURCE:
        return None  # only the bookkeeping changes  # the loop guard: our own regression emission
    changed: dict[ConfigKey, ConfigState] | None = None
    key = e.config_key
    # [BUG] §8.5 fixed: without `weight`, use `new_weight` (emit_curriculum_updated's field);
    # without either, leave the weight alone instead of resetting it to 1.0.
    weight = e.weight if e.weight is not None else e.new_weight
    if key is not None and weight is not None:
        changed = _thaw(s.configs)
        changed[key] = _with(changed[key], cw=_weight(weight))
    if e.weights:
        if changed is None:
            changed = _thaw(s.configs)
        for cfg, w in e.weights.items():
            changed[cfg] = _with(changed[cfg], cw=_weight(w))
    if changed is None:
        return None  # only the bookkeeping changes
    return _config_out(s, MappingProxyType(changed), s.next_expiry_at)


def _rate_changed(s: SchedulerState, e: SelfplayRateChanged, now: float, p: Any) -> _Out | None:
    key = e.config_key
    new = _with(s.configs[key], mm=_weight(e.new_rate))
    return _one_config(s, key, new)


def _training_blocked(
    s: SchedulerState, e: TrainingBlockedByQuality, now: float, p: SchedulerPolicy
) -> _Out | None:
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    target = max(ep.training_blocked_floor, cs.exploration_boost * ep.training_blocked_factor)
    eb, xa = _boost(cs, min(ep.training_blocked_cap, target), now, _life(ep), ep)
    emitted: tuple[Event, ...] = (
        SelfplayTargetUpdated(
            config_key=key,
            priority="high",
            reason=f"training_blocked:{e.reason}",
            exploration_boost=eb,
        ),
    )
    new = _with(cs, tp=True, eb=eb, xa=xa)
    return _put_boosted(s, key, cs, new, emitted)


def _opponent_mastered(
    s: SchedulerState, e: OpponentMastered, now: float, p: SchedulerPolicy
) -> _Out | None:
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    cw = max(ep.mastered_curriculum_floor, cs.curriculum_weight * ep.mastered_curriculum_factor)
    target = max(ep.mastered_boost_floor, cs.exploration_boost * ep.mastered_boost_factor)
    eb, xa = _boost(cs, target, now, _life(ep), ep)
    # [BUG] §8.5 fixed: the echo carries the new weight, so it no longer resets it to 1.0.
    emitted: tuple[Event, ...] = (
        CurriculumRebalanced(
            config_key=key,
            new_weight=cw,
            reason=f"config_update_{key}",
            trigger=f"opponent_mastered:{e.opponent_level}",
        ),
    )
    new = _with(cs, cw=cw, eb=eb, xa=xa)
    return _put_boosted(s, key, cs, new, emitted)


def _early_stopped(
    s: SchedulerState, e: TrainingEarlyStopped, now: float, p: SchedulerPolicy
) -> _Out | None:
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
    eb, xa = _boost(cs, min(cap, cs.exploration_boost * factor), now, _life(ep), ep)
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
    new = _with(cs, eb=eb, xa=xa, cw=cw, sh=sh)
    return _put_boosted(s, key, cs, new, emitted)


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


def _rate_change(
    key: ConfigKey, old: float, new: float, reason: str, ep: EventPolicy
) -> tuple[Event, ...]:
    """SELFPLAY_RATE_CHANGED when the change exceeds the threshold (strictly; the reference's
    rounding-dependent test, events.md §8 item 11, is kept as it is)."""
    denominator = max(old, ep.rate_change_denominator_floor)
    if abs(new - old) / denominator <= ep.rate_change_emit_threshold:
        return ()
    return (
        SelfplayRateChanged(
            config_key=key,
            new_rate=new,
            old_rate=old,
            change_percent=_bounded((new - old) / denominator * 100.0),
            reason=reason,
        ),
    )


def _velocity_changed(
    s: SchedulerState, e: EloVelocityChanged, now: float, p: SchedulerPolicy
) -> _Out | None:
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    old = cs.momentum_multiplier
    mm = _weight(_momentum_for_trend(old, e.trend, ep))
    eb, xa = cs.exploration_boost, cs.exploration_boost_expires_at
    if e.velocity < 0:
        target = min(ep.velocity_negative_boost_cap, eb * ep.velocity_negative_boost_factor)
        eb, xa = _boost(cs, target, now, _life(ep), ep)
    emitted = (
        *_rate_change(key, old, mm, f"elo_momentum:{e.trend}", ep),
        SelfplayTargetUpdated(
            config_key=key,
            priority="normal",
            reason=f"velocity_changed:{e.trend}",
            momentum_multiplier=mm,
            exploration_boost=eb,
        ),
    )
    new = _with(cs, ev=_bounded(e.velocity), mm=mm, eb=eb, xa=xa)
    return _put_boosted(s, key, cs, new, emitted)


def _exploration_boost(
    s: SchedulerState, e: ExplorationBoost, now: float, p: SchedulerPolicy
) -> _Out | None:
    # [BUG] §8.3 fixed: the boost gets its expiry and the intended emissions happen.
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    eb, _ = _boost(cs, max(cs.exploration_boost, e.boost_factor), now, _life(ep), ep)
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
    configs = _put(s.configs, key, _with(cs, eb=eb, xa=xa))
    # The overwritten expiry may be earlier than the one the cache knew: recompute.
    next_expiry = _recompute_next_expiry(configs, s.cluster.overloaded_until)
    return _config_out(s, configs, next_expiry, emitted)


def _curriculum_advanced(
    s: SchedulerState, e: CurriculumAdvanced, now: float, p: SchedulerPolicy
) -> _Out | None:
    ep = p.events
    if e.consecutive_promotions < ep.advanced_min_consecutive_promotions:
        return None  # only the bookkeeping changes
    key = e.config_key
    cs = s.configs[key]
    cw = max(ep.advanced_curriculum_floor, cs.curriculum_weight * ep.advanced_curriculum_factor)
    return _one_config(s, key, _with(cs, cw=cw))


def _adaptive_params(
    s: SchedulerState, e: AdaptiveParamsChanged, now: float, p: SchedulerPolicy
) -> _Out | None:
    # Only the temperature branch has an effect; the learning-rate branch writes a multiplier
    # nobody reads ([DEAD] §3.14), so it is not kept.
    old, new = e.old_value, e.new_value
    if e.param_type != "temperature" or not old or not new or not new > old:
        return None  # only the bookkeeping changes
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    target = max(cs.exploration_boost, ep.adaptive_temperature_boost_floor)
    eb, xa = _boost(cs, target, now, _life(ep), ep)
    return _put_boosted(s, key, cs, _with(cs, eb=eb, xa=xa))


def _low_quality(
    s: SchedulerState, e: LowQualityDataWarning, now: float, p: SchedulerPolicy
) -> _Out | None:
    """Global, as in the reference (§3.15): every config is throttled and penalised."""
    ep = p.events
    q = e.quality_score if e.quality_score is not None else 0.0
    throttle = ep.low_quality_throttle(q)
    penalty = _bounded(-ep.low_quality_penalty_scale * (1.0 - q))
    configs: dict[ConfigKey, ConfigState] = {}
    throttled = 0
    for key, cs in s.configs.items():
        target = max(ep.low_quality_boost_floor, cs.exploration_boost * throttle)
        eb, xa = _boost(cs, target, now, _life(ep), ep)
        if abs(eb - cs.exploration_boost) > ep.low_quality_change_threshold:
            throttled += 1
        configs[key] = _with(cs, eb=eb, xa=xa, qp=penalty)
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
    next_expiry = _recompute_next_expiry(frozen, s.cluster.overloaded_until)
    return _config_out(s, frozen, next_expiry, emitted)


def _regression(
    s: SchedulerState, e: RegressionDetected, now: float, p: SchedulerPolicy
) -> _Out | None:
    # [BUG] §8.4 fixed: the severity's value raises the boost to at least 1 + value (capped)
    # instead of setting it to 0.1–0.3, which cut the config's priority by 70–90 %.
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    target = min(
        ep.regression_boost_cap, max(cs.exploration_boost, 1.0 + ep.regression_boost(e.severity))
    )
    eb, xa = _boost(cs, target, now, _life(ep), ep)
    emitted: tuple[Event, ...] = (
        CurriculumRebalanced(
            config_key=key,
            reason="regression_detected",
            severity=e.severity,
            new_exploration_boost=eb,
            source=SCHEDULER_SOURCE,
        ),
    )
    return _put_boosted(s, key, cs, _with(cs, eb=eb, xa=xa), emitted)


def _elo_updated(s: SchedulerState, e: EloUpdated, now: float, p: SchedulerPolicy) -> _Out | None:
    if e.new_elo <= 0:
        return None  # only the bookkeeping changes
    ep = p.events
    key = e.config_key
    elo = s.elo
    history = elo.history.get(key, ())
    cutoff = now - ep.elo_history_window_seconds
    if history and history[0][0] < cutoff:
        history = history[bisect.bisect_left(history, (cutoff,)) :]
    history = (*history, (now, _bounded(e.new_elo)))
    histories = _thaw(elo.history)
    known = key in histories
    histories[key] = history
    if not known:  # keep canonical config order
        histories = dict(sorted(histories.items()))
    velocities = elo.velocity_per_hour
    first_t, first_elo = history[0]
    span_hours = (now - first_t) / 3600.0
    if len(history) >= 2 and span_hours > ep.elo_velocity_min_span_hours:
        changed = _thaw(velocities)
        known = key in changed
        changed[key] = _bounded((history[-1][1] - first_elo) / span_hours)
        if not known:
            changed = dict(sorted(changed.items()))
        velocities = MappingProxyType(changed)
    new_elo = EloTracking(MappingProxyType(histories), velocities)
    books = s.books
    new_books = Books(new_elo, books.sources, books.allocations, books.unknown_events)
    return (s.configs, s.cluster, new_books, s.next_expiry_at, ())


# --- node and cluster events (§3.16–§3.20, §3.22–§3.24) --------------------------------------


def _node_down(s: SchedulerState, e: Any, now: float, p: SchedulerPolicy) -> _Out | None:
    """NODE_UNHEALTHY, P2P_NODE_DEAD, HOST_OFFLINE, NODE_TERMINATED: unhealthy, load to 1.0."""
    node_id: str = e.node_id
    cluster = s.cluster
    nodes = cluster.nodes
    load = p.events.unhealthy_node_load
    for i, node in enumerate(nodes):
        if node.node_id == node_id:
            if node.current_load != load:
                nodes = (*nodes[:i], attrs.evolve(node, current_load=load), *nodes[i + 1 :])
            break
    unhealthy = cluster.unhealthy_nodes
    if node_id not in unhealthy:
        unhealthy = unhealthy | {node_id}
    if nodes is cluster.nodes and unhealthy is cluster.unhealthy_nodes:
        return None  # only the bookkeeping changes
    new = _cluster_with(cluster, nodes=nodes, unhealthy=unhealthy)
    return _cluster_out(s, new, s.next_expiry_at)


def _node_up(s: SchedulerState, e: Any, now: float, p: SchedulerPolicy) -> _Out | None:
    """NODE_RECOVERED, NODE_ACTIVATED: no longer unhealthy (its load waits for a refresh)."""
    cluster = s.cluster
    if e.node_id not in cluster.unhealthy_nodes:
        return None  # only the bookkeeping changes
    new = _cluster_with(cluster, unhealthy=cluster.unhealthy_nodes - {e.node_id})
    return _cluster_out(s, new, s.next_expiry_at)


def _cluster_unhealthy(
    s: SchedulerState, e: P2PClusterUnhealthy, now: float, p: SchedulerPolicy
) -> _Out | None:
    # [BUG] §8.7 fixed: the codec maps the counts publishers really send onto these fields.
    healthy = e.healthy_nodes or 0
    total = e.total_nodes or 0
    factor = cluster_health_factor(healthy, total, p.allocation)
    if factor == s.cluster.health_factor:
        return None  # only the bookkeeping changes
    return _cluster_out(s, _cluster_with(s.cluster, health=factor), s.next_expiry_at)


def _cluster_healthy(
    s: SchedulerState, e: P2PClusterHealthy, now: float, p: SchedulerPolicy
) -> _Out | None:
    cluster = s.cluster
    if cluster.health_factor == 1.0 and not cluster.unhealthy_nodes:
        return None  # only the bookkeeping changes
    new = _cluster_with(cluster, health=1.0, unhealthy=frozenset())
    return _cluster_out(s, new, s.next_expiry_at)


def _backpressure_flag(active: bool) -> _Handler:
    def handle(s: SchedulerState, e: Any, now: float, p: SchedulerPolicy) -> _Out | None:
        if s.cluster.backpressure_active is active:
            return None  # only the bookkeeping changes
        new = _cluster_with(s.cluster, backpressure_active=active)
        return _cluster_out(s, new, s.next_expiry_at)

    return handle


def _node_overloaded(
    s: SchedulerState, e: NodeOverloaded, now: float, p: SchedulerPolicy
) -> _Out | None:
    # Every entry is already after `now`: expired ones lapsed before the handler ran.
    until = now + p.events.overload_backoff_seconds(e.resource_type)
    node_id = e.node_id
    before = s.cluster.overloaded_until
    overloaded = _thaw(before)
    if until <= now:  # a zero backoff: nothing to wait for
        if node_id not in overloaded:
            return None  # only the bookkeeping changes
        del overloaded[node_id]
        next_expiry = _recompute_next_expiry(s.configs, overloaded)
    else:
        previous = overloaded.get(node_id)
        overloaded[node_id] = until  # overwrites any earlier entry, even a longer one
        if previous is None:
            overloaded = dict(sorted(overloaded.items()))  # keep node-id order
        if previous is not None and previous == s.next_expiry_at:
            next_expiry = _recompute_next_expiry(s.configs, overloaded)
        else:
            next_expiry = _sooner(s.next_expiry_at, until)
    cluster = _cluster_with(s.cluster, overloaded=MappingProxyType(overloaded))
    return _cluster_out(s, cluster, next_expiry)


# --- the scheduler's own events -------------------------------------------------------------


def _tick(s: SchedulerState, e: Tick, now: float, p: SchedulerPolicy) -> _Out | None:
    return None  # only the bookkeeping changes  # expiry already happened in `reduce`


def _allocation_decided(
    s: SchedulerState, e: AllocationDecided, now: float, p: SchedulerPolicy
) -> _Out | None:
    book = s.allocations
    games = int(e.result.total_games)
    cutoff = now - p.events.allocation_history_seconds
    history = (*(item for item in book.history if item[0] >= cutoff), (now, games))
    new = AllocationBook(history, book.games_total + games, book.decisions + 1)
    books = Books(s.books.elo, s.books.sources, new, s.books.unknown_events)
    return (s.configs, s.cluster, books, s.next_expiry_at, ())


def _target_samples_set(
    s: SchedulerState, e: TargetTrainingSamplesSet, now: float, p: SchedulerPolicy
) -> _Out | None:
    key = e.config_key
    cs = s.configs[key]
    f = cs.facts
    facts = ConfigFacts(
        f.current_elo,
        f.game_count,
        f.quality_score,
        f.cascade_multiplier,
        f.improvement_boost,
        f.priority_override,
        min(e.target, _MAX_COUNT),
        samples_per_game(key, p),
    )
    return _one_config(s, key, _with(cs, facts=facts))


def _config_boosted(
    s: SchedulerState, e: ConfigBoosted, now: float, p: SchedulerPolicy
) -> _Out | None:
    """The facade's `boost_config_allocation` (allocation.md §8.4)."""
    ep = p.events
    key = e.config_key
    cs = s.configs[key]
    eb, xa = _boost(
        cs, min(ep.config_boost_cap, cs.exploration_boost * e.multiplier), now, _life(ep), ep
    )
    old = cs.momentum_multiplier
    mm = _weight(min(ep.config_boost_momentum_cap, old * ep.config_boost_momentum_factor))
    emitted = _rate_change(key, old, mm, "config_boost", ep)
    new = _with(cs, eb=eb, xa=xa, mm=mm)
    return _put_boosted(s, key, cs, new, emitted)


# --- SourcesRefreshed: who owns which field (docs/source-ownership.md) ----------------------

# Source-owned per-config facts: a report always overwrites.
_FACT_PARTS: Final = (
    ("current_elos", "current_elo"),
    ("game_counts", "game_count"),
    ("quality_scores", "quality_score"),
    ("cascade_multipliers", "cascade_multiplier"),
    ("improvement_boosts", "improvement_boost"),
    ("priority_overrides", "priority_override"),
)
_N_CONFIGS: Final = len(ALL_CONFIGS)
_NEVER_REPORTED: Final[tuple[None, ...]] = (None,) * _N_CONFIGS

# Fields shared with events: a report overwrites only when it is news (it differs from what the
# same source said last time), so an event's later write is not silently wiped.
_SHARED_PARTS: Final = (
    ("staleness_hours", "sh"),
    ("elo_velocities", "ev"),
    ("curriculum_weights", "cw"),
    ("momentum_multipliers", "mm"),
)
_WEIGHT_FIELDS: Final = frozenset({"cw", "mm"})

_REFRESH_PARTS: Final = (
    "current_elos",
    "elo_velocities",
    "game_counts",
    "staleness_hours",
    "curriculum_weights",
    "feedback",
    "improvement_boosts",
    "momentum_multipliers",
    "quality_scores",
    "cascade_multipliers",
    "priority_overrides",
    "nodes",
    "training_queue_depth",
    "backpressure",
)


def _row(values: Mapping[ConfigKey, Any]) -> tuple[Any, ...]:
    """One value per canonical config (None where absent). Event mappings are in canonical
    order, so a complete one needs no key lookups (hashing a `ConfigKey` is costly)."""
    if len(values) == _N_CONFIGS:
        return tuple(values.values())
    row: list[Any] = [None] * _N_CONFIGS
    for key, value in values.items():
        row[key.index] = value
    return tuple(row)


def _facts_with(facts: ConfigFacts, changes: Mapping[str, Any]) -> ConfigFacts:
    get = changes.get
    return ConfigFacts(
        get("current_elo", facts.current_elo),
        get("game_count", facts.game_count),
        get("quality_score", facts.quality_score),
        get("cascade_multiplier", facts.cascade_multiplier),
        get("improvement_boost", facts.improvement_boost),
        get("priority_override", facts.priority_override),
        facts.target_training_samples,
        facts.samples_per_game_estimate,
    )


def _identity(value: Any) -> Any:
    return value


def _int_fact(value: float) -> int:
    return int(_bounded(value))


_FACT_CONVERTERS: Final[Mapping[str, Callable[[Any], Any]]] = MappingProxyType(
    {
        "current_elo": _bounded,
        "game_count": _int_fact,
        "quality_score": _bounded,
        "cascade_multiplier": _weight,
        "improvement_boost": _bounded,
        "priority_override": _int_fact,
    }
)


def _sources_refreshed(
    s: SchedulerState, e: SourcesRefreshed, now: float, p: SchedulerPolicy
) -> _Out | None:
    """Facts are overwritten; shared fields only with news; a part equal to the same source's
    previous report is skipped whole (the common case, and the cheap one)."""
    ep = p.events
    reported = s.sources.reported
    rows: dict[str, tuple[Any, ...]] = {}
    old = tuple(s.configs.values())
    fact_changes: list[dict[str, Any] | None] = [None] * _N_CONFIGS
    field_changes: list[dict[str, Any] | None] = [None] * _N_CONFIGS

    def changes_in(table: list[dict[str, Any] | None], i: int) -> dict[str, Any]:
        found = table[i]
        if found is None:
            found = table[i] = {}
        return found

    def shared(name: str, row: tuple[Any, ...], short: str, convert: Callable[[Any], Any]) -> None:
        """Record `row` as the source's report; write the values that are news."""
        before = reported.get(name, _NEVER_REPORTED)
        if row == before:
            return
        merged = list(before)
        for i, value in enumerate(row):
            if value is None:
                continue
            if before[i] is None or before[i] != value:
                changes_in(field_changes, i)[short] = convert(value)
            merged[i] = value
        rows[name] = tuple(merged)

    for part, field in _FACT_PARTS:
        values: Mapping[ConfigKey, Any] | None = getattr(e, part)
        if values is None:
            continue
        row = _row(values)
        if row == reported.get(part):
            continue  # facts are only written by this source: nothing to do
        rows[part] = row
        convert = _FACT_CONVERTERS[field]
        for i, value in enumerate(row):
            if value is not None:
                changes_in(fact_changes, i)[field] = convert(value)

    # The Elo-tier search budget follows the Elo, but only when the tier value changes, so a
    # "velocity_feedback" budget stays until the Elo moves to another tier.
    if "current_elos" in rows:
        budgets = tuple(
            None if elo is None else float(adaptive_budget(_bounded(elo), p))
            for elo in rows["current_elos"]
        )
        shared("search_budget", budgets, "sb", _identity)

    for part, short in _SHARED_PARTS:
        values = getattr(e, part)
        if values is not None:
            shared(part, _row(values), short, _weight if short in _WEIGHT_FIELDS else _bounded)

    if e.feedback is not None:
        signals = _row(e.feedback)
        boosts = tuple(None if sig is None else sig.exploration_boost for sig in signals)
        pending = tuple(None if sig is None else sig.training_pending for sig in signals)
        shared("feedback_boost", boosts, "eb", _identity)
        shared("feedback_pending", pending, "tp", _identity)

    configs = _thaw(s.configs)
    for i, key in enumerate(s.configs):
        facts = fact_changes[i]
        fields = field_changes[i]
        if facts is None and fields is None:
            continue
        cs = old[i]
        changes = dict(fields) if fields is not None else {}
        if "eb" in changes:
            changes["eb"], changes["xa"] = _boost(cs, changes["eb"], now, _life(ep), ep)
        if facts is not None:
            changes["facts"] = _facts_with(cs.facts, facts)
        configs[key] = _with(cs, **changes)

    cluster = s.cluster
    if e.nodes is not None:
        by_id = {node.node_id: node for node in e.nodes}
        nodes = tuple(by_id[n] for n in sorted(by_id))
        if nodes != cluster.nodes:
            cluster = _cluster_with(cluster, nodes=nodes)
    if e.training_queue_depth is not None:
        cluster = _cluster_with(cluster, queue_depth=e.training_queue_depth)
    if e.backpressure is not None:
        cluster = _cluster_with(cluster, backpressure=e.backpressure)

    last_refresh = dict(s.sources.last_refresh)
    for part in _REFRESH_PARTS:
        if getattr(e, part) is not None:
            last_refresh[part] = now
    if rows:
        merged_reports = dict(reported)
        merged_reports.update(rows)
        reported = MappingProxyType(dict(sorted(merged_reports.items())))
    sources = SourceBook(MappingProxyType(dict(sorted(last_refresh.items()))), reported)
    frozen = MappingProxyType(configs)
    next_expiry = _recompute_next_expiry(frozen, cluster.overloaded_until)
    books = Books(s.books.elo, sources, s.books.allocations, s.books.unknown_events)
    return (frozen, cluster, books, next_expiry, ())


_HANDLERS: Final[Mapping[type[Any], _Handler]] = MappingProxyType(
    {
        SelfplayComplete: _selfplay_complete,
        TrainingCompleted: _training_completed,
        ModelPromoted: _model_promoted,
        SelfplayTargetUpdated: _target_updated,
        QualityDegraded: _quality_degraded,
        CurriculumRebalanced: _curriculum_rebalanced,
        SelfplayRateChanged: _rate_changed,
        TrainingBlockedByQuality: _training_blocked,
        OpponentMastered: _opponent_mastered,
        TrainingEarlyStopped: _early_stopped,
        EloVelocityChanged: _velocity_changed,
        ExplorationBoost: _exploration_boost,
        CurriculumAdvanced: _curriculum_advanced,
        AdaptiveParamsChanged: _adaptive_params,
        LowQualityDataWarning: _low_quality,
        NodeUnhealthy: _node_down,
        P2PNodeDead: _node_down,
        NodeRecovered: _node_up,
        NodeActivated: _node_up,
        HostOffline: _node_down,
        NodeTerminated: _node_down,
        P2PClusterUnhealthy: _cluster_unhealthy,
        P2PClusterHealthy: _cluster_healthy,
        RegressionDetected: _regression,
        BackpressureActivated: _backpressure_flag(True),
        BackpressureReleased: _backpressure_flag(False),
        NodeOverloaded: _node_overloaded,
        EloUpdated: _elo_updated,
        Tick: _tick,
        SourcesRefreshed: _sources_refreshed,
        AllocationDecided: _allocation_decided,
        TargetTrainingSamplesSet: _target_samples_set,
        ConfigBoosted: _config_boosted,
    }
)
"""Event class → handler. Emit-only types (QUALITY_PENALTY_APPLIED, SELFPLAY_ALLOCATION_UPDATED)
and `UnknownEvent` have none: they are remembered as seen and never applied."""
