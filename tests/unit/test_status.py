"""Metrics, status, top priorities and health as pure functions of the state (§metrics,
§status, §ranking)."""

from __future__ import annotations

import json
from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfplay_core import (
    AllocationDecided,
    AllocationRequest,
    Backpressure,
    ConfigKey,
    Event,
    NodeCapability,
    SchedulerPolicy,
    SchedulerState,
    SourcesRefreshed,
    make_envelope,
    reduce,
)
from selfplay_core.configs import ALL_CONFIGS
from selfplay_core.decide import decide
from selfplay_core.events import (
    BackpressureActivated,
    NodeOverloaded,
    NodeUnhealthy,
    P2PClusterUnhealthy,
)
from selfplay_core.status import (
    HealthLimits,
    HealthStatus,
    ShellFacts,
    health_check,
    priority_configs,
    scheduler_metrics,
    scheduler_status,
    top_priorities,
)
from selfplay_core.testing.events import envelopes

K = ConfigKey.parse
POLICY = SchedulerPolicy()
SUBSCRIBED = ShellFacts(subscribed=True)
NODES = (NodeCapability("node-a", "A100"), NodeCapability("node-b", "H100"))
COUNTS = {key: 5000 + 100 * key.index for key in ALL_CONFIGS}


def fold(*steps: tuple[float, Event], state: SchedulerState | None = None) -> SchedulerState:
    state = state if state is not None else SchedulerState.initial()
    for i, (at, event) in enumerate(steps):
        envelope = make_envelope(event, id=f"t-{state.applied}-{i}", at=at, source="test")
        state = reduce(state, envelope).state
    return state


def fresh(at: float = 1000.0, nodes: Iterable[NodeCapability] = NODES) -> SchedulerState:
    """Priority data and nodes refreshed at `at`."""
    return fold((at, SourcesRefreshed(game_counts=COUNTS, nodes=tuple(nodes))))


def decided(state: SchedulerState, at: float, games_per_config: int = 500) -> SchedulerState:
    request = AllocationRequest(games_per_config=games_per_config, now=at)
    return fold((at, AllocationDecided(request, decide(state, request))), state=state)


# --- health: the reference's facts (§ranking, §batch) -----------------------


def test_healthy_when_subscribed_and_fresh() -> None:
    report = health_check(fresh(1000.0), 1000.0, POLICY, SUBSCRIBED)
    assert report.healthy is True
    assert report.status is HealthStatus.HEALTHY
    assert report.message == "Running"
    assert report.reasons == ()


def test_unhealthy_with_stale_when_never_updated() -> None:
    state = fold((0.0, SourcesRefreshed(nodes=NODES)))  # nodes, but no priority data ever
    report = health_check(state, 1000.0, POLICY, SUBSCRIBED)
    assert report.healthy is False
    assert report.status is HealthStatus.UNHEALTHY
    assert "stale" in report.message
    assert report.details["last_priority_update"] == 0.0
    assert report.details["priority_age_seconds"] == 1000.0  # now − 0.0, as upstream


def test_report_has_healthy_message_and_the_reference_details() -> None:
    state = decided(fresh(1000.0), 1000.0)
    details = health_check(state, 1060.0, POLICY, SUBSCRIBED).details
    assert {
        "subscribed": True,
        "configs_tracked": 12,
        "nodes_tracked": 2,
        "last_priority_update": 1000.0,
        "priority_age_seconds": 60.0,
        "games_allocated_total": state.allocations.games_total,
        "games_in_last_hour": state.allocations.games_total,
    }.items() <= dict(details).items()


def test_stale_after_exactly_the_limit_not_at_it() -> None:
    state = fresh(1000.0)
    assert health_check(state, 1300.0, POLICY, SUBSCRIBED).status is HealthStatus.HEALTHY
    late = health_check(state, 1300.5, POLICY, SUBSCRIBED)
    assert late.status is HealthStatus.UNHEALTHY
    assert late.reasons == (
        "Priority data stale (>5 min): last refresh 300.5 s ago",
        "Stale data: nodes last refreshed 300.5 s ago",
    )
    # the limit is a parameter
    strict = health_check(state, 1100.0, POLICY, SUBSCRIBED, HealthLimits(60.0))
    assert strict.reasons[0] == "Priority data stale (>1 min): last refresh 100 s ago"
    # ... and by default it comes from the policy
    policy = SchedulerPolicy.from_mapping({"intervals": {"health_stale_seconds": 60.0}})
    from_policy = health_check(state, 1100.0, policy, SUBSCRIBED)
    assert from_policy.reasons == strict.reasons


