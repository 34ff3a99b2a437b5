"""Allocation: ranked priorities + cluster + request → `BatchAllocation` (pure).

`allocate` composes the steps, each usable alone: `allocate_to_configs` (scores → games),
`enforce_starvation_floor`, `enforce_4p_minimums`, then backpressure and the cluster health
factor (which only ever scale down), then `allocate_to_nodes`. `target_jobs_for_node` is the
per-node job target of §job-targets. Deviations from the reference: docs/deviations.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import attrs

from selfplay_core.allocation.configs import (
    NOT_STARVED,
    Transfer,
    batch_games_per_config,
    batch_order,
    four_player_minimum,
    largest_remainder,
    raise_to_floors,
    reference_games,
    select_configs,
    starvation_floors,
    starvation_level,
    transfers_to_4p,
    unique_priorities,
)
from selfplay_core.allocation.job_targets import (
    NodeResources,
    target_jobs_for_node,
)
from selfplay_core.allocation.nodes import RawPlacement, allocate_to_nodes, place_raw
from selfplay_core.allocation.throttle import house_monotone_shares, monotone_reference_counts
from selfplay_core.allocation.values import (
    AllocationExplanation,
    AllocationRequest,
    BatchAllocation,
    ConfigDecision,
    Placement,
    UnmetConstraint,
    canonical,
)
from selfplay_core.cluster import ClusterState
from selfplay_core.configs import ConfigKey
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.values import ConfigPriority

_DEFAULT_POLICY = SchedulerPolicy()

REFERENCE_MODE = "reference"
BUDGET_MODE = "budget"
PAUSED_MODE = "paused"


@attrs.frozen
class _Counts:
    """Per-config counts at one G, with what shaped them."""

    base: Mapping[ConfigKey, int]
    floors: Mapping[ConfigKey, int]
    minimums: Mapping[ConfigKey, int]
    counts: Mapping[ConfigKey, int]
    transfers: tuple[Transfer, ...]
    unmet: Mapping[tuple[ConfigKey, str], str]  # (config, kind) → reason


def _reference_counts(
    unique: Mapping[ConfigKey, ConfigPriority],
    eligible: Sequence[ConfigPriority],
    g: int,
    policy: SchedulerPolicy,
) -> _Counts:
    base = {p.config_key: reference_games(p.score, g, policy) for p in eligible}
    floors = starvation_floors(unique, g, policy)
    counts, transfers = transfers_to_4p(raise_to_floors(base, floors), unique, floors, g, policy)
    minimum = four_player_minimum(g, policy)
    minimums = {k: minimum for k, n in counts.items() if k.players == 4 and n > 0}
    unmet = {
        (k, "4p_minimum"): "the 2p donors have no games above their guards (max(⌊0.5G⌋, own floor))"
        for k, m in minimums.items()
        if counts[k] < m
    }
    return _Counts(base, floors, minimums, counts, transfers, unmet)


def _budget_counts(
    unique: Mapping[ConfigKey, ConfigPriority],
    eligible: Sequence[ConfigPriority],
    g: int,
    budget: int,
    policy: SchedulerPolicy,
) -> _Counts:
    """Floors and 4p minimums are reserved first, the rest is shared by weight 0.5 + s (as
    `allocate_to_configs` with `reserved`); when the reservations alone exceed the budget they
    are scaled down to it and reported unmet."""
    floors = starvation_floors(unique, g, policy)
    keys = canonical({p.config_key for p in eligible} | set(floors))
    minimum = four_player_minimum(g, policy)
    minimums: dict[ConfigKey, int] = {}
    reserved: dict[ConfigKey, int] = {}
    for k in keys:
        m = minimum if k.players == 4 and minimum > 0 else 0
        if m:
            minimums[k] = m
        r = max(floors.get(k, 0), m)
        if r:
            reserved[k] = r
    unmet: dict[tuple[ConfigKey, str], str] = {}
    held = sum(reserved.values())
    if held <= budget:
        if eligible:
            weights = [(p.config_key, 0.5 + p.score) for p in eligible]
        else:
            weights = [(k, float(n)) for k, n in reserved.items()]
        shares = largest_remainder(budget - held, weights)
        counts = {k: reserved.get(k, 0) + shares.get(k, 0) for k in keys}
    else:
        counts = largest_remainder(budget, [(k, float(n)) for k, n in reserved.items()])
        why = f"the budget {budget} is below the floors and minimums ({held})"
        for k, floor in floors.items():
            if counts.get(k, 0) < floor:
                unmet[(k, "starvation_floor")] = why
        for k, m in minimums.items():
            if counts.get(k, 0) < m:
                unmet[(k, "4p_minimum")] = why
    counts = {k: n for k, n in counts.items() if n > 0}
    base = {k: n - min(n, reserved.get(k, 0)) for k, n in counts.items()}
    return _Counts(base, floors, minimums, counts, (), unmet)


def _throttle(policy: SchedulerPolicy, cluster: ClusterState) -> tuple[float, float]:
    """(backpressure multiplier, health factor), each in [0, 1]."""
    bp = cluster.backpressure
    multiplier = 1.0 if bp is None else bp.spawn_rate_multiplier(policy.allocation.backpressure)
    return min(1.0, max(0.0, multiplier)), min(1.0, max(0.0, cluster.health_factor))


def _scaled(value: int, factor: float) -> int:
    return value if factor >= 1.0 else math.floor(value * factor)


def _decide(
    unique: Mapping[ConfigKey, ConfigPriority],
    eligible: Sequence[ConfigPriority],
    g_full: int,
    request: AllocationRequest,
    factor: float,
    policy: SchedulerPolicy,
) -> tuple[_Counts, _Counts, dict[ConfigKey, int], dict[tuple[ConfigKey, str], str]]:
    """(unthrottled, throttled, final counts, unmet). Backpressure and health scale G (and the
    budget); the final count never rises when the throttle tightens (allocation_throttle)."""
    g_eff = _scaled(g_full, factor)
    if request.target_games is None:
        full = _reference_counts(unique, eligible, g_full, policy)
        eff = full if g_eff == g_full else _reference_counts(unique, eligible, g_eff, policy)
        if g_eff == g_full:
            final = dict(full.counts)
        else:
            # the smallest count of any G from g_eff to g_full: monotone in the throttle
            final = monotone_reference_counts(unique, eligible, g_eff, g_full, policy)
    else:
        budget_eff = _scaled(request.target_games, factor)
        full = _budget_counts(unique, eligible, g_full, request.target_games, policy)
        if factor >= 1.0:
            eff, final = full, dict(full.counts)
        else:
            eff = _budget_counts(unique, eligible, g_eff, budget_eff, policy)
            # house-monotone: a tighter throttle (smaller budget) never gives a config more
            final = house_monotone_shares(budget_eff, full.counts)
    # order is irrelevant from here: every consumer sorts (values freeze in canonical order)
    final = {k: n for k, n in final.items() if n > 0}
    unmet = dict(eff.unmet)
    for k, floor in eff.floors.items():
        if final.get(k, 0) < floor and (k, "starvation_floor") not in unmet:
            unmet[(k, "starvation_floor")] = "backpressure/health scaled the budget down"
    for k, m in eff.minimums.items():
        if final.get(k, 0) < m and (k, "4p_minimum") not in unmet:
            unmet[(k, "4p_minimum")] = "held at its unthrottled count"
    return full, eff, final, unmet


def _placement_order(
    counts: Mapping[ConfigKey, int],
    unique: Mapping[ConfigKey, ConfigPriority],
    policy: SchedulerPolicy,
) -> list[ConfigKey]:
    """Starved configs first (fewest games first), then the batch by descending score."""
    starved = [
        k
        for k in counts
        if k in unique and starvation_level(unique[k].games_count, policy) != NOT_STARVED
    ]
    starved.sort(key=lambda k: (unique[k].games_count, k.index))
    first = set(starved)
    rest = [k for k in batch_order(counts, unique) if k not in first]
    return starved + rest


def _paused(
    request: AllocationRequest, multiplier: float, health: float, why: str
) -> BatchAllocation:
    explanation = AllocationExplanation(
        mode=PAUSED_MODE,
        summary=f"{why}; nothing allocated",
        requested_games_per_config=request.games_per_config,
        effective_games_per_config=0,
        throttle_multiplier=multiplier,
        health_factor=health,
        requested_budget=request.target_games,
        effective_budget=None if request.target_games is None else 0,
    )
    return BatchAllocation({}, {}, {}, explanation)


def allocate(
    priorities: Iterable[ConfigPriority],
    cluster: ClusterState,
    request: AllocationRequest = AllocationRequest(),  # noqa: B008 - frozen value
    policy: SchedulerPolicy = _DEFAULT_POLICY,
) -> BatchAllocation:
    """Decide one batch. Deterministic; independent of the order of priorities and nodes."""
    unique = unique_priorities(priorities)
    multiplier, health = _throttle(policy, cluster)
    pause = cluster.spawn_pause
    if pause is not None and pause.holds_at(request.now):
        return _paused(request, multiplier, health, f"spawning paused ({pause.reason})")
    bp = cluster.backpressure
    if bp is not None and bp.should_pause(policy.allocation.backpressure):
        why = f"backpressure pause: spawn-rate multiplier {multiplier!r}"
        return _paused(request, multiplier, health, why)
    factor = multiplier * health
    eligible, skipped = select_configs(unique, request.max_configs)
    g = batch_games_per_config(
        unique, eligible, request.games_per_config, request.target_games, policy
    )
    full, eff, final, unmet = _decide(unique, eligible, g, request, factor, policy)
    placement = place_raw(
        final,
        cluster,
        policy.allocation,
        now=request.now,
        order=_placement_order(final, unique, policy),
    )
    return BatchAllocation(
        games_by_config=final,
        placements=placement.placements,
        unplaced=placement.unplaced,
        explanation=_explain(
            unique,
            request,
            g,
            multiplier,
            health,
            full,
            eff,
            final,
            unmet,
            placement,
            skipped,
            policy,
        ),
        nodes=placement.nodes,
    )


def _explain(
    unique: Mapping[ConfigKey, ConfigPriority],
    request: AllocationRequest,
    g: int,
    multiplier: float,
    health: float,
    full: _Counts,
    eff: _Counts,
    final: Mapping[ConfigKey, int],
    unmet: Mapping[tuple[ConfigKey, str], str],
    placement: RawPlacement,
    skipped: Mapping[ConfigKey, str],
    policy: SchedulerPolicy,
) -> AllocationExplanation:
    factor = multiplier * health
    donated: dict[ConfigKey, int] = {}
    received: dict[ConfigKey, int] = {}
    for t in eff.transfers:
        donated[t.donor] = donated.get(t.donor, 0) + t.games
        received[t.recipient] = received.get(t.recipient, 0) + t.games
    floors, minimums, unplaced = eff.floors, eff.minimums, placement.unplaced
    decisions = []
    constraints = []
    for key in canonical(unique.keys() | final.keys() | full.counts.keys()):
        p = unique.get(key)
        games = final.get(key, 0)
        left = unplaced.get(key, 0)
        placed = games - left  # every game decided is placed or reported unplaced
        note = skipped.get(key, "")
        if not games and not note:
            note = "nothing decided"
        floor, minimum = floors.get(key, 0), minimums.get(key, 0)
        decisions.append(
            ConfigDecision(
                config_key=key,
                score=None if p is None else p.score,
                games_count=None if p is None else p.games_count,
                starvation=NOT_STARVED if p is None else starvation_level(p.games_count, policy),
                base_games=eff.base.get(key, 0),
                floor_games=floor,
                minimum_games=minimum,
                donated=donated.get(key, 0),
                received=received.get(key, 0),
                unthrottled_games=full.counts.get(key, 0),
                games=games,
                placed=placed,
                unplaced=left,
                note=note,
            )
        )
        for kind, required in (("starvation_floor", floor), ("4p_minimum", minimum)):
            if required and placed < required:
                reason = unmet.get((key, kind)) or placement.unplaced_reasons.get(key, "")
                constraints.append(UnmetConstraint(key, kind, required, placed, reason))
    g_eff = _scaled(g, factor)
    budget_eff = None if request.target_games is None else _scaled(request.target_games, factor)
    mode = REFERENCE_MODE if request.target_games is None else BUDGET_MODE
    total = sum(final.values())
    left = sum(unplaced.values())
    summary = (
        f"{mode} mode: {len(final)} configs, {total} games "
        f"({total - left} placed on {len(placement.nodes)} nodes, {left} unplaced); G={g_eff}"
        + (f", budget={budget_eff}" if budget_eff is not None else "")
        + (f"; throttled ×{factor:.3f}" if factor < 1.0 else "")
        + (f"; {len(constraints)} constraint(s) unmet" if constraints else "")
    )
    return AllocationExplanation(
        mode=mode,
        summary=summary,
        requested_games_per_config=request.games_per_config,
        effective_games_per_config=g_eff,
        throttle_multiplier=multiplier,
        health_factor=health,
        requested_budget=request.target_games,
        effective_budget=budget_eff,
        configs=tuple(decisions),
        skipped=skipped,
        unmet=tuple(constraints),
        excluded_nodes=placement.excluded_nodes,
        unplaced_reasons=placement.unplaced_reasons,
    )


class AllocationManager:
    """The seed's class face: a policy, and methods that call the pure functions."""

    def __init__(self, policy: SchedulerPolicy = _DEFAULT_POLICY) -> None:
        self.policy = policy

    def allocate(
        self,
        priorities: Iterable[ConfigPriority],
        cluster: ClusterState,
        request: AllocationRequest = AllocationRequest(),  # noqa: B008 - frozen value
    ) -> BatchAllocation:
        return allocate(priorities, cluster, request, self.policy)

    def allocate_selfplay_batch(
        self,
        priorities: Iterable[ConfigPriority],
        cluster: ClusterState,
        games_per_config: int = 500,
        max_configs: int = 12,
        *,
        target_games: int | None = None,
        now: float = 0.0,
    ) -> BatchAllocation:
        request = AllocationRequest(games_per_config, max_configs, target_games, now)
        return allocate(priorities, cluster, request, self.policy)

    def allocate_to_nodes(
        self,
        games_by_config: Mapping[ConfigKey, int],
        cluster: ClusterState,
        *,
        now: float = 0.0,
    ) -> Placement:
        return allocate_to_nodes(games_by_config, cluster, self.policy, now=now)

    def target_jobs_for_node(self, node: NodeResources, cluster: ClusterState) -> int:
        return target_jobs_for_node(node, cluster, self.policy)


__all__ = ["AllocationManager", "allocate"]
