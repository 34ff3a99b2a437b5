"""Dynamic reweighting (docs/reference.md §weights): cluster signals, then the nine weights."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from selfplay_core.cluster import NodeCapability
from selfplay_core.configs import ConfigKey
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.priority_formula import REFERENCE_POLICY
from selfplay_core.values import ClusterSignals, DynamicWeights

__all__ = ["cluster_signals", "compute_dynamic_weights"]


def cluster_signals(
    nodes: Iterable[NodeCapability],
    elos: Mapping[ConfigKey, float],
    training_queue_depth: float = 0,
    policy: SchedulerPolicy = REFERENCE_POLICY,
    *,
    unhealthy_nodes: Collection[str] = (),
) -> ClusterSignals:
    """Derive the §weights inputs from node reports and per-config Elos.

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
    """The reference's §weights exactly, except that quality and voi are clamped too.

    staleness: ×1.5 if idle > 0.5, else ×0.7 if idle < 0.1; then ×0.6 if queue > 10.
    velocity: ×0.6 if more than half the configs are at target. curriculum: ×1.8 if the
    average Elo > 1800, else ×1.3 if > 1500. data_deficit: ×1.4 if idle > 0.5. Each weight is
    then clamped to its bounds. Nothing is normalised.
    """
    base, rules = policy.weights, policy.dynamic
    bounds = rules.bounds
    idle = signals.idle_gpu_fraction
    average = signals.average_elo

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
    if average > rules.elo_high_threshold:
        curriculum = base.curriculum * rules.elo_high_curriculum_multiplier
    elif average > rules.elo_medium_threshold:
        curriculum = base.curriculum * rules.elo_medium_curriculum_multiplier

    data_deficit = base.data_deficit
    if idle > rules.idle_gpu_high_threshold:
        data_deficit = base.data_deficit * rules.idle_high_data_deficit_multiplier

    return DynamicWeights(
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
        average,
    )
