"""Unit tests for each allocation function and value (beyond the reference examples)."""

from __future__ import annotations

import itertools
import json

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfplay_core.allocation import (
    AllocationManager,
    AllocationRequest,
    BatchAllocation,
    allocate,
    allocate_to_configs,
    allocate_to_nodes,
)
from selfplay_core.allocation.capacity import batch_cap, games_cap, gpu_row, is_ephemeral_node_id
from selfplay_core.allocation.configs import largest_remainder, select_configs, unique_priorities
from selfplay_core.allocation.throttle import house_monotone_shares, monotone_reference_counts
from selfplay_core.allocation_policy import AllocationPolicy, BackpressureRules
from selfplay_core.cluster import Backpressure, ClusterState, NodeCapability, cluster_health_factor
from selfplay_core.codec import decode_value, encode_value
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.policy import PolicyError, SchedulerPolicy, from_mapping, to_mapping
from selfplay_core.values import ConfigPriority

POLICY = SchedulerPolicy()
A = POLICY.allocation
K = ConfigKey.parse


def P(key: str, score: float, games: int = 5000) -> ConfigPriority:
    return ConfigPriority(key, score, games)


# --- GPU names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "row"),
    [
        ("GH200", "GH200"),
        ("GH200 (96 GB)", "GH200"),
        ("H100 SXM", "H100"),
        ("H200 NVL", "H200"),
        ("A100 PCIe", "A100"),
        ("A100-SXM4-80GB", "A100_80"),
        ("A100 (80 GB)", "A100_80"),
        ("A10G", "A10"),
        ("8x RTX 4090", "RTX_4090"),
        ("rtx_4090", "RTX_4090"),
        ("RTX 3090 Ti", "RTX_3090"),
        ("none", "CPU"),
        ("RTX 5090", None),
        ("unknown", None),
        ("", None),
    ],
)
def test_gpu_names_find_their_rows(name: str, row: str | None) -> None:
    assert gpu_row(name, A) == row


def test_free_text_gh200_gets_its_table_weight_and_cap() -> None:
    """Reference: "GH200 (96 GB)" and "A100" split 1000 games 500/500 (weight 1.0 for both)."""
    cluster = ClusterState(
        [NodeCapability("gh", gpu_type="GH200 (96 GB)"), NodeCapability("a", gpu_type="A100")]
    )
    per_node = allocate_to_nodes({K("hex8_2p"): 1000}, cluster).placements[K("hex8_2p")]
    assert per_node == {"gh": 705, "a": 295}
    assert games_cap(NodeCapability("x", gpu_type="H100 SXM"), A) == 1500


def test_ephemeral_helpers() -> None:
    assert is_ephemeral_node_id("Vast-123", A)
    assert is_ephemeral_node_id("my-runpod-1", A)
    assert not is_ephemeral_node_id("lambda-gh200", A)
    assert batch_cap(NodeCapability("v", gpu_type="A100", is_ephemeral=True), A) == 1200


# --- values -------------------------------------------------------------------------------


def test_cluster_state_keeps_one_node_per_id_ordered_by_id() -> None:
    a1 = NodeCapability("b", gpu_type="A100")
    a2 = NodeCapability("b", gpu_type="H100")
    cluster = ClusterState([a1, NodeCapability("a"), a2])
    assert [n.node_id for n in cluster.nodes] == ["a", "b"]
    assert cluster.nodes[1].gpu_type == "H100"


