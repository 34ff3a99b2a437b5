"""Derived node facts: GPU-table row, capacity weight, available capacity, batch caps, eligibility.

`NodeCapability` stays plain data; these functions read the tables of an `AllocationPolicy`.
The reference looked GPU names up as exact, case-sensitive keys, so "GH200 (96 GB)" or
"H100 SXM" fell back to weight 1.0 and cap 500 (§placement); `gpu_row` normalises them.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Final, NamedTuple

from selfplay_core.allocation_policy import AllocationPolicy
from selfplay_core.cluster import ClusterState, NodeCapability

_NON_ALNUM: Final = re.compile(r"[^0-9A-Z]+")


def _normalise(name: str) -> str:
    return _NON_ALNUM.sub(" ", name.upper()).strip()


def gpu_row(gpu_type: str, policy: AllocationPolicy) -> str | None:
    """The GPU-table row for a free-text GPU name, or None (then the defaults apply).

    Exact key first (the reference's lookup), then the same key ignoring case and punctuation
    ("rtx 4090" → RTX_4090), then the longest alias pattern whose tokens all occur in the name.
    """
    if gpu_type in policy.gpu_weights or gpu_type in policy.games_per_node:
        return gpu_type
    rows = tuple(sorted(set(policy.gpu_weights) | set(policy.games_per_node)))
    return _matching_row(gpu_type, rows, tuple(policy.gpu_aliases.items()))


@functools.lru_cache(maxsize=4096)
def _matching_row(
    gpu_type: str, rows: tuple[str, ...], aliases: tuple[tuple[str, str], ...]
) -> str | None:
    """Memoised (a pure function of its arguments): free-text names repeat across nodes."""
    name = _normalise(gpu_type)
    if not name:
        return None
    for row in rows:
        if _normalise(row) == name:
            return row
    best: tuple[int, int, str] | None = None
    target: str | None = None
    for pattern, row in aliases:
        tokens = _normalise(pattern).split()
        if tokens and all(token in name for token in tokens):
            # longest pattern wins; ties: more tokens, then the pattern text (deterministic)
            rank = (-sum(map(len, tokens)), -len(tokens), pattern)
            if best is None or rank < best:
                best, target = rank, row
    return target


class GpuCaps(NamedTuple):
    """What a GPU name gives a node: its capacity weight and its caps per batch. CAP on a
    node that stays; ⌊1.5·CAP⌋ on an ephemeral (spot) node, of which large-board games
    ⌊0.5·CAP⌋ (§placement). The one place the GPU tables and the ephemeral factors are read."""

    weight: float
    cap: int
    ephemeral_cap: int
    ephemeral_large_cap: int

    def batch_cap(self, ephemeral: bool) -> int:
        """All games of one batch on a node of this GPU."""
        return self.ephemeral_cap if ephemeral else self.cap

    def large_board_cap(self, ephemeral: bool) -> int:
        """Large-board (square19, hexagonal) games of one batch on a node of this GPU."""
        return self.ephemeral_large_cap if ephemeral else self.cap


def gpu_caps(gpu_type: str, policy: AllocationPolicy) -> GpuCaps:
    """The weight and caps of a free-text GPU name (the defaults when no row matches)."""
    row = gpu_row(gpu_type, policy)
    if row is None:
        weight, cap = policy.default_gpu_weight, policy.default_games_per_node
    else:
        weight = policy.gpu_weights.get(row, policy.default_gpu_weight)
        cap = policy.games_per_node.get(row, policy.default_games_per_node)
    return GpuCaps(
        weight,
        cap,
        math.floor(cap * policy.ephemeral_short_factor),
        math.floor(cap * policy.ephemeral_long_factor),
    )


def capacity_weight(node: NodeCapability, policy: AllocationPolicy) -> float:
    return gpu_caps(node.gpu_type, policy).weight


def games_cap(node: NodeCapability, policy: AllocationPolicy) -> int:
    """CAP(gpu): the most games one batch may put on a (non-ephemeral) node."""
    return gpu_caps(node.gpu_type, policy).cap


def available_capacity(
    node: NodeCapability, policy: AllocationPolicy, caps: GpuCaps | None = None
) -> float:
    """max(0, 1 − load) × weight (a negative load gives more than the weight, as upstream);
    `caps` may be passed in when the caller has the node's GPU caps."""
    weight = (gpu_caps(node.gpu_type, policy) if caps is None else caps).weight
    return max(0.0, 1.0 - node.current_load) * weight


def batch_cap(node: NodeCapability, policy: AllocationPolicy) -> int:
    """All games of one batch on this node: CAP, or ⌊1.5·CAP⌋ on an ephemeral node."""
    return gpu_caps(node.gpu_type, policy).batch_cap(node.is_ephemeral)


def large_board_cap(node: NodeCapability, policy: AllocationPolicy) -> int:
    """Large-board (square19, hexagonal) games of one batch: ⌊0.5·CAP⌋ on an ephemeral node."""
    return gpu_caps(node.gpu_type, policy).large_board_cap(node.is_ephemeral)


def is_ephemeral_node_id(node_id: str, policy: AllocationPolicy) -> bool:
    """thresholds.py `is_ephemeral_node`: the lower-cased id contains a spot-market marker."""
    lowered = node_id.lower()
    return any(marker in lowered for marker in policy.ephemeral_id_markers)


def exclusion_reason(
    node: NodeCapability,
    cluster: ClusterState,
    now: float,
    policy: AllocationPolicy,
    *,
    capacity: float | None = None,
    cap: int | None = None,
) -> str | None:
    """Why this node may take no games now, or None when it is eligible (`capacity` and `cap`
    may be passed in when the caller has them)."""
    if node.node_id in cluster.unhealthy_nodes:
        return "unhealthy"
    until = cluster.overloaded_until.get(node.node_id)
    if until is not None and until > now:
        return f"overload backoff until {until!r}"
    if capacity is None:
        capacity = available_capacity(node, policy)
    if not capacity > policy.capacity_threshold:
        return f"available capacity {capacity!r} ≤ {policy.capacity_threshold!r}"
    if (batch_cap(node, policy) if cap is None else cap) <= 0:
        return "games cap is 0"
    return None
