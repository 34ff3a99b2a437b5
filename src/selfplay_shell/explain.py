"""What `selfplay-scheduler explain` shows, as plain data: every factor, weight and multiplier
behind each config's score (like Slurm's `sprio`), then how the allocation came about.

Built from core values only (a state, a request, a policy, a decision); the CLI renders it as
tables or prints it as JSON.
"""

from __future__ import annotations

from typing import Any, Final

from selfplay_core.allocation.values import AllocationRequest, BatchAllocation
from selfplay_core.codec import encode_value
from selfplay_core.decide import dynamic_weights, priorities, signals
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.replay import canonical_json
from selfplay_core.state import SchedulerState, priority_inputs

__all__ = ["MULTIPLIERS", "TERMS", "explain_data"]

#: The nine additive terms, in the reference's order (name, what the factor is).
TERMS: Final[tuple[tuple[str, str], ...]] = (
    ("staleness", "staleness factor in [0, 1]"),
    ("velocity", "Elo velocity factor in [0, 1]"),
    ("training", "1 when training is pending"),
    ("exploration", "exploration boost − 1"),
    ("curriculum", "curriculum weight − 1"),
    ("improvement", "improvement boost"),
    ("quality", "quality score − centre (+ penalty after the weight)"),
    ("data_deficit", "data deficit factor in [0, 1]"),
    ("voi", "value of information in [0, 1]"),
)
#: The seven multipliers, in the order the reference applies them.
MULTIPLIERS: Final[tuple[str, ...]] = (
    "exploration_boost",
    "momentum",
    "velocity",
    "override",
    "player_count",
    "cascade",
    "starvation",
)


def explain_data(
    state: SchedulerState,
    request: AllocationRequest,
    policy: SchedulerPolicy,
    result: BatchAllocation,
    *,
    replayed: BatchAllocation | None = None,
) -> dict[str, Any]:
    """The explanation of `result` (a decision for `request` in `state` under `policy`).
    `replayed`, when given, is the same decision made again; the data says whether they agree.
    """
    now = request.now
    weights = dynamic_weights(state, policy)
    inputs = priority_inputs(state, now, policy)
    ranked = priorities(state, now, policy, explain=True)
    rows = []
    for rank_no, priority in enumerate(ranked, start=1):
        b = priority.breakdown
        assert b is not None  # explain=True
        i = inputs[priority.config_key]
        factor_values = {
            "staleness": b.factors.staleness,
            "velocity": b.factors.velocity,
            "training": 1.0 if i.training_pending else 0.0,
            "exploration": i.exploration_boost - 1.0,
            "curriculum": i.curriculum_weight - 1.0,
            "improvement": i.improvement_boost,
            "quality": i.quality_score - policy.quality.centre,
            "data_deficit": b.factors.data_deficit,
            "voi": b.factors.voi,
        }
        rows.append(
            {
                "rank": rank_no,
                "config": str(priority.config_key),
                "score": priority.score,
                "tier": b.tier.value,
                "games_count": priority.games_count,
                "factors": factor_values,
                "weights": {name: getattr(weights, name) for name, _ in TERMS},
                "terms": {name: getattr(b.terms, name) for name, _ in TERMS},
                "quality_penalty": i.quality_penalty,
                "base": b.base,
                "multipliers": {name: getattr(b.multipliers, name) for name in MULTIPLIERS},
                "reference_score": b.reference_score,
                "inputs": encode_value(i),
            }
        )
    e = result.explanation
    node_rows = [
        {
            "node": node.node_id,
            "games": node.total_games,
            "games_cap": node.games_cap,
            "large_board_cap": node.large_board_cap,
            "by_config": {str(k): v for k, v in node.games_by_config.items() if v},
        }
        for node in result.nodes
    ]
    data: dict[str, Any] = {
        "at": now,
        "request": encode_value(request),
        "signals": encode_value(signals(state, policy)),
        "weights": encode_value(weights),
        "priorities": rows,
        "allocation": {
            "mode": e.mode,
            "summary": e.summary,
            "requested_games_per_config": e.requested_games_per_config,
            "effective_games_per_config": e.effective_games_per_config,
            "throttle_multiplier": e.throttle_multiplier,
            "health_factor": e.health_factor,
            "requested_budget": e.requested_budget,
            "effective_budget": e.effective_budget,
            "total_games": result.total_games,
            "placed_games": result.placed_games,
            "unplaced_games": result.unplaced_games,
            "configs": [encode_value(c) for c in e.configs],
            "skipped": {str(k): v for k, v in e.skipped.items()},
            "unmet": [dict(encode_value(u), shortfall=u.shortfall) for u in e.unmet],
            "excluded_nodes": dict(e.excluded_nodes),
            "unplaced_reasons": {str(k): v for k, v in e.unplaced_reasons.items()},
            "nodes": node_rows,
        },
    }
    if replayed is not None:
        data["replays_identical"] = canonical_json(encode_value(replayed)) == canonical_json(
            encode_value(result)
        )
    return data
