"""Hypothesis strategies for allocation inputs: nodes, clusters, priorities, requests.

Use them to check your own policy: `clusters()`, `priorities()` and `requests()` draw values
that exercise every rule (ephemeral and large-board limits, unknown and free-text GPU names,
overload backoff, unhealthy nodes, starvation, throttling, health).
"""

from __future__ import annotations

from hypothesis import strategies as st

from selfplay_core.allocation.values import AllocationRequest
from selfplay_core.cluster import Backpressure, ClusterState, NodeCapability
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.values import ConfigPriority

GPU_NAMES = (
    "GH200",
    "H100",
    "H200",
    "A100",
    "A100_80",
    "A10",
    "RTX_4090",
    "RTX_3090",
    "CPU",
    "unknown",
    "GH200 (96 GB)",
    "H100 SXM",
    "A100 PCIe",
    "8x RTX 4090",
    "RTX 5090",
    "none",
)

config_keys = st.sampled_from(ALL_CONFIGS)
node_ids = st.builds(
    "{}{}".format, st.sampled_from(("vast-", "node-", "gpu-")), st.integers(0, 999)
)


@st.composite
def nodes(draw: st.DrawFn, node_id: str | None = None) -> NodeCapability:
    """One node: a GPU name (table row, free text or unknown), a load that is usually in [0, 1]
    (sometimes above, sometimes a little below), ephemeral or not."""
    nid = node_id if node_id is not None else draw(node_ids)
    return NodeCapability(
        node_id=nid,
        gpu_type=draw(st.sampled_from(GPU_NAMES)),
        gpu_memory_gb=draw(st.sampled_from((0.0, 24.0, 80.0, 96.0))),
        is_ephemeral=draw(st.booleans()),
        current_load=draw(
            st.one_of(
                st.floats(0.0, 0.8, allow_nan=False),
                st.sampled_from((0.0, 0.0, 0.25, 0.5, 0.89, 0.9, 1.0, 1.2, -0.1)),
            )
        ),
        current_jobs=draw(st.integers(0, 8)),
        data_lag_seconds=draw(st.sampled_from((0.0, 5.0, 50.0))),
    )


_pressure = st.one_of(st.floats(0.0, 1.0), st.sampled_from((0.0, 0.2, 0.5, 0.8, 1.0)))
backpressures = st.builds(
    Backpressure,
    queue_pressure=_pressure,
    training_pressure=_pressure,
    disk_pressure=_pressure,
    sync_pressure=_pressure,
    memory_pressure=_pressure,
)


@st.composite
def clusters(
    draw: st.DrawFn,
    *,
    min_nodes: int = 0,
    max_nodes: int = 8,
    with_backpressure: bool = True,
    with_health: bool = True,
) -> ClusterState:
    """A cluster of `min_nodes` to `max_nodes` nodes (unique ids), some unhealthy, some under
    overload backoff (until times around 0), and optionally backpressure and health < 1."""
    ids = draw(st.lists(node_ids, min_size=min_nodes, max_size=max_nodes, unique=True))
    members = [draw(nodes(node_id=nid)) for nid in ids]
    unhealthy = (
        draw(st.frozensets(st.sampled_from(ids), max_size=len(ids) // 3))
        if ids
        else frozenset[str]()
    )
    overloaded = (
        draw(
            st.dictionaries(
                st.sampled_from(ids), st.sampled_from((-10.0, 0.0, 30.0)), max_size=len(ids) // 3
            )
        )
        if ids
        else {}
    )
    health = draw(st.sampled_from((1.0, 1.0, 0.3, 0.5, 0.75))) if with_health else 1.0
    bp = draw(st.one_of(st.none(), st.none(), backpressures)) if with_backpressure else None
    return ClusterState(members, unhealthy, overloaded, health, bp)


def scores() -> st.SearchStrategy[float]:
    return st.one_of(
        st.floats(-1.0, 3.0, allow_nan=False, allow_infinity=False),
        st.sampled_from((0.0, 0.05, 0.1, 0.5, 1.0, 15.0)),
    )


game_counts = st.one_of(st.integers(0, 20_000), st.sampled_from((0, 50, 99, 100, 999, 1000, 5000)))


@st.composite
def priorities(
    draw: st.DrawFn, *, min_size: int = 0, max_size: int = 12
) -> tuple[ConfigPriority, ...]:
    """Priorities for distinct configs, in an arbitrary order."""
    keys: list[ConfigKey] = draw(
        st.lists(config_keys, min_size=min_size, max_size=max_size, unique=True)
    )
    return tuple(ConfigPriority(k, draw(scores()), draw(game_counts)) for k in keys)


@st.composite
def requests(draw: st.DrawFn, *, budget: bool | None = None) -> AllocationRequest:
    """A request in reference mode, budget mode, or either (`budget=None`)."""
    use_budget = draw(st.booleans()) if budget is None else budget
    return AllocationRequest(
        games_per_config=draw(st.one_of(st.integers(0, 2000), st.sampled_from((50, 100, 500)))),
        max_configs=draw(st.integers(0, 12)),
        target_games=draw(st.integers(0, 20_000)) if use_budget else None,
        now=draw(st.sampled_from((0.0, 10.0))),
    )