def test_not_subscribed_is_unhealthy_and_says_so_first() -> None:
    report = health_check(fresh(), 1000.0, POLICY, ShellFacts(subscribed=False))
    assert report.status is HealthStatus.UNHEALTHY
    assert report.healthy is False
    assert report.message == "Not subscribed to events"
    assert report.as_dict()["status"] == "unhealthy"  # never "running" while unhealthy


def test_no_data_sources_and_no_reports_is_not_stale() -> None:
    # An event-driven scheduler without data sources has nothing to be stale about.
    state = fold((0.0, SourcesRefreshed(nodes=NODES)))
    facts = ShellFacts(subscribed=True, sources_attached=False)
    assert health_check(state, 5000.0, POLICY, facts).status is HealthStatus.HEALTHY


def test_no_nodes_is_unhealthy() -> None:
    state = fold((1000.0, SourcesRefreshed(game_counts=COUNTS)))
    report = health_check(state, 1000.0, POLICY, SUBSCRIBED)
    assert report.reasons == ("No eligible nodes: no nodes known",)


def test_no_eligible_node_names_each_node_and_why() -> None:
    state = fresh(1000.0)
    state = fold(
        (1001.0, NodeUnhealthy(node_id="node-a")),
        (1002.0, NodeOverloaded(node_id="node-b", resource_type="memory")),
        state=state,
    )
    report = health_check(state, 1010.0, POLICY, SUBSCRIBED)
    assert report.status is HealthStatus.UNHEALTHY
    (reason,) = [r for r in report.reasons if r.startswith("No eligible nodes")]
    assert "node-a: unhealthy" in reason
    assert "node-b: overload backoff until 1092.0" in reason
    assert report.details["eligible_nodes"] == ()
    # once the 90 s memory backoff has run out node-b is eligible again
    later = health_check(state, 1093.0, POLICY, SUBSCRIBED)
    assert later.details["eligible_nodes"] == ("node-b",)


def test_failing_and_partial_sources_degrade_with_their_reasons() -> None:
    facts = ShellFacts(
        subscribed=True,
        failing_sources={"elo": "elo: missing: data/unified_elo.db not found"},
        partial_sources={"games": "data/games/x.db: locked; kept its last good count"},
    )
    report = health_check(fresh(), 1000.0, POLICY, facts)
    assert report.status is HealthStatus.DEGRADED
    assert report.healthy is True  # still deciding, on its last good data
    assert report.reasons == (
        "Source elo failing (serving its last good value): elo: missing: data/unified_elo.db "
        "not found",
        "Source games partial: data/games/x.db: locked; kept its last good count",
    )
    assert report.message.startswith("Degraded: Source elo failing")
    never = ShellFacts(
        subscribed=True, failing_sources={"elo": "missing"}, failing_without_value={"elo"}
    )
    assert health_check(fresh(), 1000.0, POLICY, never).reasons == (
        "Source elo failing (no good value yet, defaults stand): missing",
    )


def test_one_stale_part_degrades_while_priority_data_is_fresh() -> None:
    state = fold((1000.0, SourcesRefreshed(nodes=NODES)))
    state = fold((1400.0, SourcesRefreshed(game_counts=COUNTS)), state=state)
    report = health_check(state, 1400.0, POLICY, SUBSCRIBED)
    assert report.status is HealthStatus.DEGRADED
    assert report.reasons == ("Stale data: nodes last refreshed 400 s ago",)
    assert report.details["stale_parts"] == ("nodes",)
    assert report.as_dict()["details"]["stale_parts"] == ["nodes"]
    json.dumps(report.as_dict())


