"""decide.py: the state's ranking and batch, composed from priority and allocation."""

from __future__ import annotations

import attrs

from selfplay_core.allocation import allocate
from selfplay_core.allocation.values import AllocationRequest
from selfplay_core.cluster import NodeCapability
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.decide import decide, dynamic_weights, priorities, signals
from selfplay_core.events import ExplorationBoost, NodeUnhealthy, SourcesRefreshed, make_envelope
from selfplay_core.priority import cluster_signals, compute_dynamic_weights, rank
from selfplay_core.reducer import reduce
from selfplay_core.state import SchedulerState, cluster_state, priority_inputs

T0 = 1_767_225_600.0
HEX8_2P = ConfigKey.parse("hex8_2p")


def _state() -> SchedulerState:
    nodes = tuple(NodeCapability(f"n{i}", "H100", 80.0) for i in range(4))
    events = [
        SourcesRefreshed(
            current_elos={key: 1500.0 + 25 * key.index for key in ALL_CONFIGS},
            game_counts={key: 500 * (key.index + 1) for key in ALL_CONFIGS},
            staleness_hours=dict.fromkeys(ALL_CONFIGS, 3.0),
            nodes=nodes,
        ),
        NodeUnhealthy(node_id="n3"),
        ExplorationBoost(config_key=HEX8_2P, boost_factor=1.8),
    ]
    state = SchedulerState.initial()
    for i, event in enumerate(events):
        state = reduce(state, make_envelope(event, id=f"d{i}", at=T0 + i, source="t")).state
    return state


def test_priorities_compose_inputs_signals_weights_and_rank() -> None:
    state = _state()
    expected_signals = cluster_signals(
        state.nodes,
        {key: cs.current_elo for key, cs in state.configs.items()},
        0,
        unhealthy_nodes={"n3"},
    )
    assert signals(state) == expected_signals
    assert signals(state).idle_gpu_fraction == 0.75  # the unhealthy node is not idle
    weights = compute_dynamic_weights(expected_signals)
    assert dynamic_weights(state) == weights
    assert priorities(state, T0 + 10) == rank(priority_inputs(state, T0 + 10), weights)
    assert len(priorities(state, T0 + 10, top_n=3)) == 3


def test_priorities_use_the_boost_in_force_at_now() -> None:
    state = _state()
    during = {p.config_key: p.score for p in priorities(state, T0 + 10)}
    after = {p.config_key: p.score for p in priorities(state, T0 + 2 + 900)}
    assert during[HEX8_2P] > after[HEX8_2P]
    assert {k: v for k, v in during.items() if k != HEX8_2P} == {
        k: v for k, v in after.items() if k != HEX8_2P
    }


def test_decide_is_allocate_on_the_ranking_and_the_cluster() -> None:
    state = _state()
    request = AllocationRequest(games_per_config=400, max_configs=6, now=T0 + 10)
    expected = allocate(priorities(state, request.now), cluster_state(state), request)
    result = decide(state, request)
    assert result == expected
    assert "n3" not in {node for placed in result.placements.values() for node in placed}
    assert decide(state, request) == result  # pure: same state, same decision
    assert attrs.evolve(state) == state
