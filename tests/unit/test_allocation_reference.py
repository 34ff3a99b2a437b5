"""§batch worked examples and §batch upstream facts, as unit tests.

Where an example shows a reference bug, the test pins the fixed value (rows in
docs/deviations.md, "## Allocation") and says what the reference gave.
"""

from __future__ import annotations

import attrs
import pytest

from selfplay_core.allocation import (
    AllocationRequest,
    allocate,
    allocate_to_nodes,
    enforce_4p_minimums,
    enforce_starvation_floor,
)
from selfplay_core.allocation.capacity import available_capacity, capacity_weight
from selfplay_core.cluster import Backpressure, ClusterState, NodeCapability
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.values import ConfigPriority

POLICY = SchedulerPolicy()
A = POLICY.allocation
K = ConfigKey.parse


def P(key: str, score: float, games: int = 5000) -> ConfigPriority:
    return ConfigPriority(key, score, games)


def node(node_id: str, gpu: str, load: float = 0.0, *, eph: bool | None = None, lag: float = 0.0):
    ephemeral = node_id.startswith("vast-") if eph is None else eph
    return NodeCapability(
        node_id, gpu_type=gpu, current_load=load, is_ephemeral=ephemeral, data_lag_seconds=lag
    )


def totals(batch) -> dict[str, int]:
    return {str(k): v for k, v in batch.games_by_config.items()}


def placed(batch) -> dict[str, dict[str, int]]:
    return batch.as_reference_dict()


def node_totals(batch) -> dict[str, int]:
    return {n.node_id: n.total_games for n in batch.nodes}


# --- E1 -------------------------------------------------------------------------------------------

E1_NODES = [node("n1", "H100"), node("n2", "A100", 0.5), node("vast-3", "RTX_4090")]
E1_PRIOS = [
    P("hexagonal_4p", 1.2, 50),
    P("hex8_2p", 0.8),
    P("square19_2p", 0.3),
    P("square8_3p", -0.1),
]


def test_e1_full_batch_counts_are_the_reference_formula_and_floor() -> None:
    batch = allocate(E1_PRIOS, ClusterState(E1_NODES), AllocationRequest())
    # reference placed 988 / 606 / 358 (floor missed by 12; 44 and 42 games dropped by rounding);
    # its intended counts are n = 850 → floor 1000, 650, 400, and we place all of them
    assert totals(batch) == {"hex8_2p": 650, "square19_2p": 400, "hexagonal_4p": 1000}
    assert batch.unplaced == {}
    assert batch.total_games == batch.placed_games == 2050
    assert "square8_3p" not in totals(batch)
    assert batch.explanation.skipped[K("square8_3p")] == "score -0.1 ≤ 0"


def test_e1_placement_respects_batch_caps_and_the_ephemeral_large_board_rule() -> None:
    batch = allocate(E1_PRIOS, ClusterState(E1_NODES), AllocationRequest())
    per_node = node_totals(batch)
    assert per_node["n1"] <= 1500
    assert per_node["n2"] <= 800
    assert per_node["vast-3"] <= 600  # ⌊1.5 × 400⌋
    # like the reference, vast-3's long-job share (⌊0.5 × 193⌋ < 100) is too small for a chunk
    assert "vast-3" not in placed(batch)["hexagonal_4p"]
    assert "vast-3" not in placed(batch)["square19_2p"]
    assert placed(batch)["hex8_2p"]["n1"] == 419  # same share as the reference: ⌊650 × 2/3.1⌋


# --- E2 / R2 / R3 / R5: 4p minimums ---------------------------------------------------------------


def test_e2_4p_stealing_matches_the_reference_totals() -> None:
    nodes = [node("n1", "H100"), node("n2", "H100")]
    prios = [P("hex8_2p", 1.0), P("square8_2p", 0.9), P("hex8_4p", 0.1), P("square8_4p", 0.05)]
    batch = allocate(prios, ClusterState(nodes), AllocationRequest())
    # reference: 250 / 274 / 750 / 750; its square8_2p is 274 only because its node split of
    # square8_4p's 275 dropped one game (137 + 137); counted exactly, the donor keeps 275
    assert totals(batch) == {"hex8_2p": 250, "square8_2p": 275, "hex8_4p": 750, "square8_4p": 750}
    decisions = {d.config_key: d for d in batch.explanation.configs}
    assert decisions[K("hex8_2p")].donated == 500
    assert decisions[K("square8_2p")].donated == 425
    assert decisions[K("hex8_4p")].received == 450
    assert decisions[K("square8_4p")].received == 475
    assert batch.explanation.unmet == ()


