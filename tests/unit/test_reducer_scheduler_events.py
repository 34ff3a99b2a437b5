"""The scheduler's own events, time and expiry (§expiry), dedup, unknown events, and the
source-ownership rules of `SourcesRefreshed` (docs/source-ownership.md)."""

from __future__ import annotations

import attrs
import pytest
from _reducer_support import HEX8_2P, HEX8_3P, T0, envelope, fresh, run, step

from selfplay_core.allocation.values import AllocationRequest
from selfplay_core.cluster import NodeCapability
from selfplay_core.configs import ALL_CONFIGS
from selfplay_core.decide import decide
from selfplay_core.event_policy import EventPolicy
from selfplay_core.events import (
    AllocationDecided,
    ConfigBoosted,
    CurriculumRebalanced,
    ExplorationBoost,
    ModelPromoted,
    NodeOverloaded,
    QualityDegraded,
    QualityPenaltyApplied,
    SelfplayComplete,
    SelfplayRateChanged,
    SelfplayTargetUpdated,
    SourcesRefreshed,
    TargetTrainingSamplesSet,
    Tick,
    TrainingEarlyStopped,
    UnknownEvent,
)
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.reducer import reduce
from selfplay_core.signals import FeedbackSignal
from selfplay_core.state import SchedulerState, priority_inputs_for

EXPIRED = SelfplayTargetUpdated(
    config_key=HEX8_2P, priority="normal", reason="exploration_boost_expired", exploration_boost=1.0
)


# --- time and expiry (§expiry) --------------------------------------------------------------------


def test_exploration_boost_lapses_after_900_s_on_a_tick() -> None:
    state = step(fresh(), ExplorationBoost(config_key=HEX8_2P, boost_factor=1.6)).state
    before = step(state, Tick(at=T0 + 899), at=T0 + 899)
    assert before.emitted == ()
    assert before.state.configs[HEX8_2P].exploration_boost == 1.6
    lapsed = step(before.state, Tick(at=T0 + 900), at=T0 + 900)
    assert lapsed.emitted == (EXPIRED,)
    cs = lapsed.state.configs[HEX8_2P]
    assert (cs.exploration_boost, cs.exploration_boost_expires_at) == (1.0, 0.0)
    assert lapsed.state.next_expiry_at == 0.0


def test_boosts_lapse_on_any_later_envelope_before_it_applies() -> None:
    state = step(fresh(), ModelPromoted(config_key=HEX8_2P, success=False)).state
    assert state.configs[HEX8_2P].exploration_boost_expires_at == T0 + 15.0
    t = step(state, ModelPromoted(config_key=HEX8_2P, success=False), at=T0 + 20)
    assert t.emitted == (EXPIRED,)  # the old boost lapsed first, then 1.0 × 1.3
    assert t.state.configs[HEX8_2P].exploration_boost == pytest.approx(1.3)


def test_a_lapsed_boost_reads_as_1_in_priority_inputs_before_any_envelope() -> None:
    state = step(fresh(), ExplorationBoost(config_key=HEX8_2P, boost_factor=1.6)).state
    assert priority_inputs_for(state, HEX8_2P, T0 + 899).exploration_boost == 1.6
    assert priority_inputs_for(state, HEX8_2P, T0 + 900).exploration_boost == 1.0


def test_boost_below_one_never_lapses() -> None:
    state = step(fresh(), SelfplayTargetUpdated(config_key=HEX8_2P, priority="low")).state
    later = step(state, Tick(at=T0 + 10**6), at=T0 + 10**6).state
    assert later.configs[HEX8_2P].exploration_boost == 0.8


def test_a_late_envelope_does_not_move_time_backwards() -> None:
    state = step(fresh(), Tick(at=T0 + 100), at=T0 + 100).state
    late = step(state, NodeOverloaded(node_id="a"), at=T0).state
    assert late.last_at == T0 + 100
    assert dict(late.cluster.overloaded_until) == {"a": T0 + 160}


