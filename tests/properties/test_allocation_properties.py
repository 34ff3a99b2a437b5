"""The allocation guarantees of issue 3, as hypothesis properties."""

from __future__ import annotations

import attrs
from hypothesis import event, example, given
from hypothesis import strategies as st

from selfplay_core.allocation import AllocationRequest, allocate
from selfplay_core.allocation.batch import _reference_counts
from selfplay_core.allocation.configs import (
    reference_games,
    select_configs,
    starvation_level,
    unique_priorities,
)
from selfplay_core.allocation.throttle import house_monotone_shares, monotone_reference_counts
from selfplay_core.cluster import Backpressure, ClusterState
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.testing.guarantees import check_batch
from selfplay_core.testing.strategies import backpressures, clusters, priorities, requests
from selfplay_core.values import ConfigPriority

POLICY = SchedulerPolicy()


@given(priorities(), clusters(), requests())
def test_every_batch_keeps_every_guarantee(prios, cluster, request) -> None:
    """Conservation, caps over the whole batch, MIN chunks, eligible nodes only, floors and 4p
    minimums met or reported, donors above their guards, budget sums to N."""
    batch = allocate(prios, cluster, request, POLICY)
    check_batch(batch, prios, cluster, request, POLICY)
    event(f"mode {batch.explanation.mode}")
    event("some games unplaced" if batch.unplaced else "all placed")
    event("a constraint unmet" if batch.explanation.unmet else "constraints met")
    event("4p transfer" if any(d.received for d in batch.explanation.configs) else "no transfer")
    event(f"{len(batch.nodes)} nodes used" if len(batch.nodes) < 3 else "3+ nodes used")


@given(priorities(), clusters(), requests())
def test_deterministic(prios, cluster, request) -> None:
    assert allocate(prios, cluster, request, POLICY) == allocate(prios, cluster, request, POLICY)


@given(priorities(), clusters(), requests(), st.randoms(use_true_random=False))
def test_independent_of_input_order(prios, cluster, request, rnd) -> None:
    shuffled_prios = list(prios)
    rnd.shuffle(shuffled_prios)
    shuffled_nodes = list(cluster.nodes)
    rnd.shuffle(shuffled_nodes)
    other = attrs.evolve(cluster, nodes=shuffled_nodes)
    assert allocate(shuffled_prios, other, request, POLICY) == allocate(
        prios, cluster, request, POLICY
    )


def _counterexample_prios(busy: set[str], score: float) -> tuple[ConfigPriority, ...]:
    """As hypothesis found them: `busy` at `score` with 1000 games, the rest starved at 0."""
    return tuple(
        ConfigPriority(k, score, 1000) if str(k) in busy else ConfigPriority(k, 0.0, 0)
        for k in ALL_CONFIGS
    )


# G 500 at health 0.3 is 150: square19_2p (150) gives 75 to hex8_4p (150 → 225); throttled
# further to G 75 both sit at MIN 100 and square19_2p gave only 12 (88 > 75) before the fix
@example(
    prios=_counterexample_prios({"hex8_4p", "square19_2p"}, 0.5),
    cluster=ClusterState(health_factor=0.3),
    request=AllocationRequest(games_per_config=500, max_configs=2),
    bp=Backpressure(queue_pressure=1.0, disk_pressure=1.0, memory_pressure=1.0),
)
@given(priorities(), clusters(with_backpressure=False), requests(), backpressures)
def test_throttling_never_raises_a_count(prios, cluster, request, bp) -> None:
    free = allocate(prios, cluster, request, POLICY)
    throttled = allocate(prios, attrs.evolve(cluster, backpressure=bp), request, POLICY)
    for key, games in throttled.games_by_config.items():
        assert games <= free.games_by_config.get(key, 0), key


# soak find: backpressure at G 101, then health 0 (G 0) gave hex8_2p 51 > 50
@example(
    prios=_counterexample_prios({"hex8_2p", "hex8_4p"}, 0.05),
    cluster=ClusterState(backpressure=Backpressure(disk_pressure=1.0, memory_pressure=1.0)),
    request=AllocationRequest(games_per_config=102, max_configs=2),
    health=0.0,
)
@given(
    priorities(),
    clusters(with_health=False),
    requests(),
    st.floats(0.0, 1.0, allow_nan=False),
)
def test_health_factor_never_raises_a_count(prios, cluster, request, health) -> None:
    full = allocate(prios, cluster, request, POLICY)
    degraded = allocate(prios, attrs.evolve(cluster, health_factor=health), request, POLICY)
    for key, games in degraded.games_by_config.items():
        assert games <= full.games_by_config.get(key, 0), key


