"""The reference's own heavy allocation workload (`heavy_reference_mode`).

A reference-mode call, `games_per_config=1000, max_configs=12`, on 50 mixed nodes, with scores
from realistic inputs: the top scores reach about 130, so the reference-mode counts reach about
130,000 games per config, far more than the nodes can take. Every config is spread over many
nodes and much is reported unplaced. This is what a real cluster sends; the reference takes
0.85–0.9 ms per call here.

Figures: the median per call (best of five round medians of 200 calls) unthrottled, with the
cluster health at 0.7, and with backpressure that halves the spawn rate (the throttled paths);
the largest count and score, so a reader can see the workload is the heavy one;
`heavy_output_values_only_us`: the same result built again from its numbers (`rebuilt`), the
part of every call that is the output values alone. Beside them,
`decide` from a realistic state (the same 50 nodes and per-config facts folded into a
`SchedulerState`): rank + allocate, the call a scheduler makes (target ≤ 200 µs).
"""

from __future__ import annotations

import random

import attrs

from benchmarks._timing import median_seconds
from selfplay_core.allocation import AllocationRequest, allocate
from selfplay_core.allocation.values import (
    AllocationExplanation,
    BatchAllocation,
    ConfigDecision,
    NodeAllocation,
    UnmetConstraint,
)
from selfplay_core.cluster import Backpressure, ClusterState, NodeCapability
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.decide import decide
from selfplay_core.events import SourcesRefreshed, make_envelope
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.priority import cluster_signals, compute_dynamic_weights, rank
from selfplay_core.reducer import reduce
from selfplay_core.state import SchedulerState
from selfplay_core.values import ConfigPriority, PriorityInputs

POLICY = SchedulerPolicy()
SEED = 20261209  # top score 134.5, largest reference-mode count 135,002
PREFIXES = ("vast-", "runpod-", "lambda-", "nebius-")  # the first two are ephemeral
GPU_TYPES = (
    "GH200",
    "H200",
    "H100",
    "A100_80",
    "A100",
    "A10",
    "RTX_4090",
    "RTX_3090",
    "CPU",
    "L40S",  # not in the capacity table
)
MEMORY_GB = (0.0, 24.0, 40.0, 80.0, 96.0)
LOADS = (0.0, 0.1, 0.3, 0.5, 0.8, 0.95)
GAME_COUNTS = (0, 45, 400, 2_500, 20_000, 90_000, 160_000)
REQUEST = AllocationRequest(games_per_config=1000, max_configs=12)


def heavy_nodes(rng: random.Random, count: int = 50) -> tuple[NodeCapability, ...]:
    nodes = []
    for i in range(count):
        prefix = PREFIXES[i % len(PREFIXES)]
        nodes.append(
            NodeCapability(
                f"{prefix}{i:03d}",
                gpu_type=rng.choice(GPU_TYPES),
                gpu_memory_gb=rng.choice(MEMORY_GB),
                is_ephemeral=prefix in PREFIXES[:2],
                current_load=rng.choice(LOADS),
                current_jobs=rng.randint(0, 4),
                data_lag_seconds=float(rng.randint(0, 60)),
            )
        )
    return tuple(nodes)


def heavy_inputs(rng: random.Random) -> dict[str, PriorityInputs]:
    inputs = {}
    for key in ALL_CONFIGS:
        inputs[str(key)] = PriorityInputs(
            key,
            current_elo=rng.uniform(1200.0, 2100.0),
            elo_velocity=rng.uniform(-20.0, 60.0),
            elo_velocity_per_hour=rng.uniform(-1.0, 3.0),
            staleness_hours=rng.uniform(0.0, 30.0),
            games_count=rng.choice(GAME_COUNTS),
            priority_override=rng.randint(0, 3),
            exploration_boost=rng.choice((1.0, 1.0, 1.5, 2.0)),
            curriculum_weight=rng.uniform(0.5, 2.0),
        )
    return inputs


def heavy_workload(seed: int = SEED) -> tuple[tuple[ConfigPriority, ...], ClusterState]:
    """(ranked priorities, cluster) of the heavy workload, the same for the same seed."""
    rng = random.Random(seed)
    nodes = heavy_nodes(rng)
    inputs = heavy_inputs(rng)
    elos = {inp.config_key: inp.current_elo for inp in inputs.values()}
    weights = compute_dynamic_weights(cluster_signals(nodes, elos), POLICY)
    return rank(inputs, weights, POLICY), ClusterState(nodes)