def test_custom_durations_come_from_the_policy() -> None:
    policy = SchedulerPolicy(
        events=EventPolicy(exploration_boost_duration_seconds=60.0, boost_lifetime_seconds=5.0)
    )
    state = step(
        fresh(), ExplorationBoost(config_key=HEX8_2P, boost_factor=1.6), policy=policy
    ).state
    assert state.configs[HEX8_2P].exploration_boost_expires_at == T0 + 60.0
    promoted = step(fresh(), ModelPromoted(config_key=HEX8_2P, success=False), policy=policy).state
    assert promoted.configs[HEX8_2P].exploration_boost_expires_at == T0 + 5.0


# --- dedup and unknown events ---------------------------------------------------------------


def test_the_same_envelope_twice_changes_nothing_the_second_time() -> None:
    """[BUG] (deviations.md): double delivery compounded (×1.69); content dedup dropped repeats."""
    once = reduce(fresh(), envelope(ModelPromoted(config_key=HEX8_2P, success=False), id="p1"))
    twice = reduce(once.state, envelope(ModelPromoted(config_key=HEX8_2P, success=False), id="p1"))
    assert twice.state == once.state
    assert twice.emitted == ()
    assert once.state.configs[HEX8_2P].exploration_boost == pytest.approx(1.3)


def test_identical_content_with_a_new_id_is_applied_again() -> None:
    state = run(fresh(), *[ModelPromoted(config_key=HEX8_2P, success=False)] * 2)
    assert state.configs[HEX8_2P].exploration_boost == pytest.approx(1.69)


def test_the_window_forgets_ids_beyond_its_size() -> None:
    policy = SchedulerPolicy(events=EventPolicy(dedup_window=3))
    state = SchedulerState.initial(policy)
    for i in range(4):
        state = reduce(state, envelope(Tick(at=T0), T0, id=f"t{i}"), policy).state
    assert state.ledger.ids == ("t1", "t2", "t3")
    again = reduce(state, envelope(SelfplayComplete(config_key=HEX8_2P), T0, id="t0"), policy)
    assert again.state.applied == state.applied + 1
    assert reduce(again.state, envelope(Tick(at=T0), T0, id="t3"), policy).state == again.state


def test_unknown_events_only_count() -> None:
    state = fresh()
    unknown = UnknownEvent(type="memory_pressure", payload={"level": "critical"})
    after = step(state, unknown, at=T0 + 999).state
    assert after.unknown_events == {"memory_pressure": 1}
    assert (after.configs, after.cluster, after.elo, after.sources) == (
        state.configs,
        state.cluster,
        state.elo,
        state.sources,
    )
    assert (after.applied, after.last_at) == (state.applied, state.last_at)
    after = step(after, unknown, at=T0 + 1000).state
    assert after.unknown_events == {"memory_pressure": 2}


def test_emit_only_events_are_not_applied() -> None:
    event = QualityPenaltyApplied(config_key=HEX8_2P, penalty=0.1)
    after = step(fresh(), event).state
    assert after.configs == fresh().configs
    assert (after.applied, after.unknown_events) == (0, {})


# --- SourcesRefreshed and who owns what -----------------------------------------------------------


def full(value: object) -> dict[object, object]:
    return dict.fromkeys(ALL_CONFIGS, value)


def test_fresh_state_holds_reference_defaults() -> None:
    cs = fresh().configs[HEX8_2P]
    assert (cs.exploration_boost, cs.curriculum_weight, cs.search_budget) == (1.0, 1.0, 400)
    assert (cs.current_elo, cs.game_count, cs.quality_score) == (1500.0, 0, 0.7)
    assert (cs.target_training_samples, cs.samples_per_game_estimate) == (50_000, 50.0)
    assert tuple(fresh().configs) == ALL_CONFIGS


