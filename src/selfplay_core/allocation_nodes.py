"""Games → nodes (allocation.md §5), with caps that hold for the whole batch.

Each config in turn (the caller's order) is spread over the eligible nodes that still have room,
in proportion to their available capacity, in chunks of at least MIN games (a config whose whole
total is below MIN gets one entry). A node's games over all configs stay ≤ its CAP (≤ ⌊1.5·CAP⌋
on an ephemeral node, of which large-board games ≤ ⌊0.5·CAP⌋). What no node can take is
reported per config with the reason, never dropped. Cost: O(nodes) per config.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from selfplay_core.allocation_policy import AllocationPolicy
from selfplay_core.allocation_values import NodeAllocation, Placement
from selfplay_core.cluster import ClusterState
from selfplay_core.configs import ConfigKey
from selfplay_core.node_capacity import exclusion_reason, gpu_row
from selfplay_core.policy import SchedulerPolicy

_DEFAULT_POLICY = SchedulerPolicy()


class _Nodes:
    """The eligible nodes, in placement order, as parallel lists (cheap to scan)."""

    def __init__(self, cluster: ClusterState, now: float, policy: AllocationPolicy) -> None:
        self.excluded: dict[str, str] = {}
        tables: dict[str, tuple[float, int]] = {}  # gpu_type → (weight, CAP), looked up once
        eligible: list[tuple[float, float, str, bool, int]] = []
        for node in cluster.nodes:
            table = tables.get(node.gpu_type)
            if table is None:
                row = gpu_row(node.gpu_type, policy)
                weight = policy.gpu_weights.get(row, policy.default_gpu_weight) if row else None
                cap = policy.games_per_node.get(row, policy.default_games_per_node) if row else None
                table = tables[node.gpu_type] = (
                    policy.default_gpu_weight if weight is None else weight,
                    policy.default_games_per_node if cap is None else cap,
                )
            capacity = max(0.0, 1.0 - node.current_load) * table[0]
            eph = node.is_ephemeral
            batch = math.floor(table[1] * policy.ephemeral_short_factor) if eph else table[1]
            reason = exclusion_reason(node, cluster, now, policy, capacity=capacity, cap=batch)
            if reason is not None:
                self.excluded[node.node_id] = reason
                continue
            eligible.append((-capacity, node.data_lag_seconds, node.node_id, eph, table[1]))
        # reference sort: most available capacity first, then least data lag; then node id
        eligible.sort()
        self.ids = [e[2] for e in eligible]
        self.capacity = [-e[0] for e in eligible]
        self.ephemeral = [e[3] for e in eligible]
        self.cap = [
            math.floor(e[4] * policy.ephemeral_short_factor) if e[3] else e[4] for e in eligible
        ]
        self.large_cap = [
            math.floor(e[4] * policy.ephemeral_long_factor) if e[3] else e[4] for e in eligible
        ]
        self.used = [0] * len(eligible)
        self.used_large = [0] * len(eligible)
        self.games: list[dict[ConfigKey, int]] = [{} for _ in eligible]

    def room(self, i: int, large: bool) -> int:
        room = self.cap[i] - self.used[i]
        if large:
            room = min(room, self.large_cap[i] - self.used_large[i])
        return room

    def put(self, i: int, key: ConfigKey, games: int) -> None:
        self.used[i] += games
        if key.is_large_board:
            self.used_large[i] += games
        self.games[i][key] = self.games[i].get(key, 0) + games


def _place_config(
    nodes: _Nodes,
    key: ConfigKey,
    amount: int,
    whole: int,
    placed: dict[int, int],
    policy: AllocationPolicy,
) -> tuple[int, str]:
    """Place `amount` more games of a config whose whole total is `whole` (its entries so far in
    `placed`, updated in place); returns (games left unplaced, reason)."""
    chunk = policy.min_games_per_allocation
    large = key.is_large_board
    need = min(chunk, whole)
    candidates = [
        i for i in range(len(nodes.ids)) if nodes.room(i, large) >= (1 if i in placed else need)
    ]
    if not candidates:
        if not nodes.ids:
            return amount, "no eligible node"
        return amount, f"node caps exhausted: no eligible node has room for {need} more games"
    remaining = amount
    if whole < chunk and not placed:
        # the whole config is one small entry, on the first node with room for it
        i = candidates[0]
        nodes.put(i, key, amount)
        placed[i] = amount
        return 0, ""
    cap_sum = math.fsum(nodes.capacity[i] for i in candidates)
    factor_short, factor_long = policy.ephemeral_short_factor, policy.ephemeral_long_factor
    for i in candidates:
        if remaining <= 0:
            break
        share = max(chunk, int(amount * (nodes.capacity[i] / cap_sum)))
        if nodes.ephemeral[i]:
            share = math.floor(share * (factor_long if large else factor_short))
        room = nodes.room(i, large)
        g = min(share, room, remaining)
        if g <= 0 or (g < chunk and i not in placed):
            continue
        left = remaining - g
        if 0 < left < chunk:
            # never leave a remainder smaller than a chunk: take it all, or leave one chunk
            if room >= remaining:
                g = remaining
            elif remaining - chunk >= chunk or (i in placed and remaining > chunk):
                g = remaining - chunk
            else:
                continue
        nodes.put(i, key, g)
        placed[i] = placed.get(i, 0) + g
        remaining -= g
    if remaining > 0:
        remaining = _top_up(nodes, key, placed, candidates, remaining, large, chunk)
    if remaining == 0:
        return 0, ""
    if remaining < chunk:
        return remaining, (
            f"{remaining} games left: below the {chunk}-game chunk and no node with room"
        )
    return remaining, "node caps exhausted"


def _top_up(
    nodes: _Nodes,
    key: ConfigKey,
    placed: dict[int, int],
    candidates: Sequence[int],
    remaining: int,
    large: bool,
    chunk: int,
) -> int:
    """Second pass: grow this config's entries, then open new entries of ≥ one chunk."""
    for new_entries in (False, True, False):
        for i in candidates:
            if remaining <= 0:
                return 0
            has_entry = i in placed
            if has_entry == new_entries:
                continue
            g = min(nodes.room(i, large), remaining)
            if g <= 0 or (new_entries and g < chunk):
                continue
            nodes.put(i, key, g)
            placed[i] = placed.get(i, 0) + g
            remaining -= g
    return remaining


