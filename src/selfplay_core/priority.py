"""The priority score of docs/reference.md §score: the score, its breakdown, and the ranking.

The formula is written once, in `priority_formula.evaluate`: it computes every factor, term and
multiplier as plain floats, the score is their result, and `explain_priority` packs the same
numbers. The dynamic weights live in `dynamic_weights`, the §targets budgets and targets in
`training_targets`; this module re-exports them all, so `from selfplay_core.priority import …`
keeps working.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from selfplay_core.cluster import NodeCapability
from selfplay_core.configs import ConfigKey
from selfplay_core.dynamic_weights import cluster_signals, compute_dynamic_weights
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.priority_formula import (
    REFERENCE_POLICY,
    data_deficit_factor,
    elo_gap,
    elo_uncertainty,
    evaluate,
    info_gain_per_game,
    override_multiplier,
    player_count_multiplier,
    priority_tier,
    staleness_factor,
    starvation_multiplier,
    velocity_factor,
    velocity_multiplier,
    voi_score,
)
from selfplay_core.training_targets import (
    adaptive_budget,
    games_needed,
    samples_per_game,
    target_games,
)
from selfplay_core.values import (
    ClusterSignals,
    ConfigPriority,
    DynamicWeights,
    PriorityBreakdown,
    PriorityInputs,
    PriorityTier,
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


def compute_priority_score(
    inputs: PriorityInputs, weights: DynamicWeights, policy: SchedulerPolicy = REFERENCE_POLICY
) -> float:
    """Reference §score: B = S1 + … + S9, then × seven multipliers; 0 when B ≤ 0."""
    return evaluate(inputs, weights, policy, False)


def explain_priority(
    inputs: PriorityInputs, weights: DynamicWeights, policy: SchedulerPolicy = REFERENCE_POLICY
) -> PriorityBreakdown:
    """Every factor, additive term and multiplier behind `compute_priority_score`."""
    return evaluate(inputs, weights, policy, True)


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
    # Each config is evaluated once; with `explain` its breakdown is built then and carries
    # the score, so the ranking and the breakdown can never disagree.
    scored: list[tuple[float, int, PriorityInputs, PriorityBreakdown | None]] = []
    seen = 0
    for inputs in items:
        index = inputs.config_index
        bit = 1 << index
        if seen & bit:
            raise ValueError(f"config {inputs.config_key} given twice")
        seen |= bit
        if explain:
            breakdown = evaluate(inputs, weights, policy, True)
            scored.append((-breakdown.score, index, inputs, breakdown))
        else:
            scored.append((-evaluate(inputs, weights, policy, False), index, inputs, None))
    # (−score, canonical index) is unique per config, so the tuples never compare the inputs.
    scored.sort()
    chosen = scored if top_n is None else scored[:top_n]
    return tuple(
        ConfigPriority(inputs.config_key, -neg, inputs.games_count, breakdown)
        for neg, _, inputs, breakdown in chosen
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
