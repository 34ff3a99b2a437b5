"""Per-config events (§events), with the reference's numbers."""

from __future__ import annotations

import pytest
from _reducer_support import HEX8_2P, HEX8_3P, HEX8_4P, T0, fresh, run, step

from selfplay_core.configs import ALL_CONFIGS
from selfplay_core.event_policy import EventPolicy
from selfplay_core.events import (
    AdaptiveParamsChanged,
    CurriculumAdvanced,
    CurriculumRebalanced,
    EloUpdated,
    EloVelocityChanged,
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
from selfplay_core.reducer import SCHEDULER_SOURCE
from selfplay_core.state import ConfigState, SchedulerState

LIFE = EventPolicy().boost_lifetime_seconds


def with_config(state: SchedulerState, key: object, **fields: object) -> SchedulerState:
    """A state whose config `key` has these fields (test setup only)."""
    import attrs

    configs = dict(state.configs)
    configs[key] = attrs.evolve(configs[key], **fields)  # type: ignore[index]
    expiries = [cs.exploration_boost_expires_at for cs in configs.values()]
    soonest = min([t for t in expiries if t], default=0.0)
    return attrs.evolve(state, configs=configs, ledger=state.ledger.with_next_expiry(soonest))


def boosted(state: SchedulerState, key: object, boost: float, at: float = T0) -> SchedulerState:
    return with_config(
        state, key, exploration_boost=boost, exploration_boost_expires_at=at + 10_000.0
    )


# --- §events ------------------------------------------------------------------------------


def test_selfplay_complete_resets_staleness_from_10_to_0() -> None:
    state = with_config(fresh(), HEX8_2P, staleness_hours=10.0)
    after = step(state, SelfplayComplete(config_key=HEX8_2P)).state
    assert after.configs[HEX8_2P].staleness_hours == 0.0
    assert after.configs[HEX8_3P] == state.configs[HEX8_3P]


def test_training_completed_clears_pending() -> None:
    state = with_config(fresh(), HEX8_2P, training_pending=True)
    after = step(state, TrainingCompleted(config_key=HEX8_2P)).state
    assert after.configs[HEX8_2P].training_pending is False


# --- §events MODEL_PROMOTED -----------------------------------------------------------------------


def test_promotion_failure_multiplies_boost_by_1_3_capped_at_2() -> None:
    state = fresh()
    for expected in (1.3, 1.69, 2.0, 2.0):
        state = step(state, ModelPromoted(config_key=HEX8_2P, success=False)).state
        assert state.configs[HEX8_2P].exploration_boost == pytest.approx(expected)


def test_promotion_without_success_is_not_a_failure() -> None:
    """[BUG] deviations.md: the live emitter sends no `success`; the reference raised eb to 1.69."""
    state = boosted(fresh(), HEX8_2P, 1.5)
    after = step(state, ModelPromoted(config_key=HEX8_2P, success=None)).state
    assert after.configs[HEX8_2P].exploration_boost == 1.0


def test_promotion_success_resets_boost() -> None:
    state = boosted(fresh(), HEX8_2P, 1.8)
    after = step(state, ModelPromoted(config_key=HEX8_2P, success=True)).state
    assert after.configs[HEX8_2P].exploration_boost == 1.0


# --- §events SELFPLAY_TARGET_UPDATED --------------------------------------------------------------


def test_target_updated_budget_only_with_velocity_feedback_reason() -> None:
    state = fresh()
    other = step(state, SelfplayTargetUpdated(config_key=HEX8_2P, search_budget=1200.0)).state
    assert other.configs[HEX8_2P].search_budget == 400
    feedback = step(
        state,
        SelfplayTargetUpdated(config_key=HEX8_2P, search_budget=1200.0, reason="velocity_feedback"),
    ).state
    assert feedback.configs[HEX8_2P].search_budget == 1200.0


def test_target_updated_high_priority_marks_pending_and_floors_boost_at_1_2() -> None:
    after = step(fresh(), SelfplayTargetUpdated(config_key=HEX8_2P, priority="HIGH")).state
    cs = after.configs[HEX8_2P]
    assert cs.training_pending is True
    assert cs.exploration_boost == 1.2
    assert cs.exploration_boost_expires_at == T0 + LIFE


def test_target_updated_low_priority_caps_boost_at_0_8() -> None:
    state = boosted(fresh(), HEX8_2P, 1.5)
    after = step(state, SelfplayTargetUpdated(config_key=HEX8_2P, priority="Low")).state
    assert after.configs[HEX8_2P].exploration_boost == 0.8


def test_target_updated_sets_raw_boost_then_priority_applies() -> None:
    event = SelfplayTargetUpdated(config_key=HEX8_2P, priority="high", exploration_boost=1.6)
    after = step(fresh(), event).state
    assert after.configs[HEX8_2P].exploration_boost == 1.6
    assert after.configs[HEX8_2P].training_pending is True


def test_target_updated_integer_priority_reads_as_normal() -> None:
    """[BUG] deviations.md: an int priority crashed the handler after a partial update."""
    event = SelfplayTargetUpdated(config_key=HEX8_2P, priority=5, exploration_boost=1.4)
    after = step(fresh(), event).state
    cs = after.configs[HEX8_2P]
    assert cs.exploration_boost == 1.4
    assert cs.training_pending is False


def test_target_updated_urgent_changes_nothing_but_the_boost() -> None:
    after = step(fresh(), SelfplayTargetUpdated(config_key=HEX8_2P, priority="urgent")).state
    assert after.configs == fresh().configs


# --- §events QUALITY_DEGRADED ---------------------------------------------------------------------


def test_quality_degraded_penalty() -> None:
    after = step(fresh(), QualityDegraded(config_key=HEX8_2P, quality_score=0.4)).state
    assert after.configs[HEX8_2P].quality_penalty == pytest.approx(-0.0666667, abs=1e-7)
    recovered = step(after, QualityDegraded(config_key=HEX8_2P, quality_score=0.9)).state
    assert recovered.configs[HEX8_2P].quality_penalty == 0.0


def test_quality_degraded_zero_threshold_changes_nothing() -> None:
    event = QualityDegraded(config_key=HEX8_2P, quality_score=-1.0, threshold=0.0)
    assert step(fresh(), event).state.configs == fresh().configs


# --- §events CURRICULUM_REBALANCED ----------------------------------------------------------------


def test_curriculum_batch_weights_stored_exactly() -> None:
    weights = {HEX8_2P: 1.5, HEX8_3P: 0.8, HEX8_4P: 2.0}
    after = step(fresh(), CurriculumRebalanced(weights=weights)).state
    assert {k: after.configs[k].curriculum_weight for k in weights} == weights


def test_curriculum_batch_wins_over_single_for_same_key() -> None:
    event = CurriculumRebalanced(config_key=HEX8_2P, weight=1.7, weights={HEX8_2P: 0.6})
    assert step(fresh(), event).state.configs[HEX8_2P].curriculum_weight == 0.6


def test_curriculum_without_weight_leaves_weight_alone() -> None:
    """[BUG] deviations.md: config_key without `weight` used to reset the weight to 1.0."""
    state = with_config(fresh(), HEX8_2P, curriculum_weight=0.7)
    after = step(state, CurriculumRebalanced(config_key=HEX8_2P)).state
    assert after.configs[HEX8_2P].curriculum_weight == 0.7
    via_new_weight = step(state, CurriculumRebalanced(config_key=HEX8_2P, new_weight=1.4)).state
    assert via_new_weight.configs[HEX8_2P].curriculum_weight == 1.4


def test_curriculum_loop_guard_skips_our_own_source() -> None:
    event = CurriculumRebalanced(config_key=HEX8_2P, weight=1.9, source=SCHEDULER_SOURCE)
    assert step(fresh(), event).state.configs == fresh().configs


def test_curriculum_negative_weight_is_clamped_to_zero() -> None:
    event = CurriculumRebalanced(config_key=HEX8_2P, weight=-3.0)
    assert step(fresh(), event).state.configs[HEX8_2P].curriculum_weight == 0.0


# --- §events SELFPLAY_RATE_CHANGED ----------------------------------------------------------------


def test_rate_changed_sets_momentum_raw() -> None:
    after = step(fresh(), SelfplayRateChanged(config_key=HEX8_2P, new_rate=1.37)).state
    assert after.configs[HEX8_2P].momentum_multiplier == 1.37


def _rate_changed_from_the_wire(payload: dict[str, object]) -> SelfplayRateChanged:
    from selfplay_core.codec import decode

    record = {"id": "r", "type": "selfplay_rate_changed", "schema_version": 1, "at": T0}
    record["source"] = "test"
    event = decode({**record, "payload": {"config": "hex8_2p", **payload}}).unwrap().event
    assert isinstance(event, SelfplayRateChanged)
    return event


def test_rate_changed_without_a_rate_changes_nothing() -> None:
    # §events: `new_rate` 0 with a null `rate_multiplier` leaves `mm` alone, as the reference
    # does (no information, no change); an absent `rate_multiplier` still reads as 1.0.
    state = step(fresh(), SelfplayRateChanged(config_key=HEX8_2P, new_rate=0.6)).state
    silent = _rate_changed_from_the_wire({"new_rate": 0, "rate_multiplier": None})
    assert silent.new_rate is None
    assert step(state, silent).state.configs == state.configs
    reset = _rate_changed_from_the_wire({"new_rate": 0})
    assert step(state, reset).state.configs[HEX8_2P].momentum_multiplier == 1.0


def test_a_missing_new_rate_falls_back_to_rate_multiplier() -> None:
    # Deviation E18: the reference reads a missing `new_rate` as 1.0 and never reads the
    # fallback; we read `rate_multiplier` whenever `new_rate` is missing or falsy.
    event = _rate_changed_from_the_wire({"rate_multiplier": 0.5})
    assert step(fresh(), event).state.configs[HEX8_2P].momentum_multiplier == 0.5
    assert _rate_changed_from_the_wire({}).new_rate == 1.0


# --- §events TRAINING_BLOCKED_BY_QUALITY ----------------------------------------------------------


def test_training_blocked_boost_pending_and_emission() -> None:
    t = step(fresh(), TrainingBlockedByQuality(config_key=HEX8_2P, reason="stale"))
    cs = t.state.configs[HEX8_2P]
    assert (cs.exploration_boost, cs.training_pending) == (1.5, True)
    assert t.emitted == (
        SelfplayTargetUpdated(
            config_key=HEX8_2P,
            priority="high",
            reason="training_blocked:stale",
            exploration_boost=1.5,
        ),
    )


def test_training_blocked_is_capped_at_2() -> None:
    """deviations.md: the reference had no cap (1.5, 2.25, 3.375…)."""
    state = run(fresh(), *[TrainingBlockedByQuality(config_key=HEX8_2P)] * 3)
    assert state.configs[HEX8_2P].exploration_boost == 2.0


def test_training_blocked_echo_changes_nothing() -> None:
    t = step(fresh(), TrainingBlockedByQuality(config_key=HEX8_2P))
    echo = step(t.state, t.emitted[0], at=T0 + 1)
    assert echo.state.configs == t.state.configs


# --- §events OPPONENT_MASTERED --------------------------------------------------------------------


def test_opponent_mastered_lowers_weight_and_boost() -> None:
    t = step(fresh(), OpponentMastered(config_key=HEX8_2P, opponent_level="heuristic"))
    cs = t.state.configs[HEX8_2P]
    assert cs.curriculum_weight == pytest.approx(0.9)
    assert cs.exploration_boost == pytest.approx(0.95)
    (echo,) = t.emitted
    assert isinstance(echo, CurriculumRebalanced)
    assert echo.trigger == "opponent_mastered:heuristic"
    assert echo.new_weight == pytest.approx(0.9)


def test_opponent_mastered_echo_no_longer_resets_weight() -> None:
    """[BUG] deviations.md: the scheduler's own echo set cw back to 1.0."""
    t = step(fresh(), OpponentMastered(config_key=HEX8_2P))
    after_echo = step(t.state, t.emitted[0], at=T0 + 1).state
    assert after_echo.configs[HEX8_2P].curriculum_weight == pytest.approx(0.9)


def test_opponent_mastered_floors() -> None:
    state = with_config(fresh(), HEX8_2P, curriculum_weight=0.5, exploration_boost=0.8)
    cs = step(state, OpponentMastered(config_key=HEX8_2P)).state.configs[HEX8_2P]
    assert (cs.curriculum_weight, cs.exploration_boost) == (0.5, 0.8)


# --- §events TRAINING_EARLY_STOPPED ---------------------------------------------------------------


def test_early_stop_default_reason_is_stagnation_branch() -> None:
    """Verified upstream: eb 0.5 → 0.65, cw → 1.3, sh → 4.0."""
    state = with_config(fresh(), HEX8_2P, exploration_boost=0.5)
    t = step(state, TrainingEarlyStopped(config_key=HEX8_2P, reason="loss_stagnation"))
    cs = t.state.configs[HEX8_2P]
    assert cs.exploration_boost == pytest.approx(0.65)
    assert cs.curriculum_weight == pytest.approx(1.3)
    assert cs.staleness_hours == 4.0
    (emitted,) = t.emitted
    assert isinstance(emitted, SelfplayTargetUpdated)
    assert (emitted.priority, emitted.reason) == (
        "urgent",
        "training_early_stopped:loss_stagnation",
    )
    assert emitted.curriculum_weight == pytest.approx(1.3)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("Regression in val", 1.5), ("plateau", 1.3), ("oom", 1.2)],
)
def test_early_stop_branches(reason: str, expected: float) -> None:
    after = step(fresh(), TrainingEarlyStopped(config_key=HEX8_2P, reason=reason)).state
    assert after.configs[HEX8_2P].exploration_boost == pytest.approx(expected)


