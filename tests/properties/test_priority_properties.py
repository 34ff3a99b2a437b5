"""Invariants of the priority calculation, for every valid input (hypothesis)."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from selfplay_core import (
    ALL_CONFIGS,
    ClusterSignals,
    ConfigKey,
    DynamicWeights,
    PriorityInputs,
    SchedulerPolicy,
    compute_dynamic_weights,
    compute_priority_score,
    explain_priority,
    rank,
)
from selfplay_core.policy import (
    Bounds,
    OverrideMultipliers,
    PlayerTable,
    StarvationPolicy,
    Weights,
    from_mapping,
    to_mapping,
)
from selfplay_core.priority import (
    data_deficit_factor,
    elo_uncertainty,
    staleness_factor,
    velocity_factor,
    voi_score,
)
from selfplay_core.values import MAX_INPUT_MAGNITUDE, PriorityBreakdown

REF = SchedulerPolicy()
BIG = MAX_INPUT_MAGNITUDE

keys = st.sampled_from(ALL_CONFIGS)
anything = st.floats(-BIG, BIG, allow_nan=False)
non_negative = st.floats(0.0, BIG, allow_nan=False)
elos = st.floats(-500.0, 3500.0, allow_nan=False)
hours = st.floats(-48.0, 1e6, allow_nan=False)
games = st.integers(0, 10**7)
levels = st.integers(-2, 6)


def inputs_for(key: st.SearchStrategy[ConfigKey]) -> st.SearchStrategy[PriorityInputs]:
    return st.builds(
        PriorityInputs,
        config_key=key,
        current_elo=st.one_of(elos, anything),
        elo_velocity=anything,
        elo_velocity_per_hour=anything,
        staleness_hours=st.one_of(hours, anything),
        curriculum_weight=non_negative,
        quality_score=anything,
        quality_penalty=anything,
        games_count=games,
        training_pending=st.booleans(),
        exploration_boost=non_negative,
        improvement_boost=anything,
        momentum_multiplier=non_negative,
        cascade_multiplier=non_negative,
        priority_override=levels,
        elo_uncertainty=st.none() | non_negative,
        target_elo=st.one_of(elos, anything),
    )


priority_inputs = inputs_for(keys)
signals = st.builds(
    ClusterSignals,
    idle_gpu_fraction=st.floats(0.0, 1.0),
    training_queue_depth=st.integers(0, 100),
    configs_at_target_fraction=st.floats(0.0, 1.0),
    average_elo=st.floats(-1000.0, 4000.0),
)
weights = signals.map(compute_dynamic_weights)


# --- the score rebuilt from its breakdown, written here as the test's own oracle ---------------


def terms_total(b: PriorityBreakdown) -> float:
    """B = S1 + … + S9, left to right as the reference sums them."""
    t = b.terms
    return (
        t.staleness
        + t.velocity
        + t.training
        + t.exploration
        + t.curriculum
        + t.improvement
        + t.quality
        + t.data_deficit
        + t.voi
    )


def multipliers_applied(b: PriorityBreakdown) -> float:
    """B × the seven multipliers, left to right as the reference applies them."""
    m = b.multipliers
    return (
        b.base
        * m.exploration_boost
        * m.momentum
        * m.velocity
        * m.override
        * m.player_count
        * m.cascade
        * m.starvation
    )


def recombine(b: PriorityBreakdown) -> float:
    return multipliers_applied(b) if terms_total(b) > 0.0 else 0.0


# --- factors -------------------------------------------------------------------------------------


@given(hours=anything, velocity=anything, n=games, key=keys)
def test_every_factor_is_in_unit_interval(
    hours: float, velocity: float, n: int, key: ConfigKey
) -> None:
    assert 0.0 <= staleness_factor(hours) <= 1.0
    assert 0.0 <= velocity_factor(velocity) <= 1.0
    assert 0.0 <= data_deficit_factor(n, key) <= 1.0


@given(elo=anything, target=anything, n=games, u=st.none() | non_negative)
def test_voi_is_in_unit_interval(elo: float, target: float, n: int, u: float | None) -> None:
    uncertainty = elo_uncertainty(n) if u is None else u
    assert 0.0 <= voi_score(elo, target, n, uncertainty) <= 1.0


@given(a=anything, b=anything)
def test_staleness_factor_is_non_decreasing_in_hours(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert staleness_factor(lo) <= staleness_factor(hi)


@given(a=games, b=games, key=keys)
def test_deficit_is_non_increasing_in_games(a: int, b: int, key: ConfigKey) -> None:
    lo, hi = sorted((a, b))
    assert data_deficit_factor(lo, key) >= data_deficit_factor(hi, key)


# --- the score -----------------------------------------------------------------------------------


@given(inputs=priority_inputs, w=weights)
def test_score_is_finite_and_never_negative(inputs: PriorityInputs, w: DynamicWeights) -> None:
    score = compute_priority_score(inputs, w)
    assert math.isfinite(score)
    assert score >= 0.0


@given(inputs=priority_inputs, w=weights, a=hours, b=hours)
def test_score_is_non_decreasing_in_staleness(
    inputs: PriorityInputs, w: DynamicWeights, a: float, b: float
) -> None:
    lo, hi = sorted((a, b))
    older = compute_priority_score(attrs.evolve(inputs, staleness_hours=hi), w)
    newer = compute_priority_score(attrs.evolve(inputs, staleness_hours=lo), w)
    assert older >= newer


@given(inputs=priority_inputs, w=weights)
def test_score_is_non_decreasing_in_override_urgency(
    inputs: PriorityInputs, w: DynamicWeights
) -> None:
    # Urgency rises as the level falls: 3 (low) → 2 → 1 → 0 (critical).
    scores = [
        compute_priority_score(attrs.evolve(inputs, priority_override=level), w)
        for level in (3, 2, 1, 0)
    ]
    assert scores == sorted(scores)


@given(inputs=priority_inputs, w=weights)
def test_explain_recombines_to_the_score(inputs: PriorityInputs, w: DynamicWeights) -> None:
    b = explain_priority(inputs, w)
    score = compute_priority_score(inputs, w)
    assert b.score == score  # bit for bit: the score and the explanation agree
    assert recombine(b) == score
    assert b.base == terms_total(b)
    assert b.reference_score == multipliers_applied(b)
    if b.base > 0:
        assert b.score == b.reference_score
    else:
        assert b.score == 0.0


@given(
    inputs=priority_inputs, w=weights, policy=st.sampled_from([REF]).flatmap(lambda p: st.just(p))
)
def test_rank_with_explain_matches_the_plain_ranking(
    inputs: PriorityInputs, w: DynamicWeights, policy: SchedulerPolicy
) -> None:
    plain = rank([inputs], w, policy)
    explained = rank([inputs], w, policy, explain=True)
    assert [(p.config_key, p.score) for p in plain] == [(p.config_key, p.score) for p in explained]
    assert explained[0].breakdown is not None
    assert explained[0].breakdown.score == plain[0].score
    assert plain[0].games_count == inputs.games_count


# --- the ranking ---------------------------------------------------------------------------------


@st.composite
def input_sets(draw: st.DrawFn) -> dict[ConfigKey, PriorityInputs]:
    chosen = draw(st.lists(keys, min_size=0, max_size=12, unique=True))
    # Many ties on purpose: a small pool of shared inputs per config.
    shared = draw(st.booleans())
    if shared:
        template = draw(priority_inputs)
        return {k: attrs.evolve(template, config_key=k) for k in chosen}
    return {k: draw(inputs_for(st.just(k))) for k in chosen}


@given(
    inputs=input_sets(),
    w=weights,
    seed=st.randoms(use_true_random=False),
    top_n=st.none() | st.integers(-3, 14),
)
def test_rank_is_a_permutation_invariant_function_of_the_mapping(
    inputs: dict[ConfigKey, PriorityInputs], w: DynamicWeights, seed: Any, top_n: int | None
) -> None:
    items = list(inputs.items())
    seed.shuffle(items)
    shuffled = dict(items)
    assert rank(inputs, w, top_n=top_n) == rank(shuffled, w, top_n=top_n)
    assert rank(inputs, w, top_n=top_n) == rank(list(shuffled.values()), w, top_n=top_n)


@given(inputs=input_sets(), w=weights)
def test_rank_is_sorted_with_canonical_ties(
    inputs: dict[ConfigKey, PriorityInputs], w: DynamicWeights
) -> None:
    ranked = rank(inputs, w)
    assert sorted(p.config_key for p in ranked) == sorted(inputs)
    for a, b in itertools.pairwise(ranked):
        assert a.score > b.score or (a.score == b.score and a.config_key < b.config_key)
    for p in ranked:
        assert p.score == compute_priority_score(inputs[p.config_key], w)


# --- dynamic weights ----------------------------------------------------------------------------


@given(s=signals)
def test_dynamic_weights_lie_within_bounds(s: ClusterSignals) -> None:
    w = compute_dynamic_weights(s)
    for field in attrs.fields(Weights):
        bounds: Bounds = getattr(REF.dynamic.bounds, field.name)
        assert bounds.min <= getattr(w, field.name) <= bounds.max
    assert w.signals == s


# --- the policy ----------------------------------------------------------------------------------

unit = st.floats(0.0, 10.0, allow_nan=False)


@st.composite
def policies(draw: st.DrawFn) -> SchedulerPolicy:
    emergency = draw(st.integers(0, 10_000))
    return SchedulerPolicy(
        weights=draw(st.builds(Weights, *[unit] * 9)),
        overrides=draw(st.builds(OverrideMultipliers, unit, unit, unit, unit, unit)),
        player_count_multipliers=draw(st.builds(PlayerTable, unit, unit, unit)),
        starvation=StarvationPolicy(
            emergency_games=emergency,
            critical_games=emergency + draw(st.integers(0, 10_000)),
            emergency_multiplier=draw(unit),
            critical_multiplier=draw(unit),
        ),
    )


@given(policy=policies())
def test_policy_round_trips_through_plain_json(policy: SchedulerPolicy) -> None:
    assert from_mapping(to_mapping(policy)) == policy
    assert from_mapping(json.loads(json.dumps(to_mapping(policy)))) == policy


@given(policy=policies(), inputs=priority_inputs, w=weights)
def test_score_under_any_policy_is_finite_and_explained(
    policy: SchedulerPolicy, inputs: PriorityInputs, w: DynamicWeights
) -> None:
    score = compute_priority_score(inputs, w, policy)
    assert math.isfinite(score)
    assert recombine(explain_priority(inputs, w, policy)) == score