def test_cluster_state_validation() -> None:
    with pytest.raises(ValueError, match="health_factor"):
        ClusterState(health_factor=1.5)
    with pytest.raises(ValueError, match=r"overloaded_until\.n1"):
        ClusterState(overloaded_until={"n1": float("nan")})
    with pytest.raises(TypeError, match="nodes"):
        ClusterState(nodes=["n1"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="queue_pressure"):
        Backpressure(queue_pressure=-0.1)


def test_overload_backoff_excludes_a_node_until_it_ends() -> None:
    cluster = ClusterState([NodeCapability("n1", gpu_type="H100")], overloaded_until={"n1": 60.0})
    assert cluster.is_under_backoff("n1", 59.0)
    before = allocate_to_nodes({K("hex8_2p"): 500}, cluster, now=59.0)
    assert before.placements == {}
    assert before.excluded_nodes["n1"].startswith("overload backoff")
    after = allocate_to_nodes({K("hex8_2p"): 500}, cluster, now=60.0)
    assert after.placements[K("hex8_2p")] == {"n1": 500}


def test_unhealthy_nodes_are_excluded() -> None:
    cluster = ClusterState([NodeCapability("n1"), NodeCapability("n2")], unhealthy_nodes={"n1"})
    placement = allocate_to_nodes({K("hex8_2p"): 500}, cluster)
    assert placement.placements[K("hex8_2p")] == {"n2": 500}
    assert placement.excluded_nodes == {"n1": "unhealthy"}


def test_cluster_health_factor_rule() -> None:
    assert cluster_health_factor(1, 10, A) == 0.3
    assert cluster_health_factor(7, 10, A) == 0.7
    assert cluster_health_factor(12, 10, A) == 1.0
    assert cluster_health_factor(0, 0, A) == 0.5


def test_request_validation() -> None:
    with pytest.raises(ValueError, match="games_per_config"):
        AllocationRequest(games_per_config=-1)
    with pytest.raises(ValueError, match="now"):
        AllocationRequest(now=float("inf"))
    with pytest.raises(ValueError, match="max_configs"):
        AllocationRequest(max_configs=-1)


# --- policy -------------------------------------------------------------------------------


def test_allocation_policy_round_trips_through_a_mapping() -> None:
    mapping = to_mapping(POLICY)
    assert json.loads(json.dumps(mapping)) == mapping
    assert from_mapping(mapping) == POLICY
    custom = json.loads(json.dumps(mapping))
    custom["allocation"]["games_per_node"]["RTX_5090"] = 900
    custom["allocation"]["gpu_aliases"]["5090"] = "RTX_5090"
    policy = from_mapping(custom)
    node = NodeCapability("x", gpu_type="RTX 5090")
    assert games_cap(node, policy.allocation) == 900


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("min_games_per_allocation",), 0, "min_games_per_allocation"),
        (("gpu_weights", "H100"), -1.0, "gpu_weights"),
        (("gpu_aliases", "5090"), "RTX_5090", "gpu_aliases"),
        (("backpressure", "low_pressure"), 0.95, "backpressure"),
    ],
)
def test_allocation_policy_rejects_bad_values(path: tuple[str, ...], value: object, field: str):
    mapping = json.loads(json.dumps(to_mapping(POLICY)))
    target = mapping["allocation"]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(PolicyError, match=field):
        from_mapping(mapping)


def test_backpressure_rules_reject_unknown_pressures() -> None:
    with pytest.raises(ValueError, match="unknown pressure"):
        BackpressureRules(weights={"cpu": 1.0})


# --- configs → games ----------------------------------------------------------------------


def test_largest_remainder_sums_exactly_and_breaks_ties_canonically() -> None:
    shares = largest_remainder(
        10, [(K("square8_2p"), 1.0), (K("hex8_2p"), 1.0), (K("hex8_3p"), 1.0)]
    )
    assert shares == {K("square8_2p"): 3, K("hex8_2p"): 4, K("hex8_3p"): 3}
    assert largest_remainder(0, [(K("hex8_2p"), 1.0)]) == {K("hex8_2p"): 0}
    assert largest_remainder(5, [(K("hex8_2p"), 0.0)]) == {K("hex8_2p"): 0}


def test_largest_remainder_of_a_huge_total_hands_out_the_shortfall_in_rounds() -> None:
    # the float quotas of 7.001e24 games fall short by 228,589,568 games: handed out one at a
    # time (as a tampered log's budget once made it) that loop ran for minutes
    total = 7_001 * 10**21
    weights = [(K("hex8_2p"), 0.7), (K("hex8_3p"), 1.3), (K("square8_3p"), 2.9)]
    shares = largest_remainder(total, weights)
    assert sum(shares.values()) == total
    quotas = [total * (w / 4.9) for _, w in weights]
    assert all(abs(shares[k] - q) <= 10**9 for (k, _), q in zip(weights, quotas, strict=True))