def test_early_stop_cap_lowers_a_higher_boost() -> None:
    """[NOTE] eb 1.9 with a generic reason becomes 1.5."""
    state = boosted(fresh(), HEX8_2P, 1.9)
    after = step(state, TrainingEarlyStopped(config_key=HEX8_2P, reason="other")).state
    assert after.configs[HEX8_2P].exploration_boost == 1.5


# --- §events ELO_VELOCITY_CHANGED -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("momentum", "trend", "expected"),
    [
        (1.0, "accelerating", 1.2),
        (1.4, "accelerating", 1.5),
        (1.0, "decelerating", 0.85),
        (0.65, "decelerating", 0.6),
        (1.2, "stable", 1.14),
        (1.02, "improving", 1.0),
        (0.8, "declining", 0.84),
        (1.0, "stable", 1.0),
    ],
)
def test_velocity_changed_momentum(momentum: float, trend: str, expected: float) -> None:
    state = with_config(fresh(), HEX8_2P, momentum_multiplier=momentum)
    event = EloVelocityChanged(config_key=HEX8_2P, velocity=12.0, trend=trend)
    cs = step(state, event).state.configs[HEX8_2P]
    assert cs.momentum_multiplier == pytest.approx(expected)
    assert cs.elo_velocity == 12.0