def test_refresh_overwrites_source_owned_facts() -> None:
    refresh = SourcesRefreshed(
        current_elos=full(1850.0),
        game_counts=full(1234),
        quality_scores=full(0.4),
        cascade_multipliers=full(1.5),
        improvement_boosts=full(0.1),
        priority_overrides={HEX8_2P: 0},
    )
    cs = step(fresh(), refresh).state.configs[HEX8_2P]
    assert (cs.current_elo, cs.game_count, cs.quality_score) == (1850.0, 1234, 0.4)
    assert (cs.cascade_multiplier, cs.improvement_boost, cs.priority_override) == (1.5, 0.1, 0)
    assert cs.search_budget == 1600  # the Elo tier's budget


def test_a_failed_source_keeps_the_last_value() -> None:
    state = step(fresh(), SourcesRefreshed(game_counts=full(500))).state
    state = step(state, SourcesRefreshed(game_counts=None), at=T0 + 15).state
    assert state.configs[HEX8_2P].game_count == 500
    assert state.last_refresh == {"game_counts": T0}


def test_event_writes_survive_a_refresh_that_brings_no_news() -> None:
    """[BUG] §events: every refresh silently wiped event-written fields."""
    refresh = SourcesRefreshed(
        staleness_hours=full(24.0),
        curriculum_weights=full(1.0),
        momentum_multipliers=full(1.0),
        feedback=full(FeedbackSignal()),
    )
    state = step(fresh(), refresh).state
    state = run(
        state,
        SelfplayComplete(config_key=HEX8_2P),
        TrainingEarlyStopped(config_key=HEX8_3P, reason="plateau"),
        CurriculumRebalanced(config_key=HEX8_2P, weight=1.6),
        SelfplayRateChanged(config_key=HEX8_2P, new_rate=1.3),
        at=T0 + 1,
    )
    after = step(state, refresh, at=T0 + 10).state
    assert after.configs[HEX8_2P].staleness_hours == 0.0
    assert after.configs[HEX8_2P].curriculum_weight == 1.6
    assert after.configs[HEX8_2P].momentum_multiplier == 1.3
    assert after.configs[HEX8_3P].curriculum_weight == pytest.approx(1.3)
    assert after.configs[HEX8_3P].exploration_boost == pytest.approx(1.3)


def test_news_from_a_source_overwrites_the_event_write() -> None:
    state = step(fresh(), SourcesRefreshed(staleness_hours=full(24.0))).state
    state = step(state, SelfplayComplete(config_key=HEX8_2P), at=T0 + 1).state
    newer = dict(full(24.0))
    newer[HEX8_2P] = 0.5
    after = step(state, SourcesRefreshed(staleness_hours=newer), at=T0 + 15).state
    assert after.configs[HEX8_2P].staleness_hours == 0.5


def test_feedback_boost_has_a_lifetime_and_applies_again_after_it() -> None:
    refresh = SourcesRefreshed(feedback=full(FeedbackSignal(exploration_boost=1.3)))
    state = step(fresh(), refresh).state
    assert state.configs[HEX8_2P].exploration_boost == 1.3
    assert state.configs[HEX8_2P].exploration_boost_expires_at == T0 + 15.0
    again = step(state, refresh, at=T0 + 15)  # the boost lapses first, then is news again
    assert len(again.emitted) == 12
    assert again.state.configs[HEX8_2P].exploration_boost == 1.3
    assert again.state.configs[HEX8_2P].exploration_boost_expires_at == T0 + 30.0


def test_velocity_feedback_budget_stays_until_the_elo_tier_changes() -> None:
    state = step(fresh(), SourcesRefreshed(current_elos=full(1600.0))).state
    assert state.configs[HEX8_2P].search_budget == 800
    state = step(
        state,
        SelfplayTargetUpdated(config_key=HEX8_2P, search_budget=1200.0, reason="velocity_feedback"),
        at=T0 + 1,
    ).state
    same_tier = step(state, SourcesRefreshed(current_elos=full(1650.0)), at=T0 + 15).state
    assert same_tier.configs[HEX8_2P].search_budget == 1200.0
    new_tier = step(same_tier, SourcesRefreshed(current_elos=full(2050.0)), at=T0 + 30).state
    assert new_tier.configs[HEX8_2P].search_budget == 3200


