"""Decisions as pure functions of the state: rank the configs, then allocate a batch.

state ─▶ per-config `PriorityInputs` at `now` ─┐
state ─▶ `ClusterSignals` ─▶ `DynamicWeights` ─┴▶ `rank` ─▶ `ConfigPriority`s ─▶ `allocate`
"""

from __future__ import annotations

from typing import Final

from selfplay_core.allocation import allocate
from selfplay_core.allocation.values import AllocationRequest, BatchAllocation
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.priority import cluster_signals, compute_dynamic_weights, rank
from selfplay_core.state import SchedulerState, cluster_state, priority_inputs
from selfplay_core.values import ClusterSignals, ConfigPriority, DynamicWeights

__all__ = ["decide", "dynamic_weights", "priorities", "signals"]

_REFERENCE_POLICY: Final = SchedulerPolicy()


def signals(state: SchedulerState, policy: SchedulerPolicy = _REFERENCE_POLICY) -> ClusterSignals:
    """The cluster-level facts the dynamic weights depend on (§weights), from the state:
    its nodes (unhealthy ones never count as idle), every config's Elo, the queue depth."""
    cluster = state.cluster
    elos = {key: cs.facts.current_elo for key, cs in state.configs.items()}
    return cluster_signals(
        cluster.nodes,
        elos,
        cluster.training_queue_depth,
        policy,
        unhealthy_nodes=cluster.unhealthy_nodes,
    )


def dynamic_weights(
    state: SchedulerState, policy: SchedulerPolicy = _REFERENCE_POLICY
) -> DynamicWeights:
    return compute_dynamic_weights(signals(state, policy), policy)


def priorities(
    state: SchedulerState,
    now: float,
    policy: SchedulerPolicy = _REFERENCE_POLICY,
    top_n: int | None = None,
    *,
    explain: bool = False,
) -> tuple[ConfigPriority, ...]:
    """Every config ranked at `now`: highest score first, ties in canonical order; `top_n`
    slices like the reference (None = all); `explain=True` attaches each breakdown."""
    inputs = priority_inputs(state, now, policy)
    return rank(inputs, dynamic_weights(state, policy), policy, top_n, explain=explain)


def decide(
    state: SchedulerState,
    request: AllocationRequest,
    policy: SchedulerPolicy = _REFERENCE_POLICY,
) -> BatchAllocation:
    """The batch the scheduler allocates for `request` (at `request.now`) in this state."""
    ranked = priorities(state, request.now, policy)
    return allocate(ranked, cluster_state(state), request, policy)
