"""Node and cluster events (§nodes)."""

from __future__ import annotations

import pytest
from _reducer_support import T0, fresh, run, step

from selfplay_core.cluster import NodeCapability
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
    SourcesRefreshed,
    Tick,
)
from selfplay_core.state import SchedulerState, cluster_state


def with_nodes(*ids: str) -> SchedulerState:
    nodes = tuple(NodeCapability(node_id, "H100", 80.0, current_load=0.2) for node_id in ids)
    return step(fresh(), SourcesRefreshed(nodes=nodes), at=T0 - 10).state


@pytest.mark.parametrize("event_class", [NodeUnhealthy, P2PNodeDead, HostOffline, NodeTerminated])
def test_node_down_marks_unhealthy_and_load_one(event_class: type) -> None:
    state = step(with_nodes("a", "b"), event_class(node_id="a")).state
    assert state.cluster.unhealthy_nodes == frozenset({"a"})
    loads = {node.node_id: node.current_load for node in state.cluster.nodes}
    assert loads == {"a": 1.0, "b": 0.2}


def test_node_down_for_an_unknown_node_only_marks_it() -> None:
    state = step(with_nodes("a"), NodeUnhealthy(node_id="zz")).state
    assert state.cluster.unhealthy_nodes == frozenset({"zz"})
    assert state.cluster.nodes == with_nodes("a").cluster.nodes


@pytest.mark.parametrize("event_class", [NodeRecovered, NodeActivated])
def test_node_up_clears_unhealthy_but_not_load(event_class: type) -> None:
    """[INCONSISTENT] deviations.md kept: the load stays 1.0 until the next node refresh."""
    state = run(with_nodes("a"), NodeUnhealthy(node_id="a"), event_class(node_id="a"))
    assert state.cluster.unhealthy_nodes == frozenset()
    assert state.cluster.nodes[0].current_load == 1.0
    refreshed = step(
        state, SourcesRefreshed(nodes=(NodeCapability("a", current_load=0.3),)), at=T0 + 5
    ).state
    assert refreshed.cluster.nodes[0].current_load == 0.3


def test_node_refresh_keeps_unhealthy_membership() -> None:
    state = step(with_nodes("a"), NodeUnhealthy(node_id="a")).state
    refreshed = step(state, SourcesRefreshed(nodes=(NodeCapability("a"),)), at=T0 + 1).state
    assert refreshed.cluster.unhealthy_nodes == frozenset({"a"})


@pytest.mark.parametrize(
    ("healthy", "total", "factor"),
    [(8, 10, 0.8), (1, 10, 0.3), (0, 0, 0.5), (None, None, 0.5), (12, 10, 1.0)],
)
def test_cluster_unhealthy_reads_the_counts(
    healthy: int | None, total: int | None, factor: float
) -> None:
    """[BUG] deviations.md: the reference read `total_nodes` nobody sends, so H was always 0.5."""
    state = step(fresh(), P2PClusterUnhealthy(healthy_nodes=healthy, total_nodes=total)).state
    assert state.cluster.health_factor == pytest.approx(factor)
    assert cluster_state(state).health_factor == pytest.approx(factor)


def test_cluster_healthy_resets_factor_and_clears_every_unhealthy_node() -> None:
    state = run(
        fresh(),
        NodeUnhealthy(node_id="a"),
        HostOffline(node_id="b"),
        P2PClusterUnhealthy(healthy_nodes=1, total_nodes=2),
        P2PClusterHealthy(),
    )
    assert state.cluster.health_factor == 1.0
    assert state.cluster.unhealthy_nodes == frozenset()


def test_backpressure_flag() -> None:
    on = step(fresh(), BackpressureActivated(pending_count=900)).state
    assert on.cluster.backpressure_active is True
    off = step(on, BackpressureReleased(), at=T0 + 1).state
    assert off.cluster.backpressure_active is False


@pytest.mark.parametrize(
    ("resource", "seconds"), [("consecutive_failures", 120), ("memory", 90), ("gpu", 60)]
)
def test_node_overloaded_backoff_by_resource(resource: str, seconds: float) -> None:
    state = step(fresh(), NodeOverloaded(node_id="a", resource_type=resource)).state
    assert dict(state.cluster.overloaded_until) == {"a": T0 + seconds}
    assert state.next_expiry_at == T0 + seconds
    assert cluster_state(state).is_under_backoff("a", T0 + seconds - 1)


def test_node_overloaded_overwrites_even_a_longer_backoff() -> None:
    state = step(fresh(), NodeOverloaded(node_id="a", resource_type="consecutive_failures")).state
    state = step(state, NodeOverloaded(node_id="a"), at=T0 + 1).state
    assert dict(state.cluster.overloaded_until) == {"a": T0 + 61}
    assert state.next_expiry_at == T0 + 61


def test_backoffs_lapse_on_a_tick_and_stay_in_node_order() -> None:
    state = run(
        fresh(),
        NodeOverloaded(node_id="c", resource_type="memory"),
        NodeOverloaded(node_id="a"),
        NodeOverloaded(node_id="b", resource_type="consecutive_failures"),
    )
    assert list(state.cluster.overloaded_until) == ["a", "b", "c"]
    state = step(state, Tick(at=T0 + 90), at=T0 + 90).state
    assert dict(state.cluster.overloaded_until) == {"b": T0 + 2 + 120}
    state = step(state, Tick(at=T0 + 122), at=T0 + 122).state
    assert dict(state.cluster.overloaded_until) == {}
    assert state.next_expiry_at == 0.0


def test_node_events_on_different_nodes_commute() -> None:
    base = with_nodes("a", "b")
    down, busy = NodeUnhealthy(node_id="a"), NodeOverloaded(node_id="b")
    one = step(step(base, down).state, busy).state
    other = step(step(base, busy).state, down).state
    assert one.cluster == other.cluster