def test_quality_penalty_is_never_touched_by_a_refresh() -> None:
    state = step(fresh(), QualityDegraded(config_key=HEX8_2P, quality_score=0.3)).state
    after = step(state, SourcesRefreshed(quality_scores=full(0.9)), at=T0 + 15).state
    assert after.configs[HEX8_2P].quality_penalty == pytest.approx(-0.1)


def test_refresh_of_cluster_parts() -> None:
    from selfplay_core.cluster import Backpressure, NodeCapability

    pressure = Backpressure(queue_pressure=0.5)
    refresh = SourcesRefreshed(
        nodes=(NodeCapability("b"), NodeCapability("a"), NodeCapability("b", "H100")),
        training_queue_depth=12,
        backpressure=pressure,
    )
    cluster = step(fresh(), refresh).state.cluster
    assert [(n.node_id, n.gpu_type) for n in cluster.nodes] == [("a", "unknown"), ("b", "H100")]
    assert (cluster.training_queue_depth, cluster.backpressure) == (12, pressure)


def test_refresh_clamps_out_of_range_values() -> None:
    refresh = SourcesRefreshed(
        curriculum_weights=full(-1.0), current_elos=full(1e30), cascade_multipliers=full(-2.0)
    )
    cs = step(fresh(), refresh).state.configs[HEX8_2P]
    assert (cs.curriculum_weight, cs.current_elo, cs.cascade_multiplier) == (0.0, 1e9, 0.0)


# --- facade events --------------------------------------------------------------------------------


def test_target_training_samples_set_uses_the_board_estimate() -> None:
    key = ALL_CONFIGS[0]
    cs = step(fresh(), TargetTrainingSamplesSet(config_key=key, target=100_000)).state.configs[key]
    assert (cs.target_training_samples, cs.samples_per_game_estimate) == (100_000, 35.0)


def test_config_boosted() -> None:
    """§boost: eb ← min(2, eb × m); mm ← min(1.5, mm × 1.2); the rate-change
    emission cannot fire for a positive momentum (exactly +20 % is not > 20 %)."""
    t = step(fresh(), ConfigBoosted(config_key=HEX8_2P, multiplier=1.5))
    cs = t.state.configs[HEX8_2P]
    assert (cs.exploration_boost, cs.momentum_multiplier) == (1.5, pytest.approx(1.2))
    assert t.emitted == ()
    capped = step(t.state, ConfigBoosted(config_key=HEX8_2P, multiplier=1.5), at=T0 + 1)
    assert capped.state.configs[HEX8_2P].exploration_boost == 2.0


def test_allocation_decided_is_recorded() -> None:
    node = NodeCapability("gpu-1", gpu_type="H100", gpu_memory_gb=80.0)
    state = run(fresh(), SourcesRefreshed(nodes=(node,)))
    request = AllocationRequest(now=T0)
    result = decide(state, request)
    placed = result.placed_games
    assert 0 < placed < result.total_games  # one node cannot take it all
    after = step(state, AllocationDecided(request=request, result=result)).state
    assert after.allocations.decisions == 1
    # Like the reference's _record_allocation(Σ node games): placed games, not unplaced ones.
    assert after.allocations.games_total == placed
    assert after.allocations.history == ((T0, placed),)
    later = step(after, AllocationDecided(request=request, result=result), at=T0 + 3601).state
    assert later.allocations.history == ((T0 + 3601, placed),)
    assert later.allocations.games_total == 2 * placed


def test_a_decision_that_places_nothing_adds_no_games() -> None:
    request = AllocationRequest(now=T0)
    result = decide(fresh(), request)  # no nodes: every game is unplaced
    assert result.placed_games == 0 < result.total_games
    after = step(fresh(), AllocationDecided(request=request, result=result)).state
    assert after.allocations.decisions == 1
    assert after.allocations.games_total == 0


def test_applied_counts_every_applied_envelope() -> None:
    state = run(fresh(), Tick(at=T0), SelfplayComplete(config_key=HEX8_2P), Tick(at=T0 + 2))
    assert state.applied == 3
    assert attrs.evolve(state).ledger == state.ledger