@given(
    total=st.integers(min_value=0, max_value=10**30),
    weights=st.lists(
        st.floats(min_value=0.0, max_value=1e9, allow_nan=False), min_size=1, max_size=12
    ),
)
def test_largest_remainder_conserves_any_total(total: int, weights: list[float]) -> None:
    """Conservation for every total a request may carry: float quotas may fall short or
    overshoot by many games when the total is huge; the shares still sum to it exactly."""
    keyed = list(zip(ALL_CONFIGS, weights, strict=False))
    shares = largest_remainder(total, keyed)
    assert all(share >= 0 for share in shares.values())
    if any(w > 0 for _, w in keyed):
        assert sum(shares.values()) == total
    else:
        assert sum(shares.values()) == 0


def test_allocate_to_configs_reference_mode() -> None:
    counts = allocate_to_configs([P("hex8_2p", 0.5), P("hex8_3p", 0.01), P("hex8_4p", 0.0)], 500)
    assert counts == {K("hex8_2p"): 500, K("hex8_3p"): 255}


def test_allocate_to_configs_budget_mode() -> None:
    counts = allocate_to_configs([P("hex8_2p", 0.5), P("hex8_3p", 0.5)], 500, target_games=1001)
    assert counts == {K("hex8_2p"): 501, K("hex8_3p"): 500}
    held = allocate_to_configs(
        [P("hex8_2p", 0.5), P("hex8_3p", 0.5)], 500, target_games=1000, reserved={K("hex8_4p"): 400}
    )
    assert held == {K("hex8_2p"): 300, K("hex8_3p"): 300, K("hex8_4p"): 400}


def test_budget_mode_reserves_floors_and_minimums_then_shares_the_rest() -> None:
    cluster = ClusterState([NodeCapability(f"n{i}", gpu_type="GH200") for i in range(4)])
    prios = [P("hex8_2p", 1.0), P("hex8_4p", 0.2), P("square8_3p", 0.0, 50)]
    batch = allocate(prios, cluster, AllocationRequest(target_games=4000))
    # square8_3p: emergency floor 1000; hex8_4p: 4p minimum 750; 2250 left by weights 1.5 : 0.7
    assert {str(k): v for k, v in batch.games_by_config.items()} == {
        "hex8_2p": 1534,
        "hex8_4p": 750 + 716,
        "square8_3p": 1000,
    }
    assert batch.total_games == batch.placed_games == 4000


def test_budget_mode_floors_and_minimums_scale_with_the_budget() -> None:
    """N = 1000 over 12 configs: G = ⌊1000/12⌋ = 83, so the 4p minimum is ⌊1.5·83⌋ = 124 (not
    750, which would hand the whole budget to the four 4p configs)."""
    prios = [P(str(k), 0.1 + 0.07 * i) for i, k in enumerate(ALL_CONFIGS)]
    nodes = [NodeCapability(f"n{i}", gpu_type="H100") for i in range(4)]
    batch = allocate(prios, ClusterState(nodes), AllocationRequest(target_games=1000))
    assert batch.explanation.effective_games_per_config == 83
    assert batch.total_games == 1000
    assert len(batch.games_by_config) == 12
    for key, games in batch.games_by_config.items():
        if key.players == 4:
            assert games >= 124
    assert batch.explanation.unmet == ()


def test_budget_below_the_floors_is_scaled_and_reported() -> None:
    prios = [P("hex8_2p", 0.0, 0), P("hex8_3p", 0.0, 500)]
    batch = allocate(
        prios,
        ClusterState([NodeCapability("n", gpu_type="GH200")]),
        AllocationRequest(target_games=700),
    )
    assert batch.total_games == 700
    assert {str(k): v for k, v in batch.games_by_config.items()} == {"hex8_2p": 400, "hex8_3p": 300}
    kinds = {(str(u.config_key), u.kind) for u in batch.explanation.unmet}
    assert kinds == {("hex8_2p", "starvation_floor"), ("hex8_3p", "starvation_floor")}


def test_budget_throttled_is_scaled_from_the_unthrottled_decision() -> None:
    cluster = ClusterState(
        [NodeCapability("n", gpu_type="GH200")], backpressure=Backpressure(0.6, 0.6, 0.6, 0.6, 0.6)
    )
    batch = allocate(
        [P("hex8_2p", 0.5), P("hex8_3p", 1.5)], cluster, AllocationRequest(target_games=1000)
    )
    assert batch.explanation.effective_budget == 500
    assert {str(k): v for k, v in batch.games_by_config.items()} == {"hex8_2p": 167, "hex8_3p": 333}