def test_velocity_negative_raises_boost_and_always_emits_target_update() -> None:
    t = step(fresh(), EloVelocityChanged(config_key=HEX8_2P, velocity=-3.0))
    assert t.state.configs[HEX8_2P].exploration_boost == pytest.approx(1.15)
    assert t.emitted == (
        SelfplayTargetUpdated(
            config_key=HEX8_2P,
            priority="normal",
            reason="velocity_changed:stable",
            momentum_multiplier=1.0,
            exploration_boost=t.state.configs[HEX8_2P].exploration_boost,
        ),
    )


@pytest.mark.parametrize(
    ("momentum", "fires"), [(0.7, True), (0.9, True), (1.0, False), (0.75, False)]
)
def test_velocity_rate_change_emission_depends_on_rounding(momentum: float, fires: bool) -> None:
    """deviations.md kept: a ×1.2 step is exactly 20 %, so '> 20 %' depends on float rounding."""
    state = with_config(fresh(), HEX8_2P, momentum_multiplier=momentum)
    t = step(state, EloVelocityChanged(config_key=HEX8_2P, velocity=1.0, trend="accelerating"))
    rate_changes = [e for e in t.emitted if isinstance(e, SelfplayRateChanged)]
    assert bool(rate_changes) is fires
    if fires:
        assert rate_changes[0].old_rate == momentum
        assert rate_changes[0].reason == "elo_momentum:accelerating"