def test_backpressure_throttle_pause_and_event_flag_degrade() -> None:
    throttled = fold((1000.0, SourcesRefreshed(backpressure=Backpressure(queue_pressure=1.5))))
    state = fold((1000.0, SourcesRefreshed(game_counts=COUNTS, nodes=NODES)), state=throttled)
    report = health_check(state, 1000.0, POLICY, SUBSCRIBED)
    assert report.status is HealthStatus.DEGRADED
    assert report.reasons == ("Backpressure throttles batches (spawn-rate ×0.75)",)

    paused = fold(
        (1001.0, SourcesRefreshed(backpressure=Backpressure(1.0, 1.0, 1.0, 1.0, 1.0))),
        (1002.0, BackpressureActivated()),
        state=state,
    )
    reasons = health_check(paused, 1002.0, POLICY, SUBSCRIBED).reasons
    assert reasons == (
        "Backpressure pause (spawn-rate ×0.00): nothing allocated",
        "Backpressure activated by event (BACKPRESSURE_ACTIVATED)",
    )


def test_cluster_health_factor_and_refresh_error_degrade() -> None:
    state = fold((1001.0, P2PClusterUnhealthy()), state=fresh(1000.0))
    facts = ShellFacts(subscribed=True, refresh_error="refresh_sources: OSError: disk gone")
    report = health_check(state, 1001.0, POLICY, facts)
    assert report.status is HealthStatus.DEGRADED
    assert report.reasons == (
        "Cluster health factor 0.5: batches scaled down",
        "Last refresh failed: refresh_sources: OSError: disk gone",
    )


def test_unhealthy_reasons_come_before_degraded_ones() -> None:
    facts = ShellFacts(subscribed=False, failing_sources={"games": "gone"})
    report = health_check(fresh(), 1000.0, POLICY, facts)
    assert report.reasons[0] == "Not subscribed to events"
    assert report.reasons[1].startswith("Source games failing")
    assert report.message == "; ".join(report.reasons)


# --- metrics (§metrics) ----------------------------------------------------------------


def test_metrics_keys_and_values() -> None:
    state = decided(fresh(0.0), 0.0)
    total = state.allocations.games_total
    assert total > 0
    assert scheduler_metrics(state, 10.0) == {
        "games_allocated_total": total,
        "games_allocated_last_hour": total,
        "games_per_hour": float(total),
        "allocation_window_seconds": 3600.0,
        "allocations_decided": 1,
    }


def test_metrics_last_hour_filters_by_time_like_health() -> None:
    # [deviation] upstream summed an unpruned history, so "last hour" could include old games.
    state = decided(fresh(0.0), 0.0)
    first = state.allocations.games_total
    state = decided(state, 3000.0, games_per_config=200)
    second = state.allocations.games_total - first
    assert len(state.allocations.history) == 2  # the book still holds the t=0 batch
    metrics = scheduler_metrics(state, 3700.0)
    assert metrics["games_allocated_total"] == first + second
    assert metrics["games_allocated_last_hour"] == second  # the t=0 batch is over an hour old
    assert metrics["games_per_hour"] == float(second)
    assert health_check(state, 3700.0, POLICY, SUBSCRIBED).details["games_in_last_hour"] == second


# --- status (§status) --------------------------------------------------------------------


def test_status_has_the_reference_keys_and_config_fields() -> None:
    state = fresh(1000.0)
    status = scheduler_status(state, 1000.0, POLICY, SUBSCRIBED)
    assert list(status)[:5] == [
        "subscribed",
        "last_priority_update",
        "node_count",
        "overloaded_nodes",
        "config_priorities",
    ]
    assert status["subscribed"] is True
    assert status["last_priority_update"] == 1000.0
    assert status["node_count"] == 2
    assert list(status["config_priorities"]) == [str(k) for k in ALL_CONFIGS]
    for entry in status["config_priorities"].values():
        assert set(entry) == {
            "priority_score",
            "staleness_hours",
            "elo_velocity",
            "exploration_boost",
            "curriculum_weight",
            "games_allocated",
        }
    assert status["health"] == "healthy"


def test_status_overloaded_nodes_are_the_running_backoffs_and_reading_changes_nothing() -> None:
    state = fold(
        (100.0, NodeOverloaded(node_id="zeta", resource_type="gpu")),  # until 160
        (100.0, NodeOverloaded(node_id="alpha", resource_type="consecutive_failures")),  # 220
        state=fresh(100.0),
    )
    assert scheduler_status(state, 150.0)["overloaded_nodes"] == ["alpha", "zeta"]
    assert scheduler_status(state, 200.0)["overloaded_nodes"] == ["alpha"]
    assert scheduler_status(state, 150.0)["overloaded_nodes"] == ["alpha", "zeta"]  # no side effect
    assert dict(state.overloaded_until) == {"alpha": 220.0, "zeta": 160.0}


