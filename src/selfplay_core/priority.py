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
from selfplay_core.policy import SchedulerPolicy, _ScoreConstants
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
    """Reference §7 exactly, except that quality and voi are clamped to their bounds too.

    staleness: ×1.5 if idle > 0.5, else ×0.7 if idle < 0.1; then ×0.6 if queue > 10.
    velocity: ×0.6 if more than half the configs are at target. curriculum: ×1.8 if the
    average Elo > 1800, else ×1.3 if > 1500. data_deficit: ×1.4 if idle > 0.5. Each weight is
    then clamped to its bounds. Nothing is normalised.
    """
    c = policy._weight_constants
    idle = signals.idle_gpu_fraction
    average = signals.average_elo
    queue = signals.training_queue_depth

    staleness = c.staleness
    if idle > c.idle_high:
        staleness = c.staleness * c.idle_high_staleness
    elif idle < c.idle_low:
        staleness = c.staleness * c.idle_low_staleness
    if queue > c.queue_high:
        staleness *= c.queue_high_staleness

    velocity = c.velocity
    if signals.configs_at_target_fraction > c.at_target_high:
        velocity = c.velocity * c.at_target_velocity

    curriculum = c.curriculum
    if average > c.elo_high:
        curriculum = c.curriculum * c.elo_high_curriculum
    elif average > c.elo_medium:
        curriculum = c.curriculum * c.elo_medium_curriculum

    data_deficit = c.data_deficit
    if idle > c.idle_high:
        data_deficit = c.data_deficit * c.idle_high_data_deficit

    return _trusted_weights(
        _clamp(staleness, c.staleness_bounds),
        _clamp(velocity, c.velocity_bounds),
        c.training,
        c.exploration,
        _clamp(curriculum, c.curriculum_bounds),
        c.improvement,
        _clamp(data_deficit, c.data_deficit_bounds),
        c.quality,
        c.voi,
        idle,
        queue,
        signals.configs_at_target_fraction,
        average,
    )


def _clamp(value: float, bounds: tuple[float, float]) -> float:
    # max(lo, min(hi, value)), as the reference writes it.
    lo, hi = bounds
    value = value if value < hi else hi
    return value if value > lo else lo


# --- the score (§8) ------------------------------------------------------------------------------


def compute_priority_score(
    inputs: PriorityInputs, weights: DynamicWeights, policy: SchedulerPolicy = REFERENCE_POLICY
) -> float:
    """Reference §8: B = S1 + … + S9, then × seven multipliers; 0 when B ≤ 0.

    `explain_priority` computes the same numbers term by term; the property tests hold the two
    equal bit for bit.
    """
    return _score(inputs, _weight_tuple(weights), policy._score_constants)


def _weight_tuple(w: DynamicWeights) -> tuple[float, ...]:
    return (
        w.staleness,
        w.velocity,
        w.training,
        w.exploration,
        w.curriculum,
        w.improvement,
        w.data_deficit,
        w.quality,
        w.voi,
    )


