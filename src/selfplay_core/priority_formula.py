"""The priority formula of docs/reference.md §factors and §score, written once.

`evaluate` computes every factor, additive term and multiplier of one config as plain floats;
the score is their result, and with `explain=True` the same numbers are packed into a
`PriorityBreakdown`. The score is the reference's to the last bit (float results depend on
the order of operations, which is exactly the reference's), except where docs/deviations.md
says otherwise (a base ≤ 0 scores 0; quality and voi weights are clamped to their bounds).

The single-factor functions below (`staleness_factor`, `voi_score`, …) are views of that one
formula: each evaluates it for inputs that differ from the defaults only in its arguments and
reads its own number from the breakdown. They are for callers that want one number; the
ranking never calls them.
"""

from __future__ import annotations

from math import sqrt
from typing import Final, Literal, overload

from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.values import (
    DynamicWeights,
    PriorityBreakdown,
    PriorityFactors,
    PriorityInputs,
    PriorityMultipliers,
    PriorityTerms,
    PriorityTier,
)

__all__ = [
    "REFERENCE_POLICY",
    "data_deficit_factor",
    "elo_gap",
    "elo_uncertainty",
    "evaluate",
    "info_gain_per_game",
    "override_multiplier",
    "player_count_multiplier",
    "priority_tier",
    "staleness_factor",
    "starvation_multiplier",
    "velocity_factor",
    "velocity_multiplier",
    "voi_score",
]

REFERENCE_POLICY: Final = SchedulerPolicy()


@overload
def evaluate(
    inputs: PriorityInputs,
    weights: DynamicWeights,
    policy: SchedulerPolicy,
    explain: Literal[False],
) -> float: ...
@overload
def evaluate(
    inputs: PriorityInputs, weights: DynamicWeights, policy: SchedulerPolicy, explain: Literal[True]
) -> PriorityBreakdown: ...
def evaluate(
    inputs: PriorityInputs, weights: DynamicWeights, policy: SchedulerPolicy, explain: bool
) -> float | PriorityBreakdown:
    """The score of one config, or with `explain` the breakdown whose `score` it is."""
    n = inputs.games_count
    per_config = policy.per_config[inputs.config_index]
    factors = _factors(inputs, policy, per_config.deficit_target)
    staleness, velocity, deficit, value_of_information, _, _, _ = factors

    # Terms S1…S9 and their sum B, left to right (§score).
    w = weights
    boost = inputs.exploration_boost
    terms = (
        staleness * w.staleness,
        velocity * w.velocity,
        (1.0 if inputs.training_pending else 0.0) * w.training,
        (boost - 1.0) * w.exploration,
        (inputs.curriculum_weight - 1.0) * w.curriculum,
        inputs.improvement_boost * w.improvement,
        (inputs.quality_score - policy.quality.centre) * w.quality + inputs.quality_penalty,
        deficit * w.data_deficit,
        value_of_information * w.voi,
    )
    s1, s2, s3, s4, s5, s6, s7, s8, s9 = terms
    base = s1 + s2 + s3 + s4 + s5 + s6 + s7 + s8 + s9
    if base <= 0.0 and not explain:
        return 0.0  # multipliers never amplify a base ≤ 0 (docs/deviations.md)

    # Multipliers (§score), applied left to right.
    vel = policy.velocity
    per_hour = inputs.elo_velocity_per_hour
    if per_hour < vel.slow_per_hour:
        m_velocity = vel.slow_multiplier
    elif per_hour > vel.fast_per_hour:
        m_velocity = vel.fast_multiplier
    else:
        m_velocity = vel.normal_multiplier
    starvation = policy.starvation  # data starvation (§starvation): by game count
    if n < starvation.emergency_games:
        tier, m_starvation = PriorityTier.EMERGENCY, starvation.emergency_multiplier
    elif n < starvation.critical_games:
        tier, m_starvation = PriorityTier.CRITICAL, starvation.critical_multiplier
    else:
        tier, m_starvation = PriorityTier.NORMAL, 1.0
    multipliers = (
        boost,
        inputs.momentum_multiplier,
        m_velocity,
        policy.overrides.for_level(inputs.priority_override),
        per_config.player_multiplier,
        inputs.cascade_multiplier,
        m_starvation,
    )
    m1, m2, m3, m4, m5, m6, m7 = multipliers
    reference_score = base * m1 * m2 * m3 * m4 * m5 * m6 * m7
    score = reference_score if base > 0.0 else 0.0
    if not explain:
        return score
    return PriorityBreakdown(
        config_key=inputs.config_key,
        factors=PriorityFactors(*factors),
        terms=PriorityTerms(*terms),
        base=base,
        multipliers=PriorityMultipliers(*multipliers),
        tier=tier,
        reference_score=reference_score,
        score=score,
    )