def test_r2_4p_step_conserves_the_total_and_meets_the_minimum() -> None:
    nodes = [node("n1", "H100"), node("n2", "H100"), node("n3", "H100")]
    batch = allocate(
        [P("hex8_2p", 0.9), P("hex8_4p", 0.1)], ClusterState(nodes), AllocationRequest()
    )
    # reference: total 1001 (drift +2), hex8_4p 749 < 750, donor entries of 84 (< MIN)
    assert totals(batch) == {"hex8_2p": 250, "hex8_4p": 750}
    assert batch.total_games == 1000
    for per_node in placed(batch).values():
        assert all(games >= 100 for games in per_node.values())


def test_r3_an_empty_4p_recipient_receives_the_games_instead_of_losing_them() -> None:
    counts = enforce_4p_minimums({K("hex8_2p"): 800, K("hex8_4p"): 0}, [], 1000)
    # reference: {'hex8_2p': {'n1': 500}, 'hex8_4p': {}}: 300 games vanish
    assert counts == {K("hex8_2p"): 500, K("hex8_4p"): 300}


def test_r5_the_4p_step_cannot_undo_a_starvation_floor() -> None:
    batch = allocate(
        [P("hex8_2p", 0.1, 500), P("hex8_4p", 0.1)],
        ClusterState([node("n1", "H100")]),
        AllocationRequest(),
    )
    # reference: {hex8_2p: 300, hex8_4p: 750}: the critical 2p config pulled back below 750
    assert totals(batch) == {"hex8_2p": 750, "hex8_4p": 300}
    (unmet,) = batch.explanation.unmet
    assert (unmet.config_key, unmet.kind, unmet.required, unmet.achieved) == (
        K("hex8_4p"),
        "4p_minimum",
        750,
        300,
    )


def test_upstream_4p_minimum_share_test() -> None:
    """§batch TestPlayerCountAllocation: hex8_4p ≥ 150; actual 400, hex8_2p 500, hex8_3p 100."""
    counts = enforce_4p_minimums(
        {K("hex8_2p"): 800, K("hex8_3p"): 100, K("hex8_4p"): 100}, [], 1000
    )
    assert counts == {K("hex8_2p"): 500, K("hex8_3p"): 100, K("hex8_4p"): 400}


# --- R4 / R8: floors and caps ---------------------------------------------------------------------


def test_r4_floor_is_decided_in_full_and_the_cap_holds_over_the_batch() -> None:
    """Upstream TestStarvationFloorEnforcement: all 12 configs emergency (missing counts are 0),
    one A100, G = 1000. Reference: hex8_2p 1300, hex8_3p 1100, ten configs at 800 each, all on
    one node whose CAP is 800."""
    prios = [P(str(k), 0.0, 50 if str(k) == "hex8_4p" else 0) for k in ALL_CONFIGS]
    counts = enforce_starvation_floor(
        {K("hex8_2p"): 500, K("hex8_3p"): 300, K("hex8_4p"): 0}, prios, 1000
    )
    assert counts == dict.fromkeys(ALL_CONFIGS, 2000)
    assert counts[K("hex8_4p")] > 0  # the upstream assertion
    placement = allocate_to_nodes(counts, ClusterState([node("node1", "A100")]))
    assert sum(n.total_games for n in placement.nodes) == 800
    assert sum(placement.unplaced.values()) == 24_000 - 800
    # short capacity is shared: eight configs get one 100-game chunk each
    assert sorted(sum(p.values()) for p in placement.placements.values()) == [100] * 8


def test_r8_floor_merge_cannot_push_a_node_over_its_cap() -> None:
    batch = allocate(
        [P("hex8_4p", 1.0, 50)], ClusterState([node("n1", "A100")]), AllocationRequest()
    )
    # reference: 750 + 250 on the same node = 1000 > CAP 800, and games_allocated stays 750
    assert totals(batch) == {"hex8_4p": 1000}
    assert placed(batch) == {"hex8_4p": {"n1": 800}}
    assert batch.unplaced == {K("hex8_4p"): 200}
    (unmet,) = batch.explanation.unmet
    assert (unmet.kind, unmet.required, unmet.achieved) == ("starvation_floor", 1000, 800)
    assert unmet.reason.startswith("node caps exhausted")


# --- R6: health factor ----------------------------------------------------------------------------


