"""A hypothesis state machine that runs many allocation rounds on a changing cluster.

Nodes join, fail, recover, overload and change load; scores, health and backpressure change;
after each round the placed games are added to the configs' game counts. After every round it
checks every single-batch guarantee (`check_batch`), determinism, independence of input order,
that backpressure and health never raise a count, and a starvation bound: a config that has a
positive priority (in the top `max_configs`) or a starvation floor is decided games and is served
(some of its games placed) within `starvation_bound` rounds whenever the cluster has capacity.

"Has capacity" for a round: the eligible non-ephemeral nodes' caps cover the decided batch plus
one 100-game chunk per such node (the slack that rules out fragmentation).

Run it against your own policy::

    from selfplay_core.testing.allocation_machine import make_allocation_machine
    TestMine = make_allocation_machine(my_policy).TestCase
"""

from __future__ import annotations

from typing import ClassVar

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from selfplay_core.allocation import allocate
from selfplay_core.allocation.capacity import batch_cap, exclusion_reason
from selfplay_core.allocation.configs import (
    batch_games_per_config,
    floor_games,
    select_configs,
    starvation_level,
    unique_priorities,
)
from selfplay_core.allocation.values import AllocationRequest, BatchAllocation
from selfplay_core.cluster import Backpressure, ClusterState, NodeCapability
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.testing.guarantees import check_batch, effective_factor
from selfplay_core.testing.strategies import backpressures, game_counts, nodes, requests, scores
from selfplay_core.values import ConfigPriority


