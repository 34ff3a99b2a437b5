"""The factors and multipliers of the priority score (reference/priority.md §2.3, §8).

Each is defined here once; `selfplay_core.priority` combines them into the score and its
breakdown. Every function takes the policy explicitly (defaulting to the reference policy).
"""

from __future__ import annotations

import math
from typing import Final

from selfplay_core.configs import ConfigKey
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.values import PriorityTier

__all__ = [
    "REFERENCE_POLICY",
    "data_deficit_factor",
    "elo_gap",
    "elo_uncertainty",
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
_sqrt = math.sqrt


# --- factors (§2.3): each in [0, 1] -------------------------------------------------------------


def staleness_factor(hours: float, policy: SchedulerPolicy = REFERENCE_POLICY) -> float:
    """0 below `fresh_hours`, linear to 1 at `stale_hours`, 1 after."""
    s = policy.staleness
    if hours < s.fresh_hours:
        return 0.0
    if hours > s.max_hours:
        return 1.0
    return min(1.0, (hours - s.fresh_hours) / (s.stale_hours - s.fresh_hours))


def velocity_factor(elo_per_day: float, policy: SchedulerPolicy = REFERENCE_POLICY) -> float:
    """0 for no or negative progress; Elo/day over the cap (100), at most 1."""
    if elo_per_day <= 0:
        return 0.0
    return min(1.0, elo_per_day / policy.velocity.factor_cap_per_day)


def data_deficit_factor(
    games_count: int, config_key: ConfigKey, policy: SchedulerPolicy = REFERENCE_POLICY
) -> float:
    """1 − n/target (target 100000, or 150000 on large boards); 0 at or above the target."""
    target = policy.constants_for(config_key).deficit_target
    if games_count >= target:
        return 0.0
    return min(1.0, 1.0 - games_count / target)


def elo_uncertainty(games_count: int, policy: SchedulerPolicy = REFERENCE_POLICY) -> float:
    """max(floor, base/√n), or base with no games (L835-843)."""
    model = policy.uncertainty
    if games_count > 0:
        return max(model.floor, model.base / _sqrt(games_count))
    return model.base


def elo_gap(current_elo: float, target_elo: float) -> float:
    return max(0.0, target_elo - current_elo)


def info_gain_per_game(games_count: int, uncertainty: float) -> float:
    if games_count <= 0:
        return uncertainty
    return uncertainty / _sqrt(games_count)


def voi_score(
    current_elo: float,
    target_elo: float,
    games_count: int,
    uncertainty: float,
    policy: SchedulerPolicy = REFERENCE_POLICY,
) -> float:
    """0.4·min(1, U/300) + 0.3·min(1, gap/500) + 0.3·min(1, info/10). No sample-cost term."""
    v = policy.voi
    uf = min(1.0, uncertainty / v.uncertainty_scale)
    gf = min(1.0, elo_gap(current_elo, target_elo) / v.gap_scale)
    inf = min(1.0, info_gain_per_game(games_count, uncertainty) / v.info_gain_scale)
    return v.uncertainty_mix * uf + v.gap_mix * gf + v.info_gain_mix * inf


# --- multipliers (§8) ----------------------------------------------------------------------------


def velocity_multiplier(elo_per_hour: float, policy: SchedulerPolicy = REFERENCE_POLICY) -> float:
    """×0.7 below 0.5 Elo/h (including 0 and negative), ×1.2 above 5 Elo/h, else ×1."""
    v = policy.velocity
    if elo_per_hour < v.slow_per_hour:
        return v.slow_multiplier
    if elo_per_hour > v.fast_per_hour:
        return v.fast_multiplier
    return v.normal_multiplier


def override_multiplier(level: int, policy: SchedulerPolicy = REFERENCE_POLICY) -> float:
    return policy.overrides.for_level(level)


def player_count_multiplier(
    config_key: ConfigKey, policy: SchedulerPolicy = REFERENCE_POLICY
) -> float:
    return policy.constants_for(config_key).player_multiplier


def priority_tier(games_count: int, policy: SchedulerPolicy = REFERENCE_POLICY) -> PriorityTier:
    """The data-starvation tier by game count: emergency (< 100), critical (< 1000), normal."""
    s = policy.starvation
    if games_count < s.emergency_games:
        return PriorityTier.EMERGENCY
    if games_count < s.critical_games:
        return PriorityTier.CRITICAL
    return PriorityTier.NORMAL


def starvation_multiplier(games_count: int, policy: SchedulerPolicy = REFERENCE_POLICY) -> float:
    s = policy.starvation
    if games_count < s.emergency_games:
        return s.emergency_multiplier
    if games_count < s.critical_games:
        return s.critical_multiplier
    return 1.0