def test_r6_health_factor_never_raises_a_count() -> None:
    cluster = ClusterState([node("n1", "H100")], health_factor=0.5)
    # reference `_allocate_to_nodes(c, 50)` → 100 under h = 0.5; placement here never changes
    # a count, and health is applied once, to the batch
    for games in (50, 99, 150, 1000):
        placement = allocate_to_nodes({K("hex8_2p"): games}, cluster)
        assert placement.placements[K("hex8_2p")] == {"n1": games}
    full = allocate([P("hex8_2p", 0.5)], attrs.evolve(cluster, health_factor=1.0))
    half = allocate([P("hex8_2p", 0.5)], cluster)
    assert totals(full) == {"hex8_2p": 500}
    assert totals(half) == {"hex8_2p": 250}
    tiny = AllocationRequest(games_per_config=50)
    assert totals(allocate([P("hex8_2p", 0.5)], cluster, tiny)) == {"hex8_2p": 100}


def test_r6_single_node_cap() -> None:
    placement = allocate_to_nodes({K("hex8_2p"): 5000}, ClusterState([node("n1", "H100")]))
    assert placement.placements[K("hex8_2p")] == {"n1": 1500}
    assert placement.unplaced == {K("hex8_2p"): 3500}


# --- R7: ephemeral nodes --------------------------------------------------------------------------


def test_r7_ephemeral_caps_hold_over_the_whole_batch() -> None:
    cluster = ClusterState([node("vast-a", "A100")])
    short = allocate_to_nodes({K("hex8_2p"): 1000}, cluster)
    assert short.placements[K("hex8_2p")] == {"vast-a": 1000}
    # one short job of 2000: ≤ ⌊1.5 × 800⌋ = 1200, as upstream
    assert allocate_to_nodes({K("hex8_2p"): 2000}, cluster).placements[K("hex8_2p")] == {
        "vast-a": 1200
    }
    # upstream gave 1200 per call, so two short configs got 2400 on one node; here 1200 in all
    both = allocate_to_nodes({K("hex8_2p"): 2000, K("square8_2p"): 2000}, cluster)
    assert sum(n.total_games for n in both.nodes) == 1200
    # long jobs: ≤ ⌊0.5 × 800⌋ = 400 large-board games in the batch
    assert allocate_to_nodes({K("square19_2p"): 2000}, cluster).placements[K("square19_2p")] == {
        "vast-a": 400
    }
    # reference: 150 of 300 (the other 150 dropped); here all 300 fit under the 400 limit
    assert allocate_to_nodes({K("square19_2p"): 300}, cluster).placements[K("square19_2p")] == {
        "vast-a": 300
    }


# --- node mix, ties, capacity edge ----------------------------------------------------------------


def test_node_mix_shares_follow_capacity_and_the_remainder_is_placed() -> None:
    cluster = ClusterState([node("gh", "GH200"), node("h", "H100", 0.25), node("r", "RTX_3090")])
    placement = allocate_to_nodes({K("hex8_3p"): 3000}, cluster)
    # reference: {GH200: 1600, H100: 1000, RTX_3090: 300}, 2900 placed, 100 dropped
    assert placement.placements[K("hex8_3p")] == {"gh": 1700, "h": 1000, "r": 300}
    assert placement.unplaced == {}


def test_ties_break_by_data_lag_then_node_id() -> None:
    cluster = ClusterState([node("a", "H100", lag=50.0), node("b", "H100", lag=5.0)])
    placement = allocate_to_nodes({K("hex8_2p"): 1000}, cluster)
    assert placement.placements[K("hex8_2p")] == {"a": 500, "b": 500}
    small = allocate_to_nodes({K("hex8_2p"): 100}, cluster)
    assert small.placements[K("hex8_2p")] == {"b": 100}  # b first (less lag)
    same = ClusterState([node("y", "H100"), node("x", "H100")])
    assert allocate_to_nodes({K("hex8_2p"): 100}, same).placements[K("hex8_2p")] == {"x": 100}


def test_capacity_edge_load_0_9_is_excluded_and_0_89_is_eligible() -> None:
    excluded = allocate_to_nodes({K("hex8_2p"): 1000}, ClusterState([node("a", "A100", 0.9)]))
    assert excluded.placements == {}
    assert excluded.excluded_nodes["a"].startswith("available capacity 0.09999")
    eligible = allocate_to_nodes({K("hex8_2p"): 1000}, ClusterState([node("a", "A100", 0.89)]))
    assert eligible.placements[K("hex8_2p")] == {"a": 800}
    assert eligible.unplaced == {K("hex8_2p"): 200}


def test_cpu_nodes_are_never_eligible() -> None:
    placement = allocate_to_nodes({K("hex8_2p"): 100}, ClusterState([node("c", "CPU")]))
    assert "c" in placement.excluded_nodes


# --- backpressure and tiny budgets ----------------------------------------------------------------


def _all(pressure: float) -> Backpressure:
    return Backpressure(pressure, pressure, pressure, pressure, pressure)


# pressures whose spawn-rate multiplier is (just above) 0.5, 0.15, 0.9 and 0.0
HALF, LOW, MILD, PAUSE = _all(0.6), _all(0.81), _all(0.36), _all(1.0)