def test_velocity_echoes_change_nothing() -> None:
    state = with_config(fresh(), HEX8_2P, momentum_multiplier=0.7)
    t = step(state, EloVelocityChanged(config_key=HEX8_2P, velocity=-1.0, trend="accelerating"))
    after = t.state
    for i, echo in enumerate(t.emitted):
        after = step(after, echo, at=T0 + 1 + i).state
    assert after.configs == t.state.configs


# --- §events EXPLORATION_BOOST --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "factor", "after"), [(1.0, 1.5, 1.5), (2.0, 1.5, 2.0), (1.0, 1.75, 1.75)]
)
def test_exploration_boost_takes_the_max(before: float, factor: float, after: float) -> None:
    state = boosted(fresh(), HEX8_2P, before) if before != 1.0 else fresh()
    event = ExplorationBoost(config_key=HEX8_2P, boost_factor=factor)
    assert step(state, event).state.configs[HEX8_2P].exploration_boost == after


def test_exploration_boost_gets_its_expiry_and_emits() -> None:
    """[BUG] deviations.md: the missing `os` import meant no expiry and no emissions."""
    event = ExplorationBoost(
        config_key=HEX8_2P, boost_factor=1.6, reason="anomaly", anomaly_count=3
    )
    t = step(fresh(), event)
    cs = t.state.configs[HEX8_2P]
    assert cs.exploration_boost_expires_at == T0 + 900.0
    target, allocation = t.emitted
    assert target == SelfplayTargetUpdated(
        config_key=HEX8_2P,
        priority="high",
        reason="exploration_boost:anomaly",
        exploration_boost=1.6,
        anomaly_count=3,
    )
    assert allocation == SelfplayAllocationUpdated(
        trigger="exploration_boost:anomaly",
        total_games=0,
        configs=(HEX8_2P,),
        node_count=0,
        exploration_boost=1.6,
        curriculum_weight=1.0,
    )