class AllocationMachine(RuleBasedStateMachine):
    """The default machine, on `SchedulerPolicy()`; see `make_allocation_machine`."""

    policy: ClassVar[SchedulerPolicy] = SchedulerPolicy()
    starvation_bound: ClassVar[int] = 1
    max_nodes: ClassVar[int] = 12
    round_seconds: ClassVar[float] = 60.0

    def __init__(self) -> None:
        super().__init__()
        self.nodes: dict[str, NodeCapability] = {}
        self.unhealthy: set[str] = set()
        self.overloaded: dict[str, float] = {}
        self.scores: dict[ConfigKey, float] = {}
        self.games: dict[ConfigKey, int] = {}
        self.health = 1.0
        self.backpressure: Backpressure | None = None
        self.now = 0.0
        self.unserved: dict[ConfigKey, int] = dict.fromkeys(ALL_CONFIGS, 0)
        self.rounds = 0

    # --- state ---------------------------------------------------------------------------

    def cluster(self) -> ClusterState:
        return ClusterState(
            self.nodes.values(),
            frozenset(self.unhealthy),
            self.overloaded,
            self.health,
            self.backpressure,
        )

    def priorities(self) -> list[ConfigPriority]:
        return [ConfigPriority(k, self.scores[k], self.games[k]) for k in sorted(self.scores)]

    # --- rules ---------------------------------------------------------------------------

    @initialize(
        first=st.lists(nodes(), min_size=1, max_size=6, unique_by=lambda n: n.node_id),
        config_scores=st.dictionaries(st.sampled_from(ALL_CONFIGS), scores(), min_size=1),
        counts=st.lists(game_counts, min_size=12, max_size=12),
    )
    def start(
        self,
        first: list[NodeCapability],
        config_scores: dict[ConfigKey, float],
        counts: list[int],
    ) -> None:
        self.nodes = {n.node_id: n for n in first}
        self.scores = dict(config_scores)
        self.games = {k: counts[i] for i, k in enumerate(ALL_CONFIGS) if k in config_scores}

    @precondition(lambda self: len(self.nodes) < self.max_nodes)
    @rule(new=nodes())
    def node_joins(self, new: NodeCapability) -> None:
        self.nodes[new.node_id] = new

    @precondition(lambda self: bool(self.nodes))
    @rule(data=st.data())
    def node_fails(self, data: st.DataObject) -> None:
        self.unhealthy.add(data.draw(st.sampled_from(sorted(self.nodes))))

    @precondition(lambda self: bool(self.unhealthy))
    @rule(data=st.data())
    def node_recovers(self, data: st.DataObject) -> None:
        self.unhealthy.discard(data.draw(st.sampled_from(sorted(self.unhealthy))))

    @precondition(lambda self: bool(self.nodes))
    @rule(data=st.data(), seconds=st.sampled_from((60.0, 90.0, 120.0)))
    def node_overloads(self, data: st.DataObject, seconds: float) -> None:
        self.overloaded[data.draw(st.sampled_from(sorted(self.nodes)))] = self.now + seconds

    @precondition(lambda self: bool(self.nodes))
    @rule(data=st.data(), load=st.floats(0.0, 1.0))
    def load_changes(self, data: st.DataObject, load: float) -> None:
        node_id = data.draw(st.sampled_from(sorted(self.nodes)))
        self.nodes[node_id] = attrs.evolve(self.nodes[node_id], current_load=load)

    @precondition(lambda self: bool(self.scores))
    @rule(data=st.data(), score=scores())
    def score_changes(self, data: st.DataObject, score: float) -> None:
        self.scores[data.draw(st.sampled_from(sorted(self.scores)))] = score

    @rule(health=st.sampled_from((1.0, 1.0, 0.3, 0.5, 0.8)))
    def health_changes(self, health: float) -> None:
        self.health = health

    @rule(bp=st.one_of(st.none(), st.none(), backpressures))
    def backpressure_changes(self, bp: Backpressure | None) -> None:
        self.backpressure = bp

    @rule(request=requests())
    def allocation_round(self, request: AllocationRequest) -> None:
        request = attrs.evolve(request, now=self.now)
        prios = self.priorities()
        cluster = self.cluster()
        policy = self.policy
        batch = allocate(prios, cluster, request, policy)
        check_batch(batch, prios, cluster, request, policy)
        assert allocate(prios, cluster, request, policy) == batch, "not deterministic"
        shuffled = attrs.evolve(cluster, nodes=list(reversed(cluster.nodes)))
        assert allocate(list(reversed(prios)), shuffled, request, policy) == batch, "order"
        free = attrs.evolve(cluster, backpressure=None, health_factor=1.0)
        unthrottled = allocate(prios, free, request, policy)
        for key, games in batch.games_by_config.items():
            assert games <= unthrottled.games_by_config.get(key, 0), (key, "raised")
        self._check_starvation(batch, prios, cluster, request)
        for key, per_node in batch.placements.items():
            self.games[key] = self.games.get(key, 0) + sum(per_node.values())
        self.now += self.round_seconds
        self.rounds += 1

    # --- the starvation bound --------------------------------------------------------------

    def _demanding(
        self, prios: list[ConfigPriority], cluster: ClusterState, request: AllocationRequest
    ) -> set[ConfigKey]:
        unique = unique_priorities(prios)
        eligible, _ = select_configs(unique, request.max_configs)
        factor = effective_factor(cluster, self.policy)
        g = batch_games_per_config(
            unique, eligible, request.games_per_config, request.target_games, self.policy
        )
        g = g if factor >= 1 else int(g * factor)
        floored = {
            k
            for k, p in unique.items()
            if floor_games(starvation_level(p.games_count, self.policy), g, self.policy) > 0
        }
        return {p.config_key for p in eligible} | floored

    def _has_capacity(self, batch: BatchAllocation, cluster: ClusterState, now: float) -> bool:
        a = self.policy.allocation
        usable = [
            n
            for n in cluster.nodes
            if not n.is_ephemeral and exclusion_reason(n, cluster, now, a) is None
        ]
        caps = sum(batch_cap(n, a) for n in usable)
        return bool(usable) and caps >= batch.total_games + len(usable) * a.min_games_per_allocation

    def _check_starvation(
        self,
        batch: BatchAllocation,
        prios: list[ConfigPriority],
        cluster: ClusterState,
        request: AllocationRequest,
    ) -> None:
        if batch.explanation.paused:
            return
        demanding = self._demanding(prios, cluster, request)
        if request.target_games is None:
            # reference mode decides games for every config with a positive priority or floor
            for key in demanding:
                assert batch.games_by_config.get(key, 0) > 0, (key, "not decided")
        if not self._has_capacity(batch, cluster, request.now):
            return
        for key in sorted(demanding):
            if batch.games_by_config.get(key, 0) == 0:
                continue  # budget mode may decide 0 for a tiny budget; nothing to place
            if batch.placements.get(key):
                self.unserved[key] = 0
            else:
                self.unserved[key] += 1
                assert self.unserved[key] < self.starvation_bound, (
                    f"{key} unserved for {self.unserved[key]} rounds with capacity"
                )


def make_allocation_machine(
    policy: SchedulerPolicy,
    *,
    starvation_bound: int = 1,
    max_nodes: int = 12,
) -> type[AllocationMachine]:
    """A machine class on your policy; run it with `.TestCase` (unittest) or
    `hypothesis.stateful.run_state_machine_as_test`."""
    return type(
        "CustomAllocationMachine",
        (AllocationMachine,),
        {"policy": policy, "starvation_bound": starvation_bound, "max_nodes": max_nodes},
    )