def test_pressure_to_multiplier() -> None:
    rules = A.backpressure
    assert HALF.spawn_rate_multiplier(rules) == pytest.approx(0.5)
    assert LOW.spawn_rate_multiplier(rules) == pytest.approx(0.15)
    assert MILD.spawn_rate_multiplier(rules) == pytest.approx(0.9)
    assert _all(0.2).spawn_rate_multiplier(rules) == 1.0
    assert not _all(0.84).should_pause(rules)
    assert _all(0.85).should_pause(rules)
    assert PAUSE.should_pause(rules)


def test_backpressure_throttle_examples() -> None:
    prio = [P("hex8_2p", 0.0001)]
    half = ClusterState([node("n1", "H100")], backpressure=HALF)
    assert placed(allocate(prio, half)) == {"hex8_2p": {"n1": 125}}
    low = ClusterState([node("n1", "H100")], backpressure=LOW)
    # reference: G raised to 100 → 100; here G = 75 and the count is max(MIN, ⌊37.5⌋) = 100
    batch = allocate(prio, low)
    assert placed(batch) == {"hex8_2p": {"n1": 100}}
    assert batch.explanation.effective_games_per_config == 75


def test_backpressure_never_raises_g_below_min() -> None:
    """Reference quirk: gpc 50, m 0.9 → G raised to 100. Here G = ⌊45⌋."""
    cluster = ClusterState([node("n1", "H100")], backpressure=MILD)
    batch = allocate([P("hex8_2p", 0.1)], cluster, AllocationRequest(games_per_config=50))
    assert batch.explanation.effective_games_per_config == 45


def test_backpressure_pause_gives_an_empty_batch() -> None:
    cluster = ClusterState([node("n1", "H100")], backpressure=PAUSE)
    batch = allocate([P("hex8_2p", 1.0, 10)], cluster)
    assert batch.total_games == 0
    assert batch.placements == {}
    assert batch.explanation.mode == "paused"


def test_tiny_budget_examples() -> None:
    cluster = ClusterState([node("n1", "H100")])
    small = AllocationRequest(games_per_config=50)
    assert placed(allocate([P("hex8_2p", 0.1)], cluster, small)) == {"hex8_2p": {"n1": 100}}
    # adding an emergency config (floor ⌊2 × 50⌋ = 100) gives it 100 games too
    batch = allocate([P("hex8_2p", 0.1), P("hex8_3p", 0.0, 10)], cluster, small)
    assert totals(batch) == {"hex8_2p": 100, "hex8_3p": 100}
    # reference: a critical config (floor 75 < MIN) got nothing; here its 75 games are placed
    crit = allocate([P("hex8_2p", 0.1), P("hex8_3p", 0.0, 500)], cluster, small)
    assert placed(crit)["hex8_3p"] == {"n1": 75}


def test_games_per_config_zero_gives_min_per_eligible_config() -> None:
    batch = allocate(
        [P("hex8_2p", 0.3)],
        ClusterState([node("n1", "H100")]),
        AllocationRequest(games_per_config=0),
    )
    assert totals(batch) == {"hex8_2p": 100}


def test_max_configs_limits_the_scored_configs_but_not_the_floors() -> None:
    prios = [P("hex8_2p", 1.0), P("hex8_3p", 0.5), P("square8_2p", 0.2, 10)]
    batch = allocate(prios, ClusterState([node("n1", "GH200")]), AllocationRequest(max_configs=1))
    assert totals(batch) == {"hex8_2p": 750, "square8_2p": 1000}
    assert batch.explanation.skipped[K("hex8_3p")] == "below the top 1 configs"


# --- §batch upstream facts ------------------------------------------------------------------------


def test_node_capability_facts() -> None:
    assert available_capacity(node("a", "A100"), A) == 1.0
    assert available_capacity(node("a", "A100", 1.0), A) == 0.0
    assert capacity_weight(node("a", "H100"), A) == 2.0
    assert capacity_weight(node("a", "RTX3060"), A) == 1.0  # not a table row


def test_starvation_thresholds() -> None:
    assert POLICY.starvation.emergency_games < POLICY.starvation.critical_games
    assert (POLICY.starvation.emergency_games, POLICY.starvation.critical_games) == (100, 1000)


@pytest.mark.parametrize(
    ("games_count", "floor"), [(0, 1000), (99, 1000), (100, 750), (999, 750), (1000, 0)]
)
def test_floor_levels(games_count: int, floor: int) -> None:
    counts = enforce_starvation_floor({}, [P("hex8_2p", 0.0, games_count)], 500)
    assert counts.get(K("hex8_2p"), 0) == floor