def _factors(
    inputs: PriorityInputs, policy: SchedulerPolicy, deficit_target: float
) -> tuple[float, float, float, float, float, float, float]:
    """The factors of §factors, in `PriorityFactors`' order: staleness, velocity, data deficit, VOI
    (each in [0, 1]), then the VOI's inputs: Elo uncertainty, Elo gap, information gain."""
    st, vel, voi, unc = policy.staleness, policy.velocity, policy.voi, policy.uncertainty
    n = inputs.games_count
    # Factors (§factors), each in [0, 1]; `x if x < 1.0 else 1.0` is the reference's min(1.0, x)
    # and `x if x > 0.0 else 0.0` its max(0.0, x) (same numbers, no call: this runs 12 times
    # per ranking). Staleness: 0 before fresh, linear to 1 at stale, 1 after max.
    hours = inputs.staleness_hours
    if hours < st.fresh_hours:
        staleness = 0.0
    elif hours > st.max_hours:
        staleness = 1.0
    else:
        staleness = (hours - st.fresh_hours) / (st.stale_hours - st.fresh_hours)
        staleness = staleness if staleness < 1.0 else 1.0
    per_day = inputs.elo_velocity
    if per_day <= 0:
        velocity = 0.0
    else:
        velocity = per_day / vel.factor_cap_per_day
        velocity = velocity if velocity < 1.0 else 1.0
    target = deficit_target
    deficit = 0.0 if n >= target else 1.0 - n / target  # never above 1: n is not negative
    # VOI: uncertainty max(floor, base/√n) unless given, info gain U/√n, gap to the target Elo.
    uncertainty = inputs.elo_uncertainty
    if n > 0:
        root = sqrt(n)
        if uncertainty is None:
            uncertainty = unc.base / root
            uncertainty = uncertainty if uncertainty > unc.floor else unc.floor
        info_gain = uncertainty / root
    else:
        if uncertainty is None:
            uncertainty = unc.base
        info_gain = uncertainty
    gap = inputs.target_elo - inputs.current_elo
    gap = gap if gap > 0.0 else 0.0
    u_part = uncertainty / voi.uncertainty_scale
    gap_part = gap / voi.gap_scale
    info_part = info_gain / voi.info_gain_scale
    value_of_information = (
        voi.uncertainty_mix * (u_part if u_part < 1.0 else 1.0)
        + voi.gap_mix * (gap_part if gap_part < 1.0 else 1.0)
        + voi.info_gain_mix * (info_part if info_part < 1.0 else 1.0)
    )
    return staleness, velocity, deficit, value_of_information, uncertainty, gap, info_gain


# --- one number each, read from the formula -------------------------------------------------------

# Unit weights: the views read factors and multipliers, which the weights do not affect.
_WEIGHTS: Final = DynamicWeights()
_ANY_CONFIG: Final = ALL_CONFIGS[0]


def _breakdown(inputs: PriorityInputs, policy: SchedulerPolicy) -> PriorityBreakdown:
    return evaluate(inputs, _WEIGHTS, policy, True)