@given(
    priorities(min_size=1),
    clusters(),
    requests(budget=True),
    st.data(),
    st.floats(0.0, 5.0, allow_nan=False),
)
def test_budget_raising_a_score_never_lowers_its_total(prios, cluster, request, data, bump):
    i = data.draw(st.integers(0, len(prios) - 1))
    raised = list(prios)
    raised[i] = attrs.evolve(prios[i], score=prios[i].score + bump)
    before = allocate(prios, cluster, request, POLICY).games_by_config.get(prios[i].config_key, 0)
    after = allocate(raised, cluster, request, POLICY).games_by_config.get(prios[i].config_key, 0)
    assert after >= before


@given(priorities(), clusters(with_backpressure=False, with_health=False), requests(budget=False))
def test_reference_mode_counts_follow_the_reference_formula(prios, cluster, request) -> None:
    """Unthrottled reference mode: an eligible config that is neither starved nor touched by
    the 4p step gets exactly max(MIN, ⌊G·(0.5 + s)⌋), whatever the nodes."""
    batch = allocate(prios, cluster, request, POLICY)
    decisions = {d.config_key: d for d in batch.explanation.configs}
    ranked = sorted(prios, key=lambda p: (-p.score, p.config_key.index))[: request.max_configs]
    for p in ranked:
        d = decisions[p.config_key]
        if p.score <= 0 or starvation_level(p.games_count, POLICY) != "none":
            continue
        if d.donated or d.received:
            continue
        expected = reference_games(p.score, request.games_per_config, POLICY)
        assert batch.games_by_config[p.config_key] == expected


@given(priorities(), clusters(with_backpressure=False, with_health=False), requests(budget=True))
def test_budget_mode_shares_exactly_n_when_capacity_allows(prios, cluster, request) -> None:
    batch = allocate(prios, cluster, request, POLICY)
    if batch.games_by_config:
        assert batch.total_games == request.target_games
        if not batch.unplaced:
            assert batch.placed_games == request.target_games


@given(priorities(), clusters())
def test_pause_gives_an_empty_batch_that_says_why(prios, cluster) -> None:
    paused = attrs.evolve(cluster, backpressure=Backpressure(1.0, 1.0, 1.0, 1.0, 1.0))
    batch = allocate(prios, paused, AllocationRequest(), POLICY)
    assert batch.total_games == 0
    assert batch.explanation.paused
    assert "pause" in batch.explanation.summary


@given(priorities(min_size=1), requests())
def test_no_eligible_node_reports_everything_unplaced(prios, request) -> None:
    batch = allocate(prios, ClusterState(), request, POLICY)
    assert batch.placed_games == 0
    assert dict(batch.unplaced) == dict(batch.games_by_config)
    for key in batch.unplaced:
        assert batch.explanation.unplaced_reasons[key] == "no eligible node"


def test_priorities_with_a_repeated_config_keep_the_best() -> None:
    a = ConfigPriority("hex8_2p", 0.2, 5000)
    b = ConfigPriority("hex8_2p", 0.9, 5000)
    cluster = ClusterState()
    assert allocate([a, b], cluster) == allocate([b, a], cluster)
    assert allocate([a, b], cluster).games_by_config[ConfigKey.parse("hex8_2p")] == 700


@given(
    priorities(),
    st.integers(0, 12),
    st.integers(0, 300),
    st.integers(0, 40),
)
def test_throttled_reference_count_is_the_smallest_over_every_milder_g(
    prios, max_configs, g_low, width
) -> None:
    """The throttled count at G_eff is the minimum of the reference-mode counts over every G
    from G_eff to the unthrottled G (brute force over a short range)."""
    unique = unique_priorities(prios)
    eligible, _ = select_configs(unique, max_configs)
    g_high = g_low + width
    expected: dict[ConfigKey, int] = {}
    for g in range(g_low, g_high + 1):
        counts = _reference_counts(unique, eligible, g, POLICY).counts
        for key in set(expected) | set(counts):
            here = counts.get(key, 0)
            expected[key] = here if g == g_low else min(expected.get(key, 0), here)
    expected = {k: n for k, n in expected.items() if n > 0}
    got = monotone_reference_counts(unique, eligible, g_low, g_high, POLICY)
    assert got == expected


@given(st.dictionaries(st.sampled_from(ALL_CONFIGS), st.integers(0, 3000)), st.data())
def test_throttled_budget_shares_are_house_monotone(weights, data) -> None:
    whole = sum(weights.values())
    smaller = data.draw(st.integers(0, whole))
    larger = data.draw(st.integers(smaller, whole))
    low = house_monotone_shares(smaller, weights)
    high = house_monotone_shares(larger, weights)
    assert sum(low.values()) == smaller
    assert sum(high.values()) == larger
    for key, w in weights.items():
        assert 0 <= low[key] <= high[key] <= w, key
