"""Node and cluster events (events.md §3.16–§3.20, §3.22–§3.24)."""

from __future__ import annotations

from bisect import bisect_left
from operator import attrgetter
from types import MappingProxyType
from typing import Any, Final

from selfplay_core._reducing.build import cluster_facts, node_with_load
from selfplay_core._reducing.common import (
    Handler,
    Out,
    cluster_out,
    next_expiry_of,
    replace_cluster,
    sooner,
    thaw,
)
from selfplay_core.cluster import NodeCapability, SpawnPause, cluster_health_factor
from selfplay_core.events import (
    NodeOverloaded,
    P2PClusterHealthy,
    P2PClusterUnhealthy,
    SpawningPaused,
    SpawningResumed,
)
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.state import (
    SchedulerState,
)

_node_id: Final = attrgetter("node_id")

# --- node and cluster events (§3.16–§3.20, §3.22–§3.24) --------------------------------------


def _position(nodes: tuple[NodeCapability, ...], node_id: str) -> int:
    """Index of the node `node_id` in `nodes`, or -1. `nodes` are one per id in id order (a
    state invariant), so a binary search finds it; a miss is confirmed by a plain scan."""
    i = bisect_left(nodes, node_id, key=_node_id)
    if i < len(nodes) and nodes[i].node_id == node_id:
        return i
    for j, node in enumerate(nodes):
        if node.node_id == node_id:
            return j
    return -1


def node_down(s: SchedulerState, e: Any, now: float, p: SchedulerPolicy) -> Out | None:
    """NODE_UNHEALTHY, P2P_NODE_DEAD, HOST_OFFLINE, NODE_TERMINATED: unhealthy, load to 1.0."""
    node_id: str = e.node_id
    cluster = s.cluster
    nodes = cluster.nodes
    load = p.events.unhealthy_node_load
    i = _position(nodes, node_id) if nodes else -1
    if i >= 0 and nodes[i].current_load != load:
        nodes = (*nodes[:i], node_with_load(nodes[i], load), *nodes[i + 1 :])
    unhealthy = cluster.unhealthy_nodes
    if node_id not in unhealthy:
        unhealthy = unhealthy | {node_id}
    if nodes is cluster.nodes and unhealthy is cluster.unhealthy_nodes:
        return None  # only the bookkeeping changes
    new = cluster_facts(
        nodes,
        unhealthy,
        cluster.overloaded_until,
        cluster.health_factor,
        cluster.backpressure,
        cluster.backpressure_active,
        cluster.training_queue_depth,
        cluster.spawn_pause,
    )
    return (s.configs, new, s.books, s.ledger.next_expiry_at, ())


def node_up(s: SchedulerState, e: Any, now: float, p: SchedulerPolicy) -> Out | None:
    """NODE_RECOVERED, NODE_ACTIVATED: no longer unhealthy (its load waits for a refresh)."""
    cluster = s.cluster
    unhealthy = cluster.unhealthy_nodes
    if e.node_id not in unhealthy:
        return None  # only the bookkeeping changes
    new = cluster_facts(
        cluster.nodes,
        unhealthy - {e.node_id},
        cluster.overloaded_until,
        cluster.health_factor,
        cluster.backpressure,
        cluster.backpressure_active,
        cluster.training_queue_depth,
        cluster.spawn_pause,
    )
    return (s.configs, new, s.books, s.ledger.next_expiry_at, ())


def cluster_unhealthy(
    s: SchedulerState, e: P2PClusterUnhealthy, now: float, p: SchedulerPolicy
) -> Out | None:
    # [BUG] §8.7 fixed: the codec maps the counts publishers really send onto these fields.
    healthy = e.healthy_nodes or 0
    total = e.total_nodes or 0
    factor = cluster_health_factor(healthy, total, p.allocation)
    if factor == s.cluster.health_factor:
        return None  # only the bookkeeping changes
    return cluster_out(s, replace_cluster(s.cluster, health=factor), s.ledger.next_expiry_at)


def cluster_healthy(
    s: SchedulerState, e: P2PClusterHealthy, now: float, p: SchedulerPolicy
) -> Out | None:
    cluster = s.cluster
    if cluster.health_factor == 1.0 and not cluster.unhealthy_nodes:
        return None  # only the bookkeeping changes
    new = replace_cluster(cluster, health=1.0, unhealthy=frozenset())
    return cluster_out(s, new, s.ledger.next_expiry_at)


def backpressure_flag(active: bool) -> Handler:
    def handle(s: SchedulerState, e: Any, now: float, p: SchedulerPolicy) -> Out | None:
        if s.cluster.backpressure_active is active:
            return None  # only the bookkeeping changes
        new = replace_cluster(s.cluster, backpressure_active=active)
        return cluster_out(s, new, s.ledger.next_expiry_at)

    return handle


def spawning_paused(
    s: SchedulerState, e: SpawningPaused, now: float, p: SchedulerPolicy
) -> Out | None:
    """`pause_spawning()` / `activate_backpressure(reason, duration)`: batches are empty until
    the pause ends. A pause that still holds and ends later (or never) is kept."""
    until = None if e.duration_seconds is None else now + e.duration_seconds
    held = s.cluster.spawn_pause
    lasts_longer = held is not None and (
        held.until is None or (until is not None and held.until >= until)
    )
    if held is not None and held.holds_at(now) and lasts_longer:
        return None  # only the bookkeeping changes
    new = replace_cluster(s.cluster, spawn_pause=SpawnPause(e.reason, until))
    return cluster_out(s, new, s.ledger.next_expiry_at)


def spawning_resumed(
    s: SchedulerState, e: SpawningResumed, now: float, p: SchedulerPolicy
) -> Out | None:
    """`resume_spawning()`: any pause ends now."""
    if s.cluster.spawn_pause is None:
        return None  # only the bookkeeping changes
    new = replace_cluster(s.cluster, spawn_pause=None)
    return cluster_out(s, new, s.ledger.next_expiry_at)


def node_overloaded(
    s: SchedulerState, e: NodeOverloaded, now: float, p: SchedulerPolicy
) -> Out | None:
    # Every entry is already after `now`: expired ones lapsed before the handler ran.
    until = now + p.events.overload_backoff_seconds(e.resource_type)
    node_id = e.node_id
    before = s.cluster.overloaded_until
    overloaded = thaw(before)
    if until <= now:  # a zero backoff: nothing to wait for
        if node_id not in overloaded:
            return None  # only the bookkeeping changes
        del overloaded[node_id]
        next_expiry = next_expiry_of(s.configs, overloaded)
    else:
        previous = overloaded.get(node_id)
        overloaded[node_id] = until  # overwrites any earlier entry, even a longer one
        if previous is None:
            overloaded = dict(sorted(overloaded.items()))  # keep node-id order
        if previous is not None and previous == s.ledger.next_expiry_at:
            next_expiry = next_expiry_of(s.configs, overloaded)
        else:
            next_expiry = sooner(s.ledger.next_expiry_at, until)
    cluster = replace_cluster(s.cluster, overloaded=MappingProxyType(overloaded))
    return cluster_out(s, cluster, next_expiry)