# --- throttles compose: a tighter one never gives a config more ---------------------------


def _games(batch: BatchAllocation) -> dict[str, int]:
    return {str(k): v for k, v in batch.games_by_config.items()}


def test_hypothesis_counterexample_health_then_backpressure() -> None:
    """G 500 × health 0.3 = 150: square19_2p (150) gives 75 to hex8_4p (150 → 225). Adding
    backpressure (×0.5 → G 75) used to give 88: at G 75 both sit at MIN 100 and the 4p step
    takes only 12. The throttled count is now the smallest of any G in [75, 500]."""
    busy = {"hex8_4p", "square19_2p"}
    prios = [P(str(k), 0.5, 1000) if str(k) in busy else P(str(k), 0.0, 0) for k in ALL_CONFIGS]
    request = AllocationRequest(games_per_config=500, max_configs=2)
    health = ClusterState(health_factor=0.3)
    bp = Backpressure(queue_pressure=1.0, disk_pressure=1.0, memory_pressure=1.0)
    both = attrs.evolve(health, backpressure=bp)
    full = _games(allocate(prios, ClusterState(), request))
    free = _games(allocate(prios, health, request))
    throttled_batch = allocate(prios, both, request)
    throttled = _games(throttled_batch)
    assert throttled_batch.explanation.effective_games_per_config == 75
    assert (full["square19_2p"], free["square19_2p"], throttled["square19_2p"]) == (250, 75, 50)
    assert (full["hex8_4p"], free["hex8_4p"], throttled["hex8_4p"]) == (750, 225, 112)
    # the starved configs follow their floors 2G: 1000, 300, 150
    assert (full["hex8_2p"], free["hex8_2p"], throttled["hex8_2p"]) == (1000, 300, 150)
    for key, games in throttled.items():
        assert games <= free[key] <= full[key], key


def test_budget_throttle_has_no_alabama_paradox() -> None:
    """Largest remainder on 6/6/2 gives hex8_4p 2 of 10 games but 1 of 11; the throttled budget
    is shared by Sainte-Laguë, which never takes a game away when the total grows."""
    weights = {K("hex8_2p"): 6, K("hex8_3p"): 6, K("hex8_4p"): 2}
    lr = [(k, float(w)) for k, w in weights.items()]
    assert largest_remainder(10, lr)[K("hex8_4p")] > largest_remainder(11, lr)[K("hex8_4p")]
    shares = [house_monotone_shares(t, weights) for t in range(15)]
    for smaller, larger in itertools.pairwise(shares):
        assert all(smaller[k] <= larger[k] for k in weights)
    assert [sum(s.values()) for s in shares] == list(range(15))
    assert shares[14] == weights
    assert {str(k): v for k, v in shares[10].items()} == {"hex8_2p": 5, "hex8_3p": 4, "hex8_4p": 1}


def test_budget_counterexample_health_then_backpressure() -> None:
    """Found by search against the old largest-remainder rule: square19_3p got 0 games at health
    0.58 and 1 game with backpressure on top. Now 1, then 0."""
    prios = [P("square19_3p", 1.51), P("hex8_4p", 0.02), P("square19_4p", 0.78)]
    request = AllocationRequest(target_games=1477)
    health = ClusterState(health_factor=0.58)
    both = attrs.evolve(health, backpressure=Backpressure(0.41, 0.41, 0.41, 0.41, 0.41))
    free = allocate(prios, health, request)
    throttled = allocate(prios, both, request)
    assert (free.explanation.effective_budget, throttled.explanation.effective_budget) == (856, 699)
    assert _games(free) == {"hex8_4p": 428, "square19_3p": 1, "square19_4p": 427}
    assert _games(throttled) == {"hex8_4p": 350, "square19_4p": 349}


def test_monotone_reference_counts_at_one_g_is_the_reference_count() -> None:
    prios = [P("hex8_2p", 0.9), P("hex8_4p", 0.1), P("square8_2p", 0.2, 500)]
    unique = unique_priorities(prios)
    eligible, _ = select_configs(unique, 12)
    at_500 = monotone_reference_counts(unique, eligible, 500, 500, POLICY)
    assert {str(k): v for k, v in at_500.items()} == {
        "hex8_2p": 250,
        "hex8_4p": 750,
        "square8_2p": 750,
    }