def place(
    games_by_config: Mapping[ConfigKey, int],
    cluster: ClusterState,
    policy: AllocationPolicy,
    *,
    now: float = 0.0,
    order: Iterable[ConfigKey] | None = None,
) -> Placement:
    """Place every config's games (in `order`, default canonical) on the cluster's nodes.

    When the batch needs more than the nodes' caps allow, a first round places each config's
    proportional part of the capacity (at least one chunk), so an early config cannot take every
    node; a second round then places what is left, in order."""
    nodes = _Nodes(cluster, now, policy)
    sequence = [k for k in _order(games_by_config, order) if games_by_config[k] > 0]
    demand = sum(games_by_config[k] for k in sequence)
    capacity = sum(nodes.cap)
    chunk = policy.min_games_per_allocation
    placed: dict[ConfigKey, dict[int, int]] = {k: {} for k in sequence}
    left = {k: games_by_config[k] for k in sequence}
    reasons: dict[ConfigKey, str] = {}
    rounds: list[dict[ConfigKey, int]] = []
    if demand > capacity > 0:
        ratio = capacity / demand
        rounds.append({k: min(left[k], max(chunk, int(left[k] * ratio))) for k in sequence})
    rounds.append(left)
    for targets in rounds:
        for key in sequence:
            amount = min(targets[key], left[key])
            if amount <= 0:
                continue
            rest, reason = _place_config(
                nodes, key, amount, games_by_config[key], placed[key], policy
            )
            left[key] -= amount - rest
            if rest:
                reasons[key] = reason
    unplaced = {k: n for k, n in left.items() if n > 0}
    node_allocs = tuple(
        NodeAllocation(nodes.ids[i], nodes.games[i], nodes.cap[i], nodes.large_cap[i])
        for i in sorted(range(len(nodes.ids)), key=lambda i: nodes.ids[i])
        if nodes.used[i] > 0
    )
    return Placement(
        {k: {nodes.ids[i]: g for i, g in per.items()} for k, per in placed.items() if per},
        unplaced,
        {k: reasons[k] for k in unplaced},
        node_allocs,
        nodes.excluded,
    )


def _order(games: Mapping[ConfigKey, int], order: Iterable[ConfigKey] | None) -> list[ConfigKey]:
    seen: set[ConfigKey] = set()
    sequence: list[ConfigKey] = []
    for key in order or ():
        if key in games and key not in seen:
            seen.add(key)
            sequence.append(key)
    sequence.extend(sorted(k for k in games if k not in seen))
    return sequence


def allocate_to_nodes(
    games_by_config: Mapping[ConfigKey, int],
    cluster: ClusterState,
    policy: SchedulerPolicy | AllocationPolicy = _DEFAULT_POLICY,
    *,
    now: float = 0.0,
    order: Iterable[ConfigKey] | None = None,
) -> Placement:
    """Place per-config totals on nodes; see the module docstring for the rules."""
    alloc = policy.allocation if isinstance(policy, SchedulerPolicy) else policy
    return place(games_by_config, cluster, alloc, now=now, order=order)
