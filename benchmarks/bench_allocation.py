"""Allocation speed: the issue's two targets and how the time grows with nodes and configs.

- `allocate` of 1,000 games (budget mode) over the 12 configs and 50 nodes: median µs
  (target ≤ 300 µs; the reference needs about 2 ms).
- 10,000 nodes × 100 configs (target ≤ 1 s). `ConfigKey` has only 12 values, so the 100-config
  case times the node-placement engine (`allocation_nodes.place_demands`, the part whose cost
  is nodes × configs) on 100 synthetic demands, each standing for one config (every 4th one a
  large board), with node preparation included. The config-level steps (floors, 4p minimums,
  apportionment) are O(configs) and are timed with the real 12 configs in `allocate`.
- Scale: full `allocate` of 12 configs on 10,000 nodes (target ≤ 150 ms) and on 100,000 nodes
  (target ≤ 1.5 s), with G = 2 × nodes so every node takes games.
- Growth tables: full `allocate` over 100 … 100,000 nodes (12 configs), and placement over
  12 … 100 demands (1,000 nodes); `us_per_node_config` staying flat or falling means the time
  grows no faster than nodes × configs.
"""

from __future__ import annotations

import time

from benchmarks._timing import median_seconds
from selfplay_core.allocation import AllocationRequest, allocate
from selfplay_core.allocation.nodes import _Nodes, place_demands
from selfplay_core.cluster import ClusterState, NodeCapability
from selfplay_core.configs import ALL_CONFIGS
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.values import ConfigPriority

POLICY = SchedulerPolicy()
GPUS = ("GH200", "H100", "A100", "RTX_4090", "GH200 (96 GB)", "A10", "H100 SXM", "unknown")


def cluster(n: int) -> ClusterState:
    """`n` nodes: a mix of GPU names, loads 0 … 0.45, one in nine ephemeral, a few unhealthy."""
    nodes = [
        NodeCapability(
            f"node-{i:05d}",
            gpu_type=GPUS[i % len(GPUS)],
            current_load=(i % 10) / 20,
            is_ephemeral=i % 9 == 0,
            data_lag_seconds=float(i % 7),
        )
        for i in range(n)
    ]
    unhealthy = frozenset(f"node-{i:05d}" for i in range(0, n, 97))
    return ClusterState(nodes, unhealthy)


PRIORITIES = tuple(
    ConfigPriority(key, 0.1 + 0.07 * i, 2000 + 500 * i) for i, key in enumerate(ALL_CONFIGS)
)


def _best_of(fn: object, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best


def _placement_seconds(nodes: int, demands: int, games_per_demand: int) -> float:
    state = cluster(nodes)
    totals = [games_per_demand] * demands
    large = [j % 4 == 3 for j in range(demands)]
    alloc = POLICY.allocation

    def run() -> None:
        place_demands(totals, large, _Nodes(state, 0.0, alloc), alloc)

    return _best_of(run)


def run() -> dict[str, object]:
    c50 = cluster(50)
    budget = AllocationRequest(target_games=1000)
    small = median_seconds(lambda: allocate(PRIORITIES, c50, budget, POLICY), repeat=300)
    reference = median_seconds(
        lambda: allocate(PRIORITIES, c50, AllocationRequest(), POLICY), repeat=300
    )

    c10k = cluster(10_000)
    big_request = AllocationRequest(games_per_config=20_000)
    full_10k = _best_of(lambda: allocate(PRIORITIES, c10k, big_request, POLICY))
    # 100 configs of 50,000 games each: 5M games, about half the 10,000 nodes' caps
    placement_100 = _placement_seconds(10_000, 100, 50_000)

    by_nodes = []
    for n in (100, 1_000, 10_000, 100_000):
        state = cluster(n)
        request = AllocationRequest(games_per_config=max(500, 2 * n))
        seconds = _best_of(lambda s=state, r=request: allocate(PRIORITIES, s, r, POLICY))
        by_nodes.append(
            {
                "nodes": n,
                "configs": 12,
                "seconds": round(seconds, 6),
                "us_per_node_config": round(seconds * 1e6 / (n * 12), 3),
            }
        )
    by_configs = []
    for k in (12, 25, 50, 100):
        seconds = _placement_seconds(1_000, k, 5_000)
        by_configs.append(
            {
                "nodes": 1_000,
                "configs": k,
                "seconds": round(seconds, 6),
                "us_per_node_config": round(seconds * 1e6 / (1_000 * k), 3),
            }
        )
    scale = {row["nodes"]: row["seconds"] for row in by_nodes}
    return {
        "allocate_1000_games_12_configs_50_nodes_median_us": round(small * 1e6, 1),
        "allocate_1000_games_target_us": 300,
        "allocate_reference_mode_12_configs_50_nodes_median_us": round(reference * 1e6, 1),
        "allocate_12_configs_10000_nodes_s": round(full_10k, 4),
        "allocate_12_configs_10000_nodes_g_20000_s": scale[10_000],
        "allocate_12_configs_10000_nodes_target_s": 0.15,
        "allocate_12_configs_100000_nodes_g_200000_s": scale[100_000],
        "allocate_12_configs_100000_nodes_target_s": 1.5,
        "placement_100_configs_10000_nodes_s": round(placement_100, 4),
        "placement_100_configs_10000_nodes_target_s": 1.0,
        "growth_over_nodes": by_nodes,
        "growth_over_configs": by_configs,
        "note": (
            "100-config figures time node placement (place_demands) on synthetic demands; "
            "ConfigKey has 12 values. Medians/best-of on a shared 2-core machine."
        ),
    }