def test_exploration_boost_priority_normal_at_or_below_1_3() -> None:
    t = step(fresh(), ExplorationBoost(config_key=HEX8_2P, boost_factor=1.3))
    assert t.emitted[0].priority == "normal"  # type: ignore[union-attr]


def test_exploration_boost_weight_term_is_exactly_0_10() -> None:
    """(2.0 − 1.0) × EXPLORATION_BOOST_WEIGHT == 0.10 exactly."""
    state = step(fresh(), ExplorationBoost(config_key=HEX8_2P, boost_factor=2.0)).state
    assert (state.configs[HEX8_2P].exploration_boost - 1.0) * 0.10 == 0.10


# --- §events -----------------------------------------------------------------------------


def test_curriculum_advanced_needs_three_promotions() -> None:
    two = step(fresh(), CurriculumAdvanced(config_key=HEX8_2P, consecutive_promotions=2)).state
    assert two.configs[HEX8_2P].curriculum_weight == 1.0
    three = step(fresh(), CurriculumAdvanced(config_key=HEX8_2P, consecutive_promotions=3)).state
    assert three.configs[HEX8_2P].curriculum_weight == pytest.approx(0.9)


def test_adaptive_temperature_up_raises_boost_to_1_2() -> None:
    event = AdaptiveParamsChanged(
        config_key=HEX8_2P, param_type="temperature", old_value=1.0, new_value=1.2
    )
    assert step(fresh(), event).state.configs[HEX8_2P].exploration_boost == 1.2


