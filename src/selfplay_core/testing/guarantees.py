"""The guarantees of one allocation batch, as a checker that raises `AssertionError`.

`check_batch` is what the property tests and the state machine call after every allocation;
call it on your own policy's results too.
"""

from __future__ import annotations

from collections.abc import Iterable

from selfplay_core.allocation.capacity import batch_cap, exclusion_reason, large_board_cap
from selfplay_core.allocation.configs import (
    batch_games_per_config,
    donor_keep,
    floor_games,
    four_player_minimum,
    select_configs,
    starvation_level,
    unique_priorities,
)
from selfplay_core.allocation.values import AllocationRequest, BatchAllocation
from selfplay_core.cluster import ClusterState
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.values import ConfigPriority


def effective_factor(cluster: ClusterState, policy: SchedulerPolicy) -> float:
    bp = cluster.backpressure
    m = 1.0 if bp is None else min(1.0, bp.spawn_rate_multiplier(policy.allocation.backpressure))
    return m * min(1.0, cluster.health_factor)


def check_batch(
    batch: BatchAllocation,
    priorities: Iterable[ConfigPriority],
    cluster: ClusterState,
    request: AllocationRequest,
    policy: SchedulerPolicy,
) -> None:
    """Assert every single-batch guarantee of `allocate` (see the README)."""
    unique = unique_priorities(priorities)
    a = policy.allocation
    chunk = a.min_games_per_allocation
    bp = cluster.backpressure
    if bp is not None and bp.should_pause(a.backpressure):
        assert batch.explanation.mode == "paused", "a pause must give a paused batch"
        assert batch.total_games == 0
        assert not batch.placements
        assert not batch.unplaced
        return
    # counts are positive integers; placed + unplaced == decided, per config
    for key, games in batch.games_by_config.items():
        assert isinstance(games, int), (key, games)
        assert games > 0, (key, games)
        placed = sum(batch.placements.get(key, {}).values())
        assert placed + batch.unplaced.get(key, 0) == games, (key, placed, games)
    assert set(batch.placements) <= set(batch.games_by_config)
    assert set(batch.unplaced) <= set(batch.games_by_config)
    for key, left in batch.unplaced.items():
        assert left > 0, key
        assert key in batch.explanation.unplaced_reasons, key
    # only eligible nodes; caps hold over the whole batch; MIN chunks
    by_id = {n.node_id: n for n in cluster.nodes}
    totals: dict[str, int] = {}
    large: dict[str, int] = {}
    for key, per_node in batch.placements.items():
        assert per_node, f"{key}: empty placement"
        for node_id, games in per_node.items():
            assert isinstance(games, int), (key, node_id, games)
            assert games > 0, (key, node_id, games)
            node = by_id[node_id]
            assert exclusion_reason(node, cluster, request.now, a) is None, node_id
            if batch.games_by_config[key] >= chunk:
                assert games >= chunk, (key, node_id, games)
            else:
                assert len(per_node) == 1, key
            totals[node_id] = totals.get(node_id, 0) + games
            if key.is_large_board:
                large[node_id] = large.get(node_id, 0) + games
    for node_id, total in totals.items():
        node = by_id[node_id]
        assert total <= batch_cap(node, a), (node_id, total, batch_cap(node, a))
        assert large.get(node_id, 0) <= large_board_cap(node, a), node_id
    # floors and 4p minimums: met by the placed games, or reported with the shortfall
    factor = effective_factor(cluster, policy)
    eligible, _ = select_configs(unique, request.max_configs)
    g = batch_games_per_config(
        unique, eligible, request.games_per_config, request.target_games, policy
    )
    g = g if factor >= 1 else int(g * factor)
    unmet = {(u.config_key, u.kind): u for u in batch.explanation.unmet}
    for key, p in unique.items():
        floor = floor_games(starvation_level(p.games_count, policy), g, policy)
        placed = sum(batch.placements.get(key, {}).values())
        if floor and placed < floor:
            u = unmet.get((key, "starvation_floor"))
            assert u is not None, (key, floor, placed)
            assert u.achieved == placed, (key, u)
            assert u.required == floor, (key, u)
        if request.target_games is None and floor:
            # reference mode decides every floor (it adds games); only placement can miss it
            assert batch.games_by_config.get(key, 0) >= floor, (key, floor)
    minimum = four_player_minimum(g, policy)
    for key in batch.games_by_config:
        if key.players != 4 or not minimum:
            continue
        placed = sum(batch.placements.get(key, {}).values())
        if placed < minimum:
            u = unmet.get((key, "4p_minimum"))
            assert u is not None, (key, minimum, placed)
            assert u.achieved == placed, (key, u)
    # donors keep their guard; a 4p minimum is missed only when no donor has surplus
    keep = donor_keep(g, policy)
    decisions = {d.config_key: d for d in batch.explanation.configs}
    for key, d in decisions.items():
        if d.donated:
            floor = floor_games(starvation_level(unique[key].games_count, policy), g, policy)
            assert d.games >= max(keep, floor), (key, d.games, keep, floor)
    if request.target_games is None and factor >= 1:
        short = [k for k, n in batch.games_by_config.items() if k.players == 4 and n < minimum]
        if short:
            for key, games in batch.games_by_config.items():
                if key.players == 2:
                    floor = floor_games(
                        starvation_level(unique[key].games_count, policy), g, policy
                    )
                    assert games <= max(keep, floor), (key, "had surplus", short)
    # budget mode shares out exactly the (throttled) budget whenever any config is in the batch
    if request.target_games is not None and batch.games_by_config:
        budget = request.target_games
        if factor < 1:
            budget = int(budget * factor)
        assert batch.total_games == budget, (batch.total_games, budget)