# --- the batch ----------------------------------------------------------------------------


def test_batch_allocation_round_trips_through_the_codec() -> None:
    cluster = ClusterState(
        [NodeCapability("n1", gpu_type="H100"), NodeCapability("vast-2", is_ephemeral=True)],
        unhealthy_nodes={"x"},
        overloaded_until={"n9": 5.0},
        health_factor=0.75,
        backpressure=Backpressure(0.4),
    )
    prios = [P(str(k), 0.1 * i, 200 * i) for i, k in enumerate(ALL_CONFIGS)]
    request = AllocationRequest(target_games=3000, now=1.0)
    batch = allocate(prios, cluster, request)
    wire = json.loads(json.dumps(encode_value(batch)))
    assert decode_value(wire, BatchAllocation).unwrap() == batch
    assert (
        decode_value(json.loads(json.dumps(encode_value(cluster))), ClusterState).unwrap()
        == cluster
    )
    assert decode_value(encode_value(request), AllocationRequest).unwrap() == request


def test_empty_inputs() -> None:
    batch = allocate([], ClusterState())
    assert batch.total_games == 0
    assert batch.explanation.mode == "reference"
    assert allocate_to_nodes({}, ClusterState()).placements == {}


def test_manager_is_a_thin_face() -> None:
    manager = AllocationManager(POLICY)
    cluster = ClusterState([NodeCapability("n1", gpu_type="H100")])
    prios = [P("hex8_2p", 0.5)]
    assert manager.allocate(prios, cluster) == allocate(prios, cluster)
    via_reference_names = manager.allocate_selfplay_batch(prios, cluster, 400, 12, target_games=600)
    assert via_reference_names.total_games == 600
    assert manager.allocate_to_nodes({K("hex8_2p"): 300}, cluster).placements[K("hex8_2p")] == {
        "n1": 300
    }


def test_custom_min_chunk() -> None:
    policy = attrs.evolve(POLICY, allocation=attrs.evolve(A, min_games_per_allocation=50))
    cluster = ClusterState([NodeCapability(f"n{i}", gpu_type="H100") for i in range(4)])
    placement = allocate_to_nodes({K("hex8_2p"): 200}, cluster, policy)
    assert sorted(placement.placements[K("hex8_2p")].values()) == [50, 50, 50, 50]
    default = allocate_to_nodes({K("hex8_2p"): 200}, cluster)
    assert sorted(default.placements[K("hex8_2p")].values()) == [100, 100]


def test_policy_validation_messages_name_the_field() -> None:
    with pytest.raises(ValueError, match="ephemeral_short_factor"):
        AllocationPolicy(ephemeral_short_factor=-1.0)


_SEED_SCRIPT = """
import json
from selfplay_core.allocation import (
    AllocationRequest, Backpressure, ClusterState, NodeCapability, allocate)
from selfplay_core.codec import encode_value
from selfplay_core.configs import ALL_CONFIGS
from selfplay_core.values import ConfigPriority
gpus = ["H100", "GH200 (96 GB)", "A100", "RTX_4090", "x"] * 6
nodes = [NodeCapability(f"n{i}", gpu_type=g, current_load=i / 40, is_ephemeral=i % 5 == 0)
         for i, g in enumerate(gpus)]
cluster = ClusterState(
    reversed(nodes), frozenset({"n3", "n7"}), {"n4": 10.0}, 0.8, Backpressure(0.3))
prios = [ConfigPriority(k, (i * 0.37) % 1.3 - 0.1, (i * 731) % 3000)
         for i, k in enumerate(ALL_CONFIGS)]
requests = [AllocationRequest(), AllocationRequest(target_games=7777, now=5.0),
            AllocationRequest(games_per_config=90, max_configs=5)]
print(json.dumps([encode_value(allocate(prios, cluster, r)) for r in requests]))
"""


def test_output_is_byte_identical_whatever_the_hash_seed() -> None:
    import os
    import subprocess
    import sys

    outputs = set()
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", _SEED_SCRIPT], env=env, capture_output=True, check=True
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1
    assert b"hex8_2p" in next(iter(outputs))