@pytest.mark.parametrize(
    ("param", "old", "new"),
    [("temperature", 1.2, 1.0), ("temperature", 0.0, 1.0), ("learning_rate", 0.1, 0.01)],
)
def test_adaptive_params_other_cases_change_nothing(param: str, old: float, new: float) -> None:
    """The learning-rate branch only wrote a multiplier nobody read ([DEAD] §events)."""
    event = AdaptiveParamsChanged(
        config_key=HEX8_2P, param_type=param, old_value=old, new_value=new
    )
    assert step(fresh(), event).state.configs == fresh().configs


# --- §events LOW_QUALITY_DATA_WARNING -------------------------------------------------------------


def test_low_quality_throttle_and_penalty_for_every_config() -> None:
    state = boosted(fresh(), HEX8_2P, 1.5)
    t = step(state, LowQualityDataWarning(quality_score=0.45))
    assert t.state.configs[HEX8_2P].exploration_boost == pytest.approx(0.9)
    for key in ALL_CONFIGS:
        assert t.state.configs[key].quality_penalty == pytest.approx(-0.0825)
    assert len(t.emitted) == 12
    first = t.emitted[0]
    assert isinstance(first, QualityPenaltyApplied)
    assert (first.penalty, first.throttle_factor) == (pytest.approx(0.0825), 0.6)


@pytest.mark.parametrize(("q", "factor"), [(0.35, 0.5), (0.45, 0.6), (0.55, 0.7), (1.0, 0.7)])
def test_low_quality_throttle_tiers(q: float, factor: float) -> None:
    state = boosted(fresh(), HEX8_2P, 2.0)
    after = step(state, LowQualityDataWarning(quality_score=q)).state
    assert after.configs[HEX8_2P].exploration_boost == pytest.approx(max(0.5, 2.0 * factor))


@pytest.mark.parametrize(("q", "penalty"), [(0.2, -0.12), (0.6, -0.06), (0.0, -0.15), (1.0, 0.0)])
def test_low_quality_penalty_values(q: float, penalty: float) -> None:
    after = step(fresh(), LowQualityDataWarning(quality_score=q)).state
    assert after.configs[HEX8_3P].quality_penalty == pytest.approx(penalty)


def test_low_quality_warnings_compound_1_5_to_1_05_to_0_63() -> None:
    state = boosted(fresh(), HEX8_2P, 1.5)
    state = step(state, LowQualityDataWarning(quality_score=0.5)).state
    assert state.configs[HEX8_2P].exploration_boost == pytest.approx(1.05)
    state = step(state, LowQualityDataWarning(quality_score=0.45), at=T0 + 1).state
    assert state.configs[HEX8_2P].exploration_boost == pytest.approx(0.63)


def test_low_quality_floor_is_0_5_and_leaves_other_fields() -> None:
    state = with_config(fresh(), HEX8_2P, exploration_boost=0.6, staleness_hours=3.0)
    cs = step(state, LowQualityDataWarning(quality_score=0.1)).state.configs[HEX8_2P]
    assert cs.exploration_boost == 0.5
    assert (cs.staleness_hours, cs.curriculum_weight, cs.elo_velocity) == (3.0, 1.0, 0.0)


def test_low_quality_without_score_reads_zero_globally() -> None:
    """Kept (deviations.md is not fixed here): no quality_score means q = 0 for every config."""
    after = step(fresh(), LowQualityDataWarning(config_key=HEX8_2P)).state
    assert {cs.quality_penalty for cs in after.configs.values()} == {-0.15}


# --- §events REGRESSION_DETECTED ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "boost"),
    [("mild", 1.1), ("moderate", 1.2), ("severe", 1.3), ("critical", 1.15), ("minor", 1.15)],
)
def test_regression_raises_the_boost(severity: str, boost: float) -> None:
    """[BUG] (deviations.md): the reference set eb to 0.1–0.3, cutting the priority by 70–90 %."""
    t = step(fresh(), RegressionDetected(config_key=HEX8_2P, severity=severity))
    assert t.state.configs[HEX8_2P].exploration_boost == pytest.approx(boost)
    assert t.emitted == (
        CurriculumRebalanced(
            config_key=HEX8_2P,
            reason="regression_detected",
            severity=severity,
            new_exploration_boost=t.state.configs[HEX8_2P].exploration_boost,
            source=SCHEDULER_SOURCE,
        ),
    )


