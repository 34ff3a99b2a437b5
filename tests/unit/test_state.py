"""The state value: its invariants, its Elo series, and what decisions read from it."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfplay_core.cluster import NodeCapability
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.elo_series import EloSeries
from selfplay_core.invariants import check_invariants
from selfplay_core.state import (
    ClusterFacts,
    ConfigState,
    SchedulerState,
    cluster_state,
    priority_inputs,
    priority_inputs_for,
)
from selfplay_core.values import PriorityInputs

HEX8_2P = ConfigKey.parse("hex8_2p")


# --- the state ------------------------------------------------------------------------------


def test_initial_state() -> None:
    state = SchedulerState.initial()
    assert tuple(state.configs) == ALL_CONFIGS
    assert all(cs == ConfigState() for cs in state.configs.values())
    assert (state.nodes, state.unhealthy_nodes, dict(state.overloaded_until)) == (
        (),
        frozenset(),
        {},
    )
    assert (state.cluster_health_factor, state.training_queue_depth) == (1.0, 0)
    assert (state.applied, state.last_at, state.next_expiry_at) == (0, 0.0, 0.0)
    assert (dict(state.unknown_events), dict(state.last_refresh)) == ({}, {})
    assert state.ledger.size == 10_000
    assert check_invariants(state) == ()


def test_invariants_name_what_is_wrong() -> None:
    state = SchedulerState.initial()
    hex8_3p = ConfigKey.parse("hex8_3p")
    configs = dict(state.configs)
    configs[HEX8_2P] = attrs.evolve(configs[HEX8_2P], exploration_boost=1.5)
    configs[hex8_3p] = attrs.evolve(configs[hex8_3p], curriculum_weight=float("nan"))
    broken = attrs.evolve(
        state,
        configs=configs,
        cluster=ClusterFacts(overloaded_until={"b": 5.0, "a": 20.0}, health_factor=1.5),
        ledger=state.ledger.applied_at("x", 10.0),
    )
    problems = check_invariants(broken)
    joined = "\n".join(problems)
    assert "hex8_3p.curriculum_weight: not finite" in joined
    assert "hex8_2p.exploration_boost: 1.5 above 1.0 without an expiry" in joined
    assert "cluster.overloaded_until: not in node-id order" in joined
    assert "cluster.overloaded_until.b: 5.0 is not after 10.0" in joined
    assert "cluster.health_factor: 1.5 outside [0, 1]" in joined
    assert "next_expiry_at" in joined


# --- what decisions read --------------------------------------------------------------------


def test_priority_inputs_carry_every_field() -> None:
    state = SchedulerState.initial()
    cs = attrs.evolve(
        state.configs[HEX8_2P],
        staleness_hours=5.0,
        elo_velocity=40.0,
        training_pending=True,
        curriculum_weight=1.2,
        quality_penalty=-0.05,
        momentum_multiplier=1.1,
        facts=attrs.evolve(
            state.configs[HEX8_2P].facts,
            current_elo=1700.0,
            game_count=321,
            quality_score=0.6,
            cascade_multiplier=1.5,
            improvement_boost=0.1,
            priority_override=1,
        ),
    )
    configs = dict(state.configs)
    configs[HEX8_2P] = cs
    velocities = {HEX8_2P: 6.0}
    state = attrs.evolve(
        state,
        configs=configs,
        books=attrs.evolve(state.books, elo=attrs.evolve(state.elo, velocity_per_hour=velocities)),
    )
    inputs = priority_inputs(state, 0.0)
    assert tuple(inputs) == ALL_CONFIGS
    assert inputs[HEX8_2P] == PriorityInputs(
        config_key=HEX8_2P,
        current_elo=1700.0,
        elo_velocity=40.0,
        elo_velocity_per_hour=6.0,
        staleness_hours=5.0,
        curriculum_weight=1.2,
        quality_score=0.6,
        quality_penalty=-0.05,
        games_count=321,
        training_pending=True,
        exploration_boost=1.0,
        improvement_boost=0.1,
        momentum_multiplier=1.1,
        cascade_multiplier=1.5,
        priority_override=1,
    )
    assert priority_inputs_for(state, HEX8_2P, 0.0) == inputs[HEX8_2P]


def test_cluster_state_is_what_allocation_reads() -> None:
    cluster = ClusterFacts(
        nodes=(NodeCapability("a"), NodeCapability("b")),
        unhealthy_nodes=frozenset({"b"}),
        overloaded_until={"a": 100.0},
        health_factor=0.5,
    )
    view = cluster_state(attrs.evolve(SchedulerState.initial(), cluster=cluster))
    assert [n.node_id for n in view.nodes] == ["a", "b"]
    assert view.unhealthy_nodes == frozenset({"b"})
    assert view.is_under_backoff("a", 99.0)
    assert not view.is_under_backoff("a", 100.0)
    assert view.health_factor == pytest.approx(0.5)


@given(
    st.lists(st.tuples(st.floats(0, 5000), st.floats(1, 3000)), max_size=30),
    st.floats(1, 2000),
)
def test_elo_series_matches_a_windowed_list(
    steps: list[tuple[float, float]], window: float
) -> None:
    series = EloSeries.of()
    branch_point = series
    model: list[tuple[float, float]] = []
    at = 0.0
    for i, (gap, elo) in enumerate(steps):
        at += gap
        series = series.appended(at, elo, at - window)
        model = [p for p in model if p[0] >= at - window] + [(at, elo)]
        assert series.points == tuple(model)
        assert (series.first, series.last) == (model[0], model[-1])
        if i == len(steps) // 2:
            branch_point = series
    assert EloSeries.__from_data__(series.__to_data__()) == series
    before = branch_point.points
    branch_point.appended(at + 1, 1.0, 0.0)  # a branch copies; the original is unchanged
    assert branch_point.points == before


def test_a_state_that_has_seen_feedback_round_trips_through_the_codec() -> None:
    # The source book keeps the feedback flags as booleans and game counts as integers; a
    # snapshot must read them back as they were (it used to fail: `reported` was typed as
    # numbers only).
    from selfplay_core.codec import decode_value, encode_value
    from selfplay_core.events import SourcesRefreshed, make_envelope
    from selfplay_core.reducer import reduce
    from selfplay_core.signals import FeedbackSignal

    refresh = SourcesRefreshed(
        feedback={
            HEX8_2P: FeedbackSignal(exploration_boost=1.4, training_pending=True),
            ConfigKey.parse("square8_2p"): FeedbackSignal(),
        },
        game_counts=dict.fromkeys(ALL_CONFIGS, 120),
    )
    state = reduce(
        SchedulerState.initial(), make_envelope(refresh, id="r1", at=100.0, source="test")
    ).state
    reported = state.sources.reported
    assert reported["feedback_pending"][HEX8_2P.index] is True
    assert reported["feedback_pending"][ConfigKey.parse("square8_2p").index] is False
    data = encode_value(state)
    decoded = decode_value(data, SchedulerState).unwrap()
    assert decoded == state
    assert decoded.sources.reported["feedback_pending"][HEX8_2P.index] is True
    assert type(decoded.sources.reported["game_counts"][0]) is int
    assert encode_value(decoded) == data


def test_a_bad_source_book_names_the_field() -> None:
    from returns.result import Failure

    from selfplay_core.codec import decode_value, encode_value
    from selfplay_core.state import Books

    good = encode_value(SchedulerState.initial().books)
    for reported, path in (
        ({"feedback_pending": [True, "yes", *[None] * 10]}, "sources.reported.feedback_pending.1"),
        ({"game_counts": [float("nan"), *[1] * 11]}, "sources.reported.game_counts.0"),
        ({"game_counts": 3}, "sources.reported.game_counts"),
        ({"game_counts": [1, 2]}, "sources.reported.game_counts"),
    ):
        result = decode_value({**good, "sources": {"reported": reported}}, Books)
        assert isinstance(result, Failure)
        assert result.failure().path == path