def test_status_games_allocated_is_the_last_batch_and_zero_when_left_out() -> None:
    # [deviation] upstream left a config's games_allocated at whatever an older batch gave it.
    state = fresh(1000.0)
    request = AllocationRequest(games_per_config=500, max_configs=2, now=1000.0)
    batch = decide(state, request)
    status = scheduler_status(state, 1000.0, POLICY, SUBSCRIBED, batch)
    allocated = {k: v["games_allocated"] for k, v in status["config_priorities"].items()}
    assert allocated == {str(k): batch.games_by_config.get(k, 0) for k in ALL_CONFIGS}
    assert 0 < sum(1 for v in allocated.values() if v) < 12


# --- top priorities and the ranking ---------------------------------------------------------------


def test_top_priorities_lengths_keys_and_order() -> None:
    state = fresh(1000.0)
    five = top_priorities(state, 1000.0, POLICY, 5)
    assert len(five) == 5
    assert len(top_priorities(state, 1000.0, POLICY, 3)) == 3
    assert set(five[0]) == {
        "config",
        "priority",  # not "priority_score" (the upstream sortedness test read that, vacuously)
        "staleness_hours",
        "elo_velocity",
        "exploration_boost",
        "curriculum_weight",
    }
    scores = [entry["priority"] for entry in top_priorities(state, 1000.0, POLICY, 12)]
    assert scores == sorted(scores, reverse=True)
    assert top_priorities(state, 1000.0, POLICY, 0) == []
    assert len(top_priorities(state, 1000.0, POLICY, -2)) == 10  # Python slicing, as upstream


def test_priority_configs_slice_and_break_ties_in_canonical_order() -> None:
    state = SchedulerState.initial()
    assert len(priority_configs(state, 0.0)) == 12
    assert priority_configs(state, 0.0, POLICY, 0) == []
    assert priority_configs(state, 0.0, POLICY, -3) == priority_configs(state, 0.0, POLICY, 9)
    ranked = priority_configs(state, 0.0, POLICY, None)
    assert len({score for _, score in ranked}) < 12  # there are ties to break
    by_score: dict[float, list[str]] = {}
    for key, score in ranked:
        by_score.setdefault(score, []).append(key)
    for keys in by_score.values():
        assert keys == sorted(keys, key=lambda k: K(k).index)


# --- invariants over any history ------------------------------------------------------------------


@given(st.lists(envelopes(), max_size=12), st.floats(0, 1e7), st.booleans(), st.booleans())
def test_health_and_status_hold_together_for_any_history(
    history: list, now: float, subscribed: bool, attached: bool
) -> None:
    state = SchedulerState.initial()
    for envelope in history:
        state = reduce(state, envelope).state
    facts = ShellFacts(subscribed=subscribed, sources_attached=attached)
    report = health_check(state, now, POLICY, facts)
    assert report.healthy == (report.status is not HealthStatus.UNHEALTHY)
    assert (report.status is HealthStatus.HEALTHY) == (report.reasons == ())
    assert subscribed or report.status is HealthStatus.UNHEALTHY
    if not state.nodes:
        assert report.status is HealthStatus.UNHEALTHY
    metrics = scheduler_metrics(state, now)
    assert 0 <= metrics["games_allocated_last_hour"] <= metrics["games_allocated_total"]
    status = scheduler_status(state, now, POLICY, facts)
    assert status["health"] == str(report.status)
    assert all(state.overloaded_until[n] > now for n in status["overloaded_nodes"])
    assert status["overloaded_nodes"] == sorted(status["overloaded_nodes"])
    top = top_priorities(state, now, POLICY, 12)
    assert [t["priority"] for t in top] == sorted((t["priority"] for t in top), reverse=True)


@pytest.mark.parametrize("n", [1, 5, 12, 20])
def test_top_n_never_exceeds_the_configs(n: int) -> None:
    assert len(top_priorities(fresh(), 1000.0, POLICY, n)) == min(n, 12)