def test_regression_never_lowers_a_boost_and_its_echo_is_skipped() -> None:
    state = boosted(fresh(), HEX8_2P, 1.7)
    t = step(state, RegressionDetected(config_key=HEX8_2P, severity="mild"))
    assert t.state.configs[HEX8_2P].exploration_boost == 1.7
    assert step(t.state, t.emitted[0], at=T0 + 1).state.configs == t.state.configs


# --- §events ELO_UPDATED --------------------------------------------------------------------------


def test_elo_updated_velocity_per_hour_from_window_endpoints() -> None:
    """Verified upstream: 1500 at t0 and 1510 at t0 + 1 h gave 10.0 Elo/h."""
    state = step(fresh(), EloUpdated(config_key=HEX8_2P, new_elo=1500.0)).state
    state = step(state, EloUpdated(config_key=HEX8_2P, new_elo=1510.0), at=T0 + 3600).state
    assert state.elo.velocity_per_hour[HEX8_2P] == pytest.approx(10.0)


def test_elo_updated_needs_more_than_half_an_hour_and_keeps_old_velocity() -> None:
    state = step(fresh(), EloUpdated(config_key=HEX8_2P, new_elo=1500.0)).state
    state = step(state, EloUpdated(config_key=HEX8_2P, new_elo=1600.0), at=T0 + 1800).state
    assert HEX8_2P not in state.elo.velocity_per_hour
    state = step(state, EloUpdated(config_key=HEX8_2P, new_elo=1530.0), at=T0 + 7200).state
    assert state.elo.velocity_per_hour[HEX8_2P] == pytest.approx(15.0)


def test_elo_updated_window_is_24_hours() -> None:
    state = step(fresh(), EloUpdated(config_key=HEX8_2P, new_elo=1000.0)).state
    state = step(state, EloUpdated(config_key=HEX8_2P, new_elo=1500.0), at=T0 + 3600).state
    state = step(state, EloUpdated(config_key=HEX8_2P, new_elo=1548.0), at=T0 + 86_400 + 1).state
    history = state.elo.history[HEX8_2P]
    assert [t for t, _ in history] == [T0 + 3600, T0 + 86_401]
    assert state.elo.velocity_per_hour[HEX8_2P] == pytest.approx(48.0 / (86_401 - 3600) * 3600)


def test_elo_updated_ignores_non_positive_elo() -> None:
    assert step(fresh(), EloUpdated(config_key=HEX8_2P, new_elo=0.0)).state.elo == fresh().elo


def test_unknown_config_fields_untouched_by_config_events() -> None:
    state = run(
        fresh(),
        SelfplayComplete(config_key=HEX8_2P),
        QualityDegraded(config_key=HEX8_2P, quality_score=0.1),
        ExplorationBoost(config_key=HEX8_2P, boost_factor=1.9),
    )
    untouched = [k for k in ALL_CONFIGS if k != HEX8_2P]
    assert all(state.configs[k] == ConfigState() for k in untouched)


def test_velocity_change_from_zero_momentum_does_not_divide_by_zero() -> None:
    """The reference's change_percent divides by the old momentum: 0 raised after the state was
    written and the target update was never emitted. Ours uses the same floor as the test."""
    state = with_config(fresh(), HEX8_2P, momentum_multiplier=0.0)
    t = step(state, EloVelocityChanged(config_key=HEX8_2P, velocity=1.0, trend="decelerating"))
    rate, target = t.emitted
    assert isinstance(rate, SelfplayRateChanged)
    assert (rate.old_rate, rate.new_rate) == (0.0, 0.6)
    assert rate.change_percent == pytest.approx(6000.0)
    assert isinstance(target, SelfplayTargetUpdated)
