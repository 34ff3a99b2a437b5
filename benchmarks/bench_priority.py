"""Priority benchmark: rank all 12 configs (dynamic weights + 12 scores + sort).

Target on the 2-core CI machine: median ≤ 30 µs per ranking (the reference: ~150–200 µs).
"""

from __future__ import annotations

from benchmarks._timing import median_seconds
from selfplay_core import (
    ALL_CONFIGS,
    ClusterSignals,
    PriorityInputs,
    SchedulerPolicy,
    compute_dynamic_weights,
    compute_priority_score,
    explain_priority,
    rank,
)


def _inputs() -> dict[object, PriorityInputs]:
    """A varied, realistic cluster: every branch of the score is taken by some config."""
    return {
        key: PriorityInputs(
            key,
            current_elo=1400.0 + 60.0 * i,
            elo_velocity=8.0 * i - 20.0,
            elo_velocity_per_hour=0.4 * i,
            staleness_hours=0.5 * i,
            curriculum_weight=0.8 + 0.05 * i,
            quality_penalty=-0.01 * (i % 3),
            games_count=(0, 50, 400, 2_000, 20_000, 150_000)[i % 6],
            training_pending=i % 4 == 0,
            exploration_boost=1.0 + 0.1 * (i % 3),
            improvement_boost=0.05 * (i % 2),
            momentum_multiplier=1.0 + 0.05 * (i % 5),
            priority_override=i % 4,
        )
        for i, key in enumerate(ALL_CONFIGS)
    }


def run() -> dict[str, object]:
    policy = SchedulerPolicy()
    inputs = _inputs()
    signals = ClusterSignals(
        idle_gpu_fraction=0.6,
        training_queue_depth=3,
        configs_at_target_fraction=0.25,
        average_elo=1710.0,
    )

    def rank_all() -> object:
        return rank(inputs, compute_dynamic_weights(signals, policy), policy)

    weights = compute_dynamic_weights(signals, policy)
    one = inputs[ALL_CONFIGS[7]]
    rank_seconds = median_seconds(rank_all, repeat=3000, warmup=300)
    score_seconds = median_seconds(
        lambda: compute_priority_score(one, weights, policy), repeat=3000, warmup=300
    )
    weights_seconds = median_seconds(
        lambda: compute_dynamic_weights(signals, policy), repeat=3000, warmup=300
    )
    explain_seconds = median_seconds(
        lambda: explain_priority(one, weights, policy), repeat=1000, warmup=100
    )
    explained_rank_seconds = median_seconds(
        lambda: rank(inputs, weights, policy, explain=True), repeat=500, warmup=50
    )
    return {
        "rank_12_median_us": round(rank_seconds * 1e6, 2),
        "rank_12_target_us": 30.0,
        "score_one_median_us": round(score_seconds * 1e6, 3),
        "dynamic_weights_median_us": round(weights_seconds * 1e6, 3),
        "explain_one_median_us": round(explain_seconds * 1e6, 2),
        "rank_12_explained_median_us": round(explained_rank_seconds * 1e6, 2),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