def staleness_factor(hours: float, policy: SchedulerPolicy = REFERENCE_POLICY) -> float:
    """0 below `fresh_hours`, linear to 1 at `stale_hours`, 1 after."""
    return _breakdown(PriorityInputs(_ANY_CONFIG, staleness_hours=hours), policy).factors.staleness


def velocity_factor(elo_per_day: float, policy: SchedulerPolicy = REFERENCE_POLICY) -> float:
    """0 for no or negative progress; Elo/day over the cap (100), at most 1."""
    return _breakdown(
        PriorityInputs(_ANY_CONFIG, elo_velocity=elo_per_day), policy
    ).factors.velocity


def data_deficit_factor(
    games_count: int, config_key: ConfigKey, policy: SchedulerPolicy = REFERENCE_POLICY
) -> float:
    """1 − n/target (target 100000, or 150000 on large boards); 0 at or above the target."""
    inputs = PriorityInputs(config_key, games_count=games_count)
    return _breakdown(inputs, policy).factors.data_deficit


def elo_uncertainty(games_count: int, policy: SchedulerPolicy = REFERENCE_POLICY) -> float:
    """max(floor, base/√n), or base with no games (L835-843)."""
    inputs = PriorityInputs(_ANY_CONFIG, games_count=games_count)
    return _breakdown(inputs, policy).factors.elo_uncertainty


def elo_gap(current_elo: float, target_elo: float) -> float:
    """max(0, target − current): how far a config is below its target Elo."""
    inputs = PriorityInputs(_ANY_CONFIG, current_elo=current_elo, target_elo=target_elo)
    return _breakdown(inputs, REFERENCE_POLICY).factors.elo_gap


def info_gain_per_game(games_count: int, uncertainty: float) -> float:
    """U/√n, or U with no games."""
    inputs = PriorityInputs(_ANY_CONFIG, games_count=games_count, elo_uncertainty=uncertainty)
    return _breakdown(inputs, REFERENCE_POLICY).factors.info_gain


def voi_score(
    current_elo: float,
    target_elo: float,
    games_count: int,
    uncertainty: float,
    policy: SchedulerPolicy = REFERENCE_POLICY,
) -> float:
    """0.4·min(1, U/300) + 0.3·min(1, gap/500) + 0.3·min(1, info/10). No sample-cost term."""
    inputs = PriorityInputs(
        _ANY_CONFIG,
        current_elo=current_elo,
        target_elo=target_elo,
        games_count=games_count,
        elo_uncertainty=uncertainty,
    )
    return _breakdown(inputs, policy).factors.voi


def velocity_multiplier(elo_per_hour: float, policy: SchedulerPolicy = REFERENCE_POLICY) -> float:
    """×0.7 below 0.5 Elo/h (including 0 and negative), ×1.2 above 5 Elo/h, else ×1."""
    inputs = PriorityInputs(_ANY_CONFIG, elo_velocity_per_hour=elo_per_hour)
    return _breakdown(inputs, policy).multipliers.velocity


def override_multiplier(level: int, policy: SchedulerPolicy = REFERENCE_POLICY) -> float:
    inputs = PriorityInputs(_ANY_CONFIG, priority_override=level)
    return _breakdown(inputs, policy).multipliers.override


def player_count_multiplier(
    config_key: ConfigKey, policy: SchedulerPolicy = REFERENCE_POLICY
) -> float:
    return _breakdown(PriorityInputs(config_key), policy).multipliers.player_count


def priority_tier(games_count: int, policy: SchedulerPolicy = REFERENCE_POLICY) -> PriorityTier:
    """The data-starvation tier by game count: emergency (< 100), critical (< 1000), normal."""
    return _breakdown(PriorityInputs(_ANY_CONFIG, games_count=games_count), policy).tier


def starvation_multiplier(games_count: int, policy: SchedulerPolicy = REFERENCE_POLICY) -> float:
    inputs = PriorityInputs(_ANY_CONFIG, games_count=games_count)
    return _breakdown(inputs, policy).multipliers.starvation
