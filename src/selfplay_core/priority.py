"""The priority calculation of reference/priority.md §2.3, §7, §8 and §9, as pure functions.

Every function takes the policy explicitly (defaulting to the reference policy). The score is
the reference's to the last bit, except where docs/deviations.md says otherwise (a base ≤ 0
scores 0; quality and voi weights are clamped to their bounds; unhealthy nodes are not idle).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from typing import Final

from selfplay_core.cluster import NodeCapability
from selfplay_core.configs import ConfigKey
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.values import (
    ClusterSignals,
    ConfigPriority,
    DynamicWeights,
    PriorityBreakdown,
    PriorityFactors,
    PriorityInputs,
    PriorityMultipliers,
    PriorityTerms,
    PriorityTier,
    _trusted_priority,
    _trusted_weights,
)

__all__ = [
    "PriorityCalculator",
    "adaptive_budget",
    "cluster_signals",
    "compute_dynamic_weights",
    "compute_priority_score",
    "data_deficit_factor",
    "elo_gap",
    "elo_uncertainty",
    "explain_priority",
    "games_needed",
    "info_gain_per_game",
    "override_multiplier",
    "player_count_multiplier",
    "priority_tier",
    "rank",
    "samples_per_game",
    "staleness_factor",
    "starvation_multiplier",
    "target_games",
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


# --- dynamic weights (§7) ------------------------------------------------------------------------


def cluster_signals(
    nodes: Iterable[NodeCapability],
    elos: Mapping[ConfigKey, float],
    training_queue_depth: float = 0,
    policy: SchedulerPolicy = REFERENCE_POLICY,
    *,
    unhealthy_nodes: Collection[str] = (),
) -> ClusterSignals:
    """Derive the §7 inputs from node reports and per-config Elos.

    - idle fraction: nodes with known GPU memory and no jobs, over all nodes (0 with no nodes);
      a node listed in `unhealthy_nodes` is never idle (docs/deviations.md);
    - queue depth: truncated to an int as the reference does (11.9 → 11);
    - at-target fraction: configs with Elo ≥ 2000 over the configs given;
    - average Elo over configs with Elo > 0, or 1500 when there are none.
    Elos are read in canonical config order, so the result never depends on mapping order.
    """
    node_list = tuple(nodes)
    if node_list:
        idle = sum(
            1
            for n in node_list
            if n.current_jobs == 0 and n.gpu_memory_gb > 0 and n.node_id not in unhealthy_nodes
        )
        idle_fraction = idle / max(1, len(node_list))
    else:
        idle_fraction = 0.0
    values = [elos[key] for key in sorted(elos)]
    rules = policy.dynamic
    at_target = sum(1 for e in values if e >= rules.at_target_elo)
    at_target_fraction = at_target / max(1, len(values))
    positive = [e for e in values if e > 0]
    average = sum(positive) / len(positive) if positive else rules.default_average_elo
    return ClusterSignals(idle_fraction, int(training_queue_depth), at_target_fraction, average)


def compute_dynamic_weights(
    signals: ClusterSignals, policy: SchedulerPolicy = REFERENCE_POLICY
) -> DynamicWeights:
    """Reference §7 exactly, except that quality and voi are clamped to their bounds too."""
    base = policy.weights
    rules = policy.dynamic
    bounds = rules.bounds
    idle = signals.idle_gpu_fraction

    staleness = base.staleness
    if idle > rules.idle_gpu_high_threshold:
        staleness = base.staleness * rules.idle_high_staleness_multiplier
    elif idle < rules.idle_gpu_low_threshold:
        staleness = base.staleness * rules.idle_low_staleness_multiplier
    if signals.training_queue_depth > rules.training_queue_high_threshold:
        staleness *= rules.queue_high_staleness_multiplier

    velocity = base.velocity
    if signals.configs_at_target_fraction > rules.configs_at_target_threshold:
        velocity = base.velocity * rules.at_target_velocity_multiplier

    curriculum = base.curriculum
    if signals.average_elo > rules.elo_high_threshold:
        curriculum = base.curriculum * rules.elo_high_curriculum_multiplier
    elif signals.average_elo > rules.elo_medium_threshold:
        curriculum = base.curriculum * rules.elo_medium_curriculum_multiplier

    data_deficit = base.data_deficit
    if idle > rules.idle_gpu_high_threshold:
        data_deficit = base.data_deficit * rules.idle_high_data_deficit_multiplier

    return _trusted_weights(
        bounds.staleness.clamp(staleness),
        bounds.velocity.clamp(velocity),
        bounds.training.clamp(base.training),
        bounds.exploration.clamp(base.exploration),
        bounds.curriculum.clamp(curriculum),
        bounds.improvement.clamp(base.improvement),
        bounds.data_deficit.clamp(data_deficit),
        bounds.quality.clamp(base.quality),
        bounds.voi.clamp(base.voi),
        idle,
        signals.training_queue_depth,
        signals.configs_at_target_fraction,
        signals.average_elo,
    )


# --- the score (§8) ------------------------------------------------------------------------------


def compute_priority_score(
    inputs: PriorityInputs, weights: DynamicWeights, policy: SchedulerPolicy = REFERENCE_POLICY
) -> float:
    """Reference §8: B = S1 + … + S9, then × seven multipliers; 0 when B ≤ 0.

    Written flat for speed (it runs 12 times per ranking); `explain_priority` computes the same
    numbers term by term and the property tests hold the two equal bit for bit.
    """
    key = inputs.config_key
    const = policy._per_config[key.index]
    n = inputs.games_count

    # S1 staleness factor
    h = inputs.staleness_hours
    st = policy.staleness
    if h < st.fresh_hours:
        sf = 0.0
    elif h > st.max_hours:
        sf = 1.0
    else:
        sf = min(1.0, (h - st.fresh_hours) / (st.stale_hours - st.fresh_hours))
    # S2 velocity factor (Elo/day)
    v = inputs.elo_velocity
    vf = 0.0 if v <= 0 else min(1.0, v / policy.velocity.factor_cap_per_day)
    # S8 data deficit
    target = const.deficit_target
    df = 0.0 if n >= target else min(1.0, 1.0 - n / target)
    # S9 value of information
    u = inputs.elo_uncertainty
    model = policy.uncertainty
    if u is None:
        u = max(model.floor, model.base / _sqrt(n)) if n > 0 else model.base
    vp = policy.voi
    gap = max(0.0, inputs.target_elo - inputs.current_elo)
    info = u if n <= 0 else u / _sqrt(n)
    voi = (
        vp.uncertainty_mix * min(1.0, u / vp.uncertainty_scale)
        + vp.gap_mix * min(1.0, gap / vp.gap_scale)
        + vp.info_gain_mix * min(1.0, info / vp.info_gain_scale)
    )
    boost = inputs.exploration_boost
    w = weights
    base = (
        sf * w.staleness
        + vf * w.velocity
        + (1.0 if inputs.training_pending else 0.0) * w.training
        + (boost - 1.0) * w.exploration
        + (inputs.curriculum_weight - 1.0) * w.curriculum
        + inputs.improvement_boost * w.improvement
        + ((inputs.quality_score - policy.quality.centre) * w.quality + inputs.quality_penalty)
        + df * w.data_deficit
        + voi * w.voi
    )
    if base <= 0.0:
        return 0.0

    vel = policy.velocity
    vh = inputs.elo_velocity_per_hour
    if vh < vel.slow_per_hour:
        m_vel = vel.slow_multiplier
    elif vh > vel.fast_per_hour:
        m_vel = vel.fast_multiplier
    else:
        m_vel = vel.normal_multiplier
    sv = policy.starvation
    if n < sv.emergency_games:
        m_starve = sv.emergency_multiplier
    elif n < sv.critical_games:
        m_starve = sv.critical_multiplier
    else:
        m_starve = 1.0
    return (
        base
        * boost
        * inputs.momentum_multiplier
        * m_vel
        * policy.overrides.for_level(inputs.priority_override)
        * const.player_multiplier
        * inputs.cascade_multiplier
        * m_starve
    )


def explain_priority(
    inputs: PriorityInputs, weights: DynamicWeights, policy: SchedulerPolicy = REFERENCE_POLICY
) -> PriorityBreakdown:
    """Every factor, additive term and multiplier behind `compute_priority_score`."""
    key = inputs.config_key
    n = inputs.games_count
    uncertainty = (
        inputs.elo_uncertainty if inputs.elo_uncertainty is not None else elo_uncertainty(n, policy)
    )
    factors = PriorityFactors(
        staleness=staleness_factor(inputs.staleness_hours, policy),
        velocity=velocity_factor(inputs.elo_velocity, policy),
        data_deficit=data_deficit_factor(n, key, policy),
        voi=voi_score(inputs.current_elo, inputs.target_elo, n, uncertainty, policy),
        elo_uncertainty=uncertainty,
    )
    w = weights
    terms = PriorityTerms(
        staleness=factors.staleness * w.staleness,
        velocity=factors.velocity * w.velocity,
        training=(1.0 if inputs.training_pending else 0.0) * w.training,
        exploration=(inputs.exploration_boost - 1.0) * w.exploration,
        curriculum=(inputs.curriculum_weight - 1.0) * w.curriculum,
        improvement=inputs.improvement_boost * w.improvement,
        quality=(inputs.quality_score - policy.quality.centre) * w.quality + inputs.quality_penalty,
        data_deficit=factors.data_deficit * w.data_deficit,
        voi=factors.voi * w.voi,
    )
    multipliers = PriorityMultipliers(
        exploration_boost=inputs.exploration_boost,
        momentum=inputs.momentum_multiplier,
        velocity=velocity_multiplier(inputs.elo_velocity_per_hour, policy),
        override=override_multiplier(inputs.priority_override, policy),
        player_count=player_count_multiplier(key, policy),
        cascade=inputs.cascade_multiplier,
        starvation=starvation_multiplier(n, policy),
    )
    base = terms.total()
    reference_score = multipliers.apply(base)
    return PriorityBreakdown(
        config_key=key,
        factors=factors,
        terms=terms,
        base=base,
        multipliers=multipliers,
        tier=priority_tier(n, policy),
        reference_score=reference_score,
        score=reference_score if base > 0.0 else 0.0,
    )


# --- budgets, targets, games needed (§9) ---------------------------------------------------------


def adaptive_budget(elo: float, policy: SchedulerPolicy = REFERENCE_POLICY) -> int:
    """Gumbel budget by Elo: ≥ 2000 → 3200, ≥ 1800 → 1600, ≥ 1500 → 800, else 800."""
    b = policy.budget
    if elo >= b.master_elo:
        return b.master
    if elo >= b.ultimate_elo:
        return b.ultimate
    if elo >= b.quality_elo:
        return b.quality
    return b.standard


def target_games(
    config_key: ConfigKey, elo: float, policy: SchedulerPolicy = REFERENCE_POLICY
) -> int:
    """min(int(max(0, 1900 − elo) × 500 × board × players), 500000); 0 at or above 1900."""
    t = policy.target_games
    gap = max(0.0, t.target_elo - elo)
    if gap <= 0:
        return 0
    games = gap * t.games_per_elo
    games *= t.board_multipliers[config_key.board]
    games *= t.player_multipliers[config_key.players]
    return min(int(games), t.cap)


def samples_per_game(config_key: ConfigKey, policy: SchedulerPolicy = REFERENCE_POLICY) -> float:
    """SAMPLES_PER_GAME_BY_BOARD; every valid key has an entry (the reference's 50 is unused)."""
    return policy.constants_for(config_key).samples_per_game


def games_needed(games_count: int, target_samples: int, samples_per_game: float) -> int:
    """Games still needed to reach `target_samples`; rounds down like the reference (§2.3)."""
    if samples_per_game <= 0:
        return 0
    current = int(games_count * samples_per_game)
    remaining = max(0, target_samples - current)
    return int(remaining / samples_per_game)


# --- ranking -------------------------------------------------------------------------------------


def rank(
    inputs_by_config: Mapping[ConfigKey, PriorityInputs] | Iterable[PriorityInputs],
    weights: DynamicWeights,
    policy: SchedulerPolicy = REFERENCE_POLICY,
    top_n: int | None = None,
    *,
    explain: bool = False,
) -> tuple[ConfigPriority, ...]:
    """Score every config and sort: highest score first, ties in canonical config order.

    `inputs_by_config` is a mapping keyed by config (each key must be its inputs' config_key)
    or an iterable of inputs; a config may appear once. Only `ConfigKey`s can be ranked, so an
    unknown config cannot slip in. `top_n` slices like the reference (None = all). With
    `explain=True` every result carries its `PriorityBreakdown`.
    """
    if isinstance(inputs_by_config, Mapping):
        for key, inputs in inputs_by_config.items():
            if key != inputs.config_key:
                raise ValueError(f"inputs for {inputs.config_key} filed under {key}")
        items: Iterable[PriorityInputs] = inputs_by_config.values()
    else:
        items = inputs_by_config
    scored: list[tuple[float, int, PriorityInputs]] = []
    seen = 0
    for inputs in items:
        index = inputs.config_key.index
        bit = 1 << index
        if seen & bit:
            raise ValueError(f"config {inputs.config_key} given twice")
        seen |= bit
        scored.append((-compute_priority_score(inputs, weights, policy), index, inputs))
    scored.sort(key=_sort_key)
    chosen = scored if top_n is None else scored[:top_n]
    if explain:
        return tuple(
            _trusted_priority(
                inputs.config_key,
                -neg,
                inputs.games_count,
                explain_priority(inputs, weights, policy),
            )
            for neg, _, inputs in chosen
        )
    return tuple(
        _trusted_priority(inputs.config_key, -neg, inputs.games_count, None)
        for neg, _, inputs in chosen
    )


def _sort_key(item: tuple[float, int, PriorityInputs]) -> tuple[float, int]:
    return item[0], item[1]


class PriorityCalculator:
    """The seed's class face: a policy held once, methods that call the functions above."""

    __slots__ = ("policy",)

    def __init__(self, policy: SchedulerPolicy = REFERENCE_POLICY) -> None:
        self.policy = policy

    def __repr__(self) -> str:
        return f"PriorityCalculator({self.policy!r})"

    def compute_dynamic_weights(self, signals: ClusterSignals) -> DynamicWeights:
        return compute_dynamic_weights(signals, self.policy)

    def cluster_signals(
        self,
        nodes: Iterable[NodeCapability],
        elos: Mapping[ConfigKey, float],
        training_queue_depth: float = 0,
        *,
        unhealthy_nodes: Collection[str] = (),
    ) -> ClusterSignals:
        return cluster_signals(
            nodes, elos, training_queue_depth, self.policy, unhealthy_nodes=unhealthy_nodes
        )

    def compute_priority_score(self, inputs: PriorityInputs, weights: DynamicWeights) -> float:
        return compute_priority_score(inputs, weights, self.policy)

    def explain_priority(
        self, inputs: PriorityInputs, weights: DynamicWeights
    ) -> PriorityBreakdown:
        return explain_priority(inputs, weights, self.policy)

    def rank(
        self,
        inputs_by_config: Mapping[ConfigKey, PriorityInputs] | Iterable[PriorityInputs],
        weights: DynamicWeights,
        top_n: int | None = None,
        *,
        explain: bool = False,
    ) -> tuple[ConfigPriority, ...]:
        return rank(inputs_by_config, weights, self.policy, top_n, explain=explain)

    def get_adaptive_budget(self, elo: float) -> int:
        return adaptive_budget(elo, self.policy)

    def compute_target_games(self, config_key: ConfigKey, current_elo: float) -> int:
        return target_games(config_key, current_elo, self.policy)

    def samples_per_game(self, config_key: ConfigKey) -> float:
        return samples_per_game(config_key, self.policy)

    def games_needed(
        self, config_key: ConfigKey, games_count: int, target_samples: int | None = None
    ) -> int:
        target = self.policy.samples.default_target if target_samples is None else target_samples
        return games_needed(games_count, target, samples_per_game(config_key, self.policy))

    def priority_tier(self, games_count: int) -> PriorityTier:
        return priority_tier(games_count, self.policy)