def heavy_state(seed: int = SEED) -> SchedulerState:
    """The workload's nodes and per-config facts (games, Elo, velocity, staleness, curriculum)
    as the state a scheduler folds from its data sources."""
    rng = random.Random(seed)
    nodes = heavy_nodes(rng)
    inputs = [heavy_inputs(rng)[str(key)] for key in ALL_CONFIGS]
    elos: dict[ConfigKey, float] = {i.config_key: i.current_elo for i in inputs}
    velocities: dict[ConfigKey, float] = {i.config_key: i.elo_velocity for i in inputs}
    games: dict[ConfigKey, int] = {i.config_key: i.games_count for i in inputs}
    staleness: dict[ConfigKey, float] = {i.config_key: i.staleness_hours for i in inputs}
    curriculum: dict[ConfigKey, float] = {i.config_key: i.curriculum_weight for i in inputs}
    refreshed = SourcesRefreshed(
        nodes=list(nodes),
        current_elos=elos,
        elo_velocities=velocities,
        game_counts=games,
        staleness_hours=staleness,
        curriculum_weights=curriculum,
    )
    envelope = make_envelope(refreshed, id="heavy-0", at=1_767_225_600.0, source="bench")
    return reduce(SchedulerState.initial(POLICY), envelope, POLICY).state


def rebuilt(batch: BatchAllocation) -> BatchAllocation:
    """The same result built again from its numbers through the public constructors: the
    cost of the output values alone (frozen, converted to canonical order, validated), which
    every call pays whatever the algorithm before it."""
    e = batch.explanation
    nodes = tuple(
        NodeAllocation(n.node_id, dict(n.games_by_config), n.games_cap, n.large_board_cap)
        for n in batch.nodes
    )
    configs = tuple(ConfigDecision(*attrs.astuple(c, recurse=False)) for c in e.configs)
    unmet = tuple(UnmetConstraint(*attrs.astuple(u, recurse=False)) for u in e.unmet)
    explanation = AllocationExplanation(
        e.mode,
        e.summary,
        e.requested_games_per_config,
        e.effective_games_per_config,
        e.throttle_multiplier,
        e.health_factor,
        e.requested_budget,
        e.effective_budget,
        configs,
        dict(e.skipped),
        unmet,
        dict(e.excluded_nodes),
        dict(e.unplaced_reasons),
    )
    placements = {key: dict(per_node) for key, per_node in batch.placements.items()}
    return BatchAllocation(
        dict(batch.games_by_config), placements, dict(batch.unplaced), explanation, nodes
    )


def run() -> dict[str, object]:
    priorities, cluster = heavy_workload()
    health = ClusterState(cluster.nodes, health_factor=0.7)
    # pressure 0.6 everywhere: overall 0.6, multiplier 1 - (0.6 - 0.3) / 0.6 = 0.5
    pressure = Backpressure(0.6, 0.6, 0.6, 0.6, 0.6)
    backpressure = ClusterState(cluster.nodes, backpressure=pressure)
    batch = allocate(priorities, cluster, REQUEST, POLICY)
    figures: dict[str, object] = {
        "top_score": round(max(p.score for p in priorities), 2),
        "largest_config_count": max(batch.games_by_config.values()),
        "games_placed": batch.placed_games,
        "games_unplaced": batch.unplaced_games,
        "backpressure_multiplier": pressure.spawn_rate_multiplier(POLICY.allocation.backpressure),
    }
    variants = (("", cluster), ("_health_0_7", health), ("_backpressure_0_5", backpressure))
    for name, state in variants:
        seconds = median_seconds(lambda s=state: allocate(priorities, s, REQUEST, POLICY))
        figures[f"heavy_reference_mode{name}_median_us"] = round(seconds * 1e6, 1)
    figures["heavy_reference_mode_target_us"] = 150
    assert rebuilt(batch) == batch
    seconds = median_seconds(lambda: rebuilt(batch))
    figures["heavy_output_values_only_us"] = round(seconds * 1e6, 1)
    folded = heavy_state()
    request = AllocationRequest(games_per_config=1000, max_configs=12, now=1_767_229_200.0)
    seconds = median_seconds(lambda: decide(folded, request, POLICY))
    figures["decide_realistic_50_nodes_median_us"] = round(seconds * 1e6, 1)
    figures["decide_realistic_50_nodes_target_us"] = 200
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
