"""Node and cluster events (events.md §3.16–§3.20, §3.22–§3.24)."""

from __future__ import annotations

from bisect import bisect_left
from operator import attrgetter
from types import MappingProxyType
from typing import Final

import attrs

from selfplay_core._reducing.common import UNCHANGED, Handler, Outcome, cluster_changed
from selfplay_core.cluster import NodeCapability, SpawnPause, cluster_health_factor
from selfplay_core.events import (
    BackpressureActivated,
    BackpressureReleased,
    HostOffline,
    NodeActivated,
    NodeOverloaded,
    NodeRecovered,
    NodeTerminated,
    NodeUnhealthy,
    P2PClusterHealthy,
    P2PClusterUnhealthy,
    P2PNodeDead,
    SpawningPaused,
    SpawningResumed,
)
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.state import SchedulerState, dict_copy

_node_id: Final = attrgetter("node_id")


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


def node_down(
    state: SchedulerState,
    event: NodeUnhealthy | P2PNodeDead | HostOffline | NodeTerminated,
    at: float,
    policy: SchedulerPolicy,
) -> Outcome:
    """NODE_UNHEALTHY, P2P_NODE_DEAD, HOST_OFFLINE, NODE_TERMINATED: unhealthy, load to 1.0."""
    node_id = event.node_id
    cluster = state.cluster
    nodes = cluster.nodes
    load = policy.events.unhealthy_node_load
    i = _position(nodes, node_id) if nodes else -1
    if i >= 0 and nodes[i].current_load != load:
        nodes = (*nodes[:i], attrs.evolve(nodes[i], current_load=load), *nodes[i + 1 :])
    unhealthy = cluster.unhealthy_nodes
    if node_id not in unhealthy:
        unhealthy = unhealthy | {node_id}
    if nodes is cluster.nodes and unhealthy is cluster.unhealthy_nodes:
        return UNCHANGED
    return cluster_changed(state, cluster.with_node_health(nodes, unhealthy))


def node_up(
    state: SchedulerState,
    event: NodeRecovered | NodeActivated,
    at: float,
    policy: SchedulerPolicy,
) -> Outcome:
    """NODE_RECOVERED, NODE_ACTIVATED: no longer unhealthy (its load waits for a refresh)."""
    unhealthy = state.cluster.unhealthy_nodes
    if event.node_id not in unhealthy:
        return UNCHANGED
    cluster = state.cluster.with_node_health(state.cluster.nodes, unhealthy - {event.node_id})
    return cluster_changed(state, cluster)


def cluster_unhealthy(
    state: SchedulerState, event: P2PClusterUnhealthy, at: float, policy: SchedulerPolicy
) -> Outcome:
    # [BUG] §8.7 fixed: the codec maps the counts publishers really send onto these fields.
    healthy = event.healthy_nodes or 0
    total = event.total_nodes or 0
    factor = cluster_health_factor(healthy, total, policy.allocation)
    if factor == state.cluster.health_factor:
        return UNCHANGED
    return cluster_changed(state, attrs.evolve(state.cluster, health_factor=factor))


def cluster_healthy(
    state: SchedulerState, event: P2PClusterHealthy, at: float, policy: SchedulerPolicy
) -> Outcome:
    cluster = state.cluster
    if cluster.health_factor == 1.0 and not cluster.unhealthy_nodes:
        return UNCHANGED
    cluster = attrs.evolve(cluster, health_factor=1.0, unhealthy_nodes=frozenset())
    return cluster_changed(state, cluster)


def backpressure_flag(active: bool) -> Handler:
    """BACKPRESSURE_ACTIVATED (`active`) and BACKPRESSURE_RELEASED: the reference's flag."""

    def backpressure(
        state: SchedulerState,
        event: BackpressureActivated | BackpressureReleased,
        at: float,
        policy: SchedulerPolicy,
    ) -> Outcome:
        if state.cluster.backpressure_active is active:
            return UNCHANGED
        cluster = attrs.evolve(state.cluster, backpressure_active=active)
        return cluster_changed(state, cluster)

    return backpressure


def spawning_paused(
    state: SchedulerState, event: SpawningPaused, at: float, policy: SchedulerPolicy
) -> Outcome:
    """`pause_spawning()` / `activate_backpressure(reason, duration)`: batches are empty until
    the pause ends. A pause that still holds and ends later (or never) is kept."""
    until = None if event.duration_seconds is None else at + event.duration_seconds
    held = state.cluster.spawn_pause
    lasts_longer = held is not None and (
        held.until is None or (until is not None and held.until >= until)
    )
    if held is not None and held.holds_at(at) and lasts_longer:
        return UNCHANGED
    pause = SpawnPause(event.reason, until)
    return cluster_changed(state, attrs.evolve(state.cluster, spawn_pause=pause))


def spawning_resumed(
    state: SchedulerState, event: SpawningResumed, at: float, policy: SchedulerPolicy
) -> Outcome:
    """`resume_spawning()`: any pause ends now."""
    if state.cluster.spawn_pause is None:
        return UNCHANGED
    return cluster_changed(state, attrs.evolve(state.cluster, spawn_pause=None))


def node_overloaded(
    state: SchedulerState, event: NodeOverloaded, at: float, policy: SchedulerPolicy
) -> Outcome:
    # Every entry is already after `at`: expired ones lapsed before the handler ran.
    until = at + policy.events.overload_backoff_seconds(event.resource_type)
    node_id = event.node_id
    overloaded = dict_copy(state.cluster.overloaded_until)
    if until <= at:  # a zero backoff: nothing to wait for
        if node_id not in overloaded:
            return UNCHANGED
        del overloaded[node_id]
    else:
        known = node_id in overloaded
        overloaded[node_id] = until  # overwrites any earlier entry, even a longer one
        if not known:
            overloaded = dict(sorted(overloaded.items()))  # keep node-id order
    cluster = attrs.evolve(state.cluster, overloaded_until=MappingProxyType(overloaded))
    return cluster_changed(state, cluster)