def _score(inputs: PriorityInputs, weights: tuple[float, ...], c: _ScoreConstants) -> float:
    # Written flat, with the policy pre-flattened into `c`: it runs 12 times per ranking.
    # The operations and their order are exactly the reference's (float results depend on it);
    # `x if x < 1.0 else 1.0` is min(1.0, x) and `x if x > 0.0 else 0.0` is max(0.0, x).
    w_st, w_vel, w_tr, w_ex, w_cur, w_imp, w_def, w_q, w_voi = weights
    (
        fresh,
        stale_span,
        max_hours,
        velocity_cap,
        u_floor,
        u_base,
        u_mix,
        u_scale,
        g_mix,
        g_scale,
        i_mix,
        i_scale,
        q_centre,
        slow_h,
        fast_h,
        slow_m,
        fast_m,
        normal_m,
        emergency_n,
        critical_n,
        emergency_m,
        critical_m,
        levels,
        other_m,
        per_config,
    ) = c
    player_multiplier, deficit_target = per_config[inputs._index]
    n = inputs.games_count

    h = inputs.staleness_hours
    if h < fresh:
        sf = 0.0
    elif h > max_hours:
        sf = 1.0
    else:
        sf = (h - fresh) / stale_span
        if sf > 1.0:
            sf = 1.0
    v = inputs.elo_velocity
    if v <= 0:
        vf = 0.0
    else:
        vf = v / velocity_cap
        if vf > 1.0:
            vf = 1.0
    if n >= deficit_target:
        df = 0.0
    else:
        df = 1.0 - n / deficit_target
        if df > 1.0:
            df = 1.0
    u = inputs.elo_uncertainty
    if n > 0:
        root = _sqrt(n)
        if u is None:
            u = u_base / root
            if u < u_floor:
                u = u_floor
        info = u / root
    else:
        if u is None:
            u = u_base
        info = u
    uf = u / u_scale
    gap = inputs.target_elo - inputs.current_elo
    gf = (gap if gap > 0.0 else 0.0) / g_scale
    inf = info / i_scale
    voi = (
        u_mix * (uf if uf < 1.0 else 1.0)
        + g_mix * (gf if gf < 1.0 else 1.0)
        + i_mix * (inf if inf < 1.0 else 1.0)
    )
    boost = inputs.exploration_boost
    base = (
        sf * w_st
        + vf * w_vel
        + (1.0 if inputs.training_pending else 0.0) * w_tr
        + (boost - 1.0) * w_ex
        + (inputs.curriculum_weight - 1.0) * w_cur
        + inputs.improvement_boost * w_imp
        + ((inputs.quality_score - q_centre) * w_q + inputs.quality_penalty)
        + df * w_def
        + voi * w_voi
    )
    if base <= 0.0:
        return 0.0

    vh = inputs.elo_velocity_per_hour
    if vh < slow_h:
        m_vel = slow_m
    elif vh > fast_h:
        m_vel = fast_m
    else:
        m_vel = normal_m
    level = inputs.priority_override
    m_override = levels[level] if 0 <= level <= 3 else other_m
    if n < emergency_n:
        m_starve = emergency_m
    elif n < critical_n:
        m_starve = critical_m
    else:
        m_starve = 1.0
    return (
        base
        * boost
        * inputs.momentum_multiplier
        * m_vel
        * m_override
        * player_multiplier
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
    inputs_by_config: Mapping[ConfigKey, PriorityInputs]
    | Mapping[str, PriorityInputs]
    | Iterable[PriorityInputs],
    weights: DynamicWeights,
    policy: SchedulerPolicy = REFERENCE_POLICY,
    top_n: int | None = None,
    *,
    explain: bool = False,
) -> tuple[ConfigPriority, ...]:
    """Score every config and sort: highest score first, ties in canonical config order.

    `inputs_by_config` is a mapping keyed by config (each key must be its inputs' config_key,
    as a `ConfigKey` or its string)
    or an iterable of inputs; a config may appear once. Only `ConfigKey`s can be ranked, so an
    unknown config cannot slip in. `top_n` slices like the reference (None = all). With
    `explain=True` every result carries its `PriorityBreakdown`.
    """
    if isinstance(inputs_by_config, dict | Mapping):
        for key, inputs in inputs_by_config.items():
            # A key may be the ConfigKey or its string, as everywhere else in the API.
            if key is not inputs.config_key and key != str(inputs.config_key):
                raise ValueError(f"inputs for {inputs.config_key} filed under {key}")
        items: Iterable[PriorityInputs] = inputs_by_config.values()
    else:
        items = inputs_by_config
    wt = _weight_tuple(weights)
    constants = policy._score_constants
    scored: list[tuple[float, int, PriorityInputs]] = []
    seen = 0
    for inputs in items:
        index = inputs._index
        bit = 1 << index
        if seen & bit:
            raise ValueError(f"config {inputs.config_key} given twice")
        seen |= bit
        scored.append((-_score(inputs, wt, constants), index, inputs))
    # (−score, canonical index) is unique per config, so the tuples never compare the inputs.
    scored.sort()
    chosen = scored if top_n is None else scored[:top_n]
    make = _trusted_priority
    if explain:
        return tuple(
            make(
                inputs.config_key,
                -neg,
                inputs.games_count,
                explain_priority(inputs, weights, policy),
            )
            for neg, _, inputs in chosen
        )
    return tuple(
        make(inputs.config_key, -neg, inputs.games_count, None) for neg, _, inputs in chosen
    )


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
