"""Games → nodes (§placement), with caps that hold for the whole batch.

Each config in turn (the caller's order) is spread over the eligible nodes that still have room,
in proportion to their available capacity, in chunks of at least MIN games (a config whose whole
total is below MIN gets one entry). A node's games over all configs stay ≤ its CAP (≤ ⌊1.5·CAP⌋
on an ephemeral node, of which large-board games ≤ ⌊0.5·CAP⌋). What no node can take is
reported per config with the reason, never dropped.

Data layout: the eligible nodes are sorted once per call into parallel lists of plain numbers
(capacity, caps, room left); each config's entries are one dict node index → games; the frozen
values are built once, at the end. A node whose room reaches 0 never reopens, so each config
scans only the nodes that still have room. Cost: O(nodes) per config.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import attrs

from selfplay_core.allocation.capacity import (
    GpuCaps,
    available_capacity,
    exclusion_reason,
    gpu_caps,
)
from selfplay_core.allocation.values import NodeAllocation, Placement, canonical
from selfplay_core.allocation_policy import AllocationPolicy
from selfplay_core.cluster import ClusterState
from selfplay_core.configs import ConfigKey
from selfplay_core.policy import SchedulerPolicy

_DEFAULT_POLICY = SchedulerPolicy()


class _Nodes:
    """The eligible nodes, sorted once in placement order, as parallel lists of plain numbers
    (cheap to scan), with the room each still has in this batch."""

    def __init__(self, cluster: ClusterState, now: float, policy: AllocationPolicy) -> None:
        self.excluded: dict[str, str] = {}
        tables: dict[str, GpuCaps] = {}  # gpu_type → its caps, looked up once per call
        eligible: list[tuple[float, float, str, bool, int, int]] = []
        for node in cluster.nodes:
            caps = tables.get(node.gpu_type)
            if caps is None:
                caps = tables[node.gpu_type] = gpu_caps(node.gpu_type, policy)
            eph = node.is_ephemeral
            capacity = available_capacity(node, policy, caps)
            cap = caps.batch_cap(eph)
            why = exclusion_reason(node, cluster, now, policy, capacity=capacity, cap=cap)
            if why is not None:
                self.excluded[node.node_id] = why
                continue
            large_cap = caps.large_board_cap(eph)
            eligible.append((-capacity, node.data_lag_seconds, node.node_id, eph, cap, large_cap))
        # reference sort: most available capacity first, then least data lag; then node id
        eligible.sort()
        columns = tuple(zip(*eligible, strict=True)) or ((),) * 6
        self.ids: tuple[str, ...] = columns[2]
        self.capacity: list[float] = [-c for c in columns[0]]
        self.ephemeral: tuple[bool, ...] = columns[3]
        self.cap: tuple[int, ...] = columns[4]
        # on a non-ephemeral node the whole cap (one budget for every board)
        self.large_cap: tuple[int, ...] = columns[5]
        self.room = list(self.cap)  # games this batch may still put on the node
        # large-board games it may still take: min(room, large-board cap − its large games)
        self.large_room = list(map(min, self.cap, self.large_cap))
        self._open = list(range(len(eligible)))
        self._filled = False  # whether a node has run out of room since `_open` was made

    def open_nodes(self) -> list[int]:
        """The nodes with room left, in placement order (room only shrinks, so this list does;
        it is filtered again only after some node has filled)."""
        if self._filled:
            room = self.room
            self._open = [i for i in self._open if room[i] > 0]
            self._filled = False
        return self._open

    def free(self, large: bool) -> list[int]:
        """What each node may still take of a demand (large board or not)."""
        return self.large_room if large else self.room

    def put(self, i: int, large: bool, games: int) -> None:
        room = self.room[i] - games
        self.room[i] = room
        if room <= 0:
            self._filled = True
        if large:
            self.large_room[i] -= games
        elif room < self.large_room[i]:
            # small games leave a large-board cap untouched (ephemeral node) but not the room
            self.large_room[i] = room


def _no_room(nodes: _Nodes, need: int) -> str:
    if not nodes.ids:
        return "no eligible node"
    return f"node caps exhausted: no eligible node has room for {need} more games"


def _place_demand(
    nodes: _Nodes,
    large: bool,
    amount: int,
    whole: int,
    placed: dict[int, int],
    policy: AllocationPolicy,
) -> tuple[int, str]:
    """Place `amount` more games of a demand whose whole total is `whole` (its entries so far in
    `placed`, updated in place); returns (games left unplaced, reason)."""
    chunk = policy.min_games_per_allocation
    need = min(chunk, whole)
    free = nodes.free(large)
    open_nodes = nodes.open_nodes()
    if whole < chunk and not placed:
        # the whole config is one small entry, on the first node with room for it
        for i in open_nodes:
            if free[i] >= amount:
                nodes.put(i, large, amount)
                placed[i] = amount
                return 0, ""
        return amount, _no_room(nodes, need)
    # a node takes a new entry only with room for a chunk, an entry it holds grows by any amount
    candidates = [i for i in open_nodes if free[i] >= (1 if i in placed else need)]
    if not candidates:
        return amount, _no_room(nodes, need)
    remaining = _spread(nodes, large, amount, candidates, placed, policy)
    if remaining > 0:
        remaining = _top_up(nodes, large, placed, candidates, remaining, chunk)
    if remaining == 0:
        return 0, ""
    if remaining < chunk:
        return remaining, (
            f"{remaining} games left: below the {chunk}-game chunk and no node with room"
        )
    return remaining, "node caps exhausted"


def _spread(
    nodes: _Nodes,
    large: bool,
    amount: int,
    candidates: Sequence[int],
    placed: dict[int, int],
    policy: AllocationPolicy,
) -> int:
    """First pass: each candidate in order takes its capacity's share of `amount` (at least a
    chunk, ×1.5 or ×0.5 on an ephemeral node) as far as its room allows; returns what is left."""
    chunk = policy.min_games_per_allocation
    free, ephemeral = nodes.free(large), nodes.ephemeral
    capacity = nodes.capacity
    cap_sum = math.fsum(map(capacity.__getitem__, candidates))
    eph_factor = policy.ephemeral_long_factor if large else policy.ephemeral_short_factor
    floor = math.floor
    remaining = amount
    for i in candidates:
        if remaining <= 0:
            break
        # each share when its node is reached: a demand met by the first few of 10,000 nodes
        # does not pay for the other shares
        share = int(amount * (capacity[i] / cap_sum))
        if share < chunk:
            share = chunk
        if ephemeral[i]:
            share = floor(share * eph_factor)
        room = free[i]
        g = min(share, room, remaining)
        held = i in placed
        if g <= 0 or (g < chunk and not held):
            continue
        left = remaining - g
        if 0 < left < chunk:
            # never leave a remainder smaller than a chunk: take it all, or leave one chunk
            if room >= remaining:
                g = remaining
            elif remaining - chunk >= chunk or (held and remaining > chunk):
                g = remaining - chunk
            else:
                continue
        nodes.put(i, large, g)
        placed[i] = placed[i] + g if held else g
        remaining -= g
    return remaining


def _top_up(
    nodes: _Nodes,
    large: bool,
    placed: dict[int, int],
    candidates: Sequence[int],
    remaining: int,
    chunk: int,
) -> int:
    """Second pass: grow this demand's entries (in placement order), then open new entries of
    ≥ one chunk.

    Each node this pass gives games to is then full for this demand (it took all its room) or
    nothing is left, so growing the entries again afterwards would find no room: two passes."""
    free = nodes.free(large)
    held = [i for i in candidates if i in placed and free[i] > 0]
    fresh = [i for i in candidates if i not in placed and free[i] >= chunk]
    for i in held:
        g = min(free[i], remaining)
        nodes.put(i, large, g)
        placed[i] += g
        remaining -= g
        if remaining <= 0:
            return 0
    for i in fresh:
        g = min(free[i], remaining)
        if g < chunk:
            continue
        nodes.put(i, large, g)
        placed[i] = g
        remaining -= g
        if remaining <= 0:
            return 0
    return remaining


def place_demands(
    totals: Sequence[int],
    large: Sequence[bool],
    nodes: _Nodes,
    policy: AllocationPolicy,
) -> tuple[list[dict[int, int]], list[int], dict[int, str]]:
    """Place demand j (`totals[j]` games, large board or not) in order j = 0, 1, …; returns per
    demand the node index → games, the games left unplaced, and the reasons.

    When the demands need more than the nodes' caps allow, a first round places each demand's
    proportional part of the capacity (at least one chunk), so an early demand cannot take
    every node; a second round then places what is left, in order."""
    chunk = policy.min_games_per_allocation
    demand = sum(totals)
    capacity = sum(nodes.cap)
    placed: list[dict[int, int]] = [{} for _ in totals]
    left = list(totals)
    reasons: dict[int, str] = {}
    rounds: list[list[int]] = []
    if demand > capacity > 0:
        ratio = capacity / demand
        rounds.append([min(n, max(chunk, int(n * ratio))) for n in totals])
    rounds.append(left)
    for targets in rounds:
        for j, whole in enumerate(totals):
            amount = min(targets[j], left[j])
            if amount <= 0:
                continue
            rest, reason = _place_demand(nodes, large[j], amount, whole, placed[j], policy)
            left[j] -= amount - rest
            if rest:
                reasons[j] = reason
    return placed, left, reasons


@attrs.frozen
class RawPlacement:
    """`Placement`'s content as plain dicts, already in the frozen values' order (internal:
    `allocate` freezes it once, in the batch)."""

    placements: dict[ConfigKey, dict[str, int]]
    unplaced: dict[ConfigKey, int]
    unplaced_reasons: dict[ConfigKey, str]
    nodes: tuple[NodeAllocation, ...]
    excluded_nodes: dict[str, str]


def place_raw(
    games_by_config: Mapping[ConfigKey, int],
    cluster: ClusterState,
    policy: AllocationPolicy,
    *,
    now: float = 0.0,
    order: Iterable[ConfigKey] | None = None,
) -> RawPlacement:
    """Place every config's games (in `order`, default canonical) on the cluster's nodes."""
    nodes = _Nodes(cluster, now, policy)
    sequence = [k for k in _order(games_by_config, order) if games_by_config[k] > 0]
    totals = [games_by_config[k] for k in sequence]
    placed, left, reasons = place_demands(
        totals, [k.is_large_board for k in sequence], nodes, policy
    )
    ids = nodes.ids
    by_id = sorted(range(len(ids)), key=ids.__getitem__)  # node indices in node-id order
    id_rank = [0] * len(ids)
    for r, i in enumerate(by_id):
        id_rank[i] = r
    # per config: node id → games (node-id order); per node: config → games (canonical order)
    placements: dict[ConfigKey, dict[str, int]] = {}
    per_node: list[dict[ConfigKey, int]] = [{} for _ in ids]
    unplaced: dict[ConfigKey, int] = {}
    unplaced_reasons: dict[ConfigKey, str] = {}
    for j in sorted(range(len(sequence)), key=lambda j: sequence[j].index):
        key, entries = sequence[j], placed[j]
        if entries:
            placements[key] = {ids[i]: entries[i] for i in sorted(entries, key=id_rank.__getitem__)}
            for i, games in entries.items():
                per_node[i][key] = games
        if left[j] > 0:
            unplaced[key] = left[j]
            unplaced_reasons[key] = reasons[j]
    cap, large_cap = nodes.cap, nodes.large_cap
    return RawPlacement(
        placements,
        unplaced,
        unplaced_reasons,
        tuple(
            NodeAllocation(ids[i], per_node[i], cap[i], large_cap[i]) for i in by_id if per_node[i]
        ),
        nodes.excluded,
    )


def place(
    games_by_config: Mapping[ConfigKey, int],
    cluster: ClusterState,
    policy: AllocationPolicy,
    *,
    now: float = 0.0,
    order: Iterable[ConfigKey] | None = None,
) -> Placement:
    """Place every config's games (in `order`, default canonical) on the cluster's nodes."""
    raw = place_raw(games_by_config, cluster, policy, now=now, order=order)
    return Placement(
        raw.placements, raw.unplaced, raw.unplaced_reasons, raw.nodes, raw.excluded_nodes
    )


def _order(games: Mapping[ConfigKey, int], order: Iterable[ConfigKey] | None) -> list[ConfigKey]:
    seen: set[ConfigKey] = set()
    sequence: list[ConfigKey] = []
    for key in order or ():
        if key in games and key not in seen:
            seen.add(key)
            sequence.append(key)
    sequence.extend(canonical(k for k in games if k not in seen))
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
