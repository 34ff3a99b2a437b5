"""Every worked number of §score and the in-scope facts of §ranking.

Scores equal the reference's to the last bit unless docs/deviations.md says otherwise; the
tests that pin a deviation say so in their name.
"""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfplay_core import (
    ALL_CONFIGS,
    ClusterSignals,
    ConfigKey,
    ConfigKeyError,
    DynamicWeights,
    NodeCapability,
    PriorityCalculator,
    PriorityInputs,
    SchedulerPolicy,
    cluster_signals,
    compute_dynamic_weights,
    compute_priority_score,
    explain_priority,
    rank,
)
from selfplay_core.policy import Bounds, DynamicRules, WeightBounds, Weights
from selfplay_core.priority import (
    adaptive_budget,
    data_deficit_factor,
    elo_gap,
    elo_uncertainty,
    games_needed,
    info_gain_per_game,
    priority_tier,
    samples_per_game,
    staleness_factor,
    target_games,
    velocity_factor,
    voi_score,
)
from selfplay_core.training_targets import MAX_GAMES_NEEDED
from selfplay_core.values import PriorityTier

REF = SchedulerPolicy()
K = ConfigKey.parse
FRESH = compute_dynamic_weights(ClusterSignals())  # no nodes, queue 0, all Elo 1500


def _nodes(idle: int, total: int = 10) -> list[NodeCapability]:
    return [
        NodeCapability(f"n{i}", gpu_memory_gb=80.0, current_jobs=0 if i < idle else 1)
        for i in range(total)
    ]


def _elos(**overrides: float) -> dict[ConfigKey, float]:
    elos = dict.fromkeys(ALL_CONFIGS, 1500.0)
    elos.update({K(k): v for k, v in overrides.items()})
    return elos


def _weights(nodes: list[NodeCapability], queue: float = 0, **elos: float) -> DynamicWeights:
    return compute_dynamic_weights(cluster_signals(nodes, _elos(**elos), queue))


# --- §score ---------------------------------------------------------------------------------------


def test_fresh_scheduler_weights() -> None:
    w = compute_dynamic_weights(cluster_signals([], _elos()))
    assert (w.staleness, w.velocity, w.training, w.exploration, w.curriculum) == (
        0.21,
        0.20,
        0.10,
        0.10,
        0.10,
    )
    assert (w.improvement, w.data_deficit, w.quality, w.voi) == (0.15, 0.25, 0.15, 0.20)
    assert (w.idle_gpu_fraction, w.training_queue_depth) == (0.0, 0)
    assert (w.configs_at_target_fraction, w.average_elo) == (0.0, 1500.0)
    assert w == FRESH


# --- §score ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("idle", "queue", "staleness", "data_deficit"),
    [
        (6, 0, 0.44999999999999996, 0.35),
        (5, 0, 0.30, 0.25),  # exactly 0.5 is not > 0.5
        (1, 0, 0.30, 0.25),  # exactly 0.1 is not < 0.1
        (6, 11, 0.26999999999999996, 0.35),
        (3, 11, 0.18, 0.25),
        (3, 10, 0.30, 0.25),
        (3, 11.9, 0.18, 0.25),  # depth truncates to 11
    ],
)
def test_idle_and_queue_scenarios(
    idle: int, queue: float, staleness: float, data_deficit: float
) -> None:
    w = _weights(_nodes(idle), queue)
    assert w.staleness == staleness
    assert w.data_deficit == data_deficit


def test_nodes_without_gpu_memory_are_never_idle() -> None:
    nodes = [NodeCapability(f"n{i}", gpu_memory_gb=0.0) for i in range(10)]
    assert _weights(nodes).staleness == 0.21


def test_no_nodes_with_a_long_queue_clamps_to_the_floor() -> None:
    w = _weights([], 11)
    assert w.staleness == 0.15  # 0.21 x 0.6 = 0.126, clamped
    assert w.training_queue_depth == 11


def test_queue_depth_truncates() -> None:
    assert cluster_signals([], _elos(), 11.9).training_queue_depth == 11


def test_configs_at_target_and_average_elo() -> None:
    seven = dict.fromkeys([str(k) for k in ALL_CONFIGS[:7]], 2000.0)
    w = _weights([], **seven)
    assert w.configs_at_target_fraction == pytest.approx(0.5833, abs=1e-4)
    assert w.velocity == 0.12
    assert w.average_elo == pytest.approx(1791.67, abs=0.01)
    assert w.curriculum == 0.13

    six = dict.fromkeys([str(k) for k in ALL_CONFIGS[:6]], 2000.0)
    w = _weights([], **six)
    assert w.configs_at_target_fraction == 0.5
    assert w.velocity == 0.20
    assert w.average_elo == 1750.0
    assert w.curriculum == 0.13


@pytest.mark.parametrize(
    ("elo", "curriculum"),
    [(1850.0, 0.18000000000000002), (1800.0, 0.13), (1600.0, 0.13), (1500.0, 0.10)],
)
def test_curriculum_by_average_elo(elo: float, curriculum: float) -> None:
    all_at = {str(k): elo for k in ALL_CONFIGS}
    assert _weights([], **all_at).curriculum == curriculum


def test_zero_elos_are_excluded_from_the_average() -> None:
    mixed = {str(k): (0.0 if i < 6 else 1900.0) for i, k in enumerate(ALL_CONFIGS)}
    w = _weights([], **mixed)
    assert w.average_elo == 1900.0
    assert w.curriculum == 0.18000000000000002
    zeros = {str(k): 0.0 for k in ALL_CONFIGS}
    w = _weights([], **zeros)
    assert w.average_elo == 1500.0
    assert w.curriculum == 0.10


def test_one_config_above_default_moves_the_average() -> None:
    """§weights [NOTE]: one config at 1600 → average 1508.33 → curriculum 0.13."""
    w = _weights([], square19_3p=1600.0)
    assert w.average_elo == pytest.approx(1508.33, abs=0.01)
    assert w.curriculum == 0.13


# --- §score scores --------------------------------------------------------------------------------


def _fresh_inputs(key: ConfigKey | str, **kw: object) -> PriorityInputs:
    """A fresh scheduler before any update: n = 0, U = 200 (dataclass default), h = 0."""
    return PriorityInputs(key, elo_uncertainty=200.0, **kw)  # type: ignore[arg-type]


def test_fresh_scheduler_scores() -> None:
    b = explain_priority(_fresh_inputs("hex8_2p"), FRESH)
    assert b.base == pytest.approx(0.423333, abs=1e-6)
    assert b.factors.voi == pytest.approx(0.866667, abs=1e-6)
    scores = [compute_priority_score(_fresh_inputs(k), FRESH) for k in ALL_CONFIGS[:3]]
    assert scores[0] == 2.9633333333333334
    assert scores[1] == pytest.approx(8.89, rel=1e-12)
    assert scores[2] == 11.853333333333333


def test_after_one_update_with_every_source_unavailable() -> None:
    inputs = {k: PriorityInputs(k, staleness_hours=24.0) for k in ALL_CONFIGS}
    b = explain_priority(inputs[K("hex8_2p")], FRESH)
    assert b.factors.elo_uncertainty == 300.0
    assert b.base == pytest.approx(0.66, rel=1e-12)
    by_players = {2: 4.619999999999999, 3: 13.859999999999996, 4: 18.479999999999997}
    for key, i in inputs.items():
        assert compute_priority_score(i, FRESH) == by_players[key.players]
    ranked = rank(inputs, FRESH)
    order = [str(p.config_key) for p in ranked]
    assert order == [
        "hex8_4p", "square8_4p", "square19_4p", "hexagonal_4p",
        "hex8_3p", "square8_3p", "square19_3p", "hexagonal_3p",
        "hex8_2p", "square8_2p", "square19_2p", "hexagonal_2p",
    ]  # fmt: skip
    with_cascade = PriorityInputs("hex8_2p", staleness_hours=24.0, cascade_multiplier=1.5)
    assert compute_priority_score(with_cascade, FRESH) == pytest.approx(6.93, rel=1e-12)


FULL_EXAMPLE = PriorityInputs(
    "square19_3p",
    staleness_hours=2.5,
    elo_velocity=50.0,
    training_pending=True,
    exploration_boost=1.2,
    curriculum_weight=1.3,
    improvement_boost=0.1,
    quality_penalty=-0.05,
    momentum_multiplier=1.25,
    games_count=400,
    priority_override=1,
    current_elo=1600.0,
    elo_velocity_per_hour=6.0,
)


def test_full_example() -> None:
    w = _weights([], square19_3p=1600.0)
    assert w.curriculum == 0.13
    b = explain_priority(FULL_EXAMPLE, w)
    t = b.terms
    assert t.staleness == pytest.approx(0.105, abs=1e-12)
    assert t.velocity == pytest.approx(0.1, abs=1e-12)
    assert t.training == pytest.approx(0.1, abs=1e-12)
    assert t.exploration == pytest.approx(0.02, abs=1e-12)
    assert t.curriculum == pytest.approx(0.039, abs=1e-12)
    assert t.improvement == pytest.approx(0.015, abs=1e-12)
    assert t.quality == pytest.approx(-0.05, abs=1e-12)
    assert t.data_deficit == pytest.approx(0.249333, abs=1e-6)
    assert t.voi == pytest.approx(0.065, abs=1e-12)
    assert b.factors.voi == pytest.approx(0.325, abs=1e-12)
    assert b.factors.elo_uncertainty == 30.0
    assert b.base == pytest.approx(0.643333, abs=1e-6)
    m = b.multipliers
    assert (m.exploration_boost, m.momentum, m.velocity, m.override) == (1.2, 1.25, 1.2, 2.0)
    assert (m.player_count, m.cascade, m.starvation) == (3.0, 1.0, 5.0)
    assert b.tier is PriorityTier.CRITICAL
    assert compute_priority_score(FULL_EXAMPLE, w) == 34.74000000000001
    assert b.score == b.reference_score == 34.74000000000001


NEGATIVE_EXAMPLE = PriorityInputs(
    "hex8_2p",
    staleness_hours=0.5,
    games_count=120_000,
    current_elo=2050.0,
    curriculum_weight=0.8,
    elo_velocity_per_hour=2.0,
)


def test_negative_example_scores_zero_not_the_reference_negative() -> None:
    """Deviation: a base ≤ 0 scores 0 (the reference returns −0.0174…; allocation skips both)."""
    w = _weights([], square19_3p=1600.0)
    b = explain_priority(NEGATIVE_EXAMPLE, w)
    assert b.terms.curriculum == pytest.approx(-0.026, abs=1e-12)
    assert b.factors.voi == pytest.approx(0.042598, abs=1e-6)
    assert b.terms.voi == pytest.approx(0.0085196, abs=1e-7)
    m = b.multipliers
    assert (m.exploration_boost, m.momentum, m.velocity, m.override) == (1.0, 1.0, 1.0, 1.0)
    assert (m.player_count, m.cascade, m.starvation) == (1.0, 1.0, 1.0)
    assert b.reference_score == -0.017480384757729332
    assert b.score == 0.0
    assert compute_priority_score(NEGATIVE_EXAMPLE, w) == 0.0


def test_multipliers_never_amplify_a_negative_base() -> None:
    """Deviation (deviations.md): ×10 starvation, ×4 players, ×3 override do not apply below 0."""
    inputs = PriorityInputs(
        "hex8_4p",
        games_count=150_000,
        current_elo=2100.0,
        curriculum_weight=0.5,
        quality_penalty=-0.15,
        priority_override=0,
        elo_velocity_per_hour=10.0,
    )
    b = explain_priority(inputs, FRESH)
    assert b.base < 0
    assert b.reference_score < b.base  # what the reference would do: more negative
    assert compute_priority_score(inputs, FRESH) == 0.0
    assert b.score == 0.0
    # What the reference returns: base × boost × momentum × velocity × override × players × …
    assert b.reference_score == b.base * 1.0 * 1.0 * 1.2 * 3.0 * 4.0 * 1.0 * 1.0


# --- §score VOI table -----------------------------------------------------------------------------

VOI_TABLE = [
    # n, U, info gain, VOI @1500, @1800, @2000
    (0, 300.0, 300.0, 1.0, 0.82, 0.7),
    (1, 300.0, 300.0, 1.0, 0.82, 0.7),
    (4, 150.0, 75.0, 0.8, 0.62, 0.5),
    (9, 100.0, 33.33, 0.733333, 0.553333, 0.433333),
    (25, 60.0, 12.0, 0.68, 0.5, 0.38),
    (50, 42.43, 6.0, 0.536569, 0.356569, 0.236569),
    (100, 30.0, 3.0, 0.43, 0.25, 0.13),
    (400, 30.0, 1.5, 0.385, 0.205, 0.085),
    (1000, 30.0, 0.9487, 0.36846, 0.18846, 0.06846),
    (10000, 30.0, 0.3, 0.349, 0.169, 0.049),
    (100000, 30.0, 0.0949, 0.342846, 0.162846, 0.042846),
]


@pytest.mark.parametrize(("n", "u", "info", "v1500", "v1800", "v2000"), VOI_TABLE)
def test_voi_after_an_update(
    n: int, u: float, info: float, v1500: float, v1800: float, v2000: float
) -> None:
    unc = elo_uncertainty(n)
    assert unc == pytest.approx(u, abs=0.005)
    assert info_gain_per_game(n, unc) == pytest.approx(info, rel=5e-4)  # table is rounded
    for elo, expected in ((1500.0, v1500), (1800.0, v1800), (2000.0, v2000)):
        assert voi_score(elo, 2000.0, n, unc) == pytest.approx(expected, abs=5e-7)
        # The score uses the same VOI when the uncertainty is derived (elo_uncertainty=None).
        b = explain_priority(PriorityInputs("hex8_2p", current_elo=elo, games_count=n), FRESH)
        assert b.factors.voi == voi_score(elo, 2000.0, n, unc)


# --- §factors factor examples ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "factor"),
    [(1.0, 0.0), (2.5, 0.5), (4.0, 1.0), (24.0, 1.0), (-3.0, 0.0), (0.5, 0.0), (100.0, 1.0)],
)
def test_staleness_factor(hours: float, factor: float) -> None:
    assert staleness_factor(hours) == factor


@pytest.mark.parametrize(
    ("velocity", "factor"), [(0.0, 0.0), (-50.0, 0.0), (50.0, 0.5), (200.0, 1.0)]
)
def test_velocity_factor(velocity: float, factor: float) -> None:
    assert velocity_factor(velocity) == factor


def test_data_deficit_factor() -> None:
    assert data_deficit_factor(80_000, K("hex8_2p")) == 0.19999999999999996
    assert data_deficit_factor(80_000, K("square19_2p")) == pytest.approx(0.466667, abs=1e-6)
    assert data_deficit_factor(149_999, K("hexagonal_3p")) == pytest.approx(6.67e-6, abs=1e-8)
    assert data_deficit_factor(100_000, K("hex8_2p")) == 0.0
    assert data_deficit_factor(0, K("hex8_2p")) == 1.0
    # §ranking: at 80000 games a large board scores higher than a small one.
    assert data_deficit_factor(80_000, K("square19_2p")) > data_deficit_factor(80_000, K("hex8_2p"))


def test_elo_gap_and_info_gain() -> None:
    """§ranking VOI facts (T253-317)."""
    assert elo_gap(1500.0, 2000.0) == 500.0
    assert elo_gap(2100.0, 2000.0) == 0.0
    assert info_gain_per_game(0, 200.0) == 200.0
    assert info_gain_per_game(100, 200.0) == 20.0
    voi = voi_score(1200.0, 2000.0, 50, 250.0)
    assert 0.0 <= voi <= 1.0
    assert voi == pytest.approx(0.933333, abs=1e-6)
    uncertain = voi_score(1200.0, 2000.0, 10, 300.0)
    certain = voi_score(1800.0, 2000.0, 10_000, 50.0)
    assert uncertain > certain
    assert uncertain == 1.0
    assert certain == pytest.approx(0.201667, abs=1e-6)


def test_player_count_comes_from_the_key() -> None:
    """§ranking player_count: hex8_2p → 2, square8_3p → 3, hexagonal_4p → 4; junk is an error."""
    assert [K(t).players for t in ("hex8_2p", "square8_3p", "hexagonal_4p")] == [2, 3, 4]
    with pytest.raises(ConfigKeyError):
        K("invalid_config")


# --- §ranking priority-score facts (fresh scheduler, no update) -----------------------------------


def test_stale_config_scores_higher() -> None:
    fresh_2p = compute_priority_score(_fresh_inputs("hex8_2p", staleness_hours=0.5), FRESH)
    stale_3p = compute_priority_score(_fresh_inputs("hex8_3p", staleness_hours=10.0), FRESH)
    assert stale_3p > fresh_2p
    assert fresh_2p == pytest.approx(2.9633333, abs=1e-7)
    assert stale_3p == pytest.approx(13.3, rel=1e-12)
    cascade_2p = _fresh_inputs("hex8_2p", staleness_hours=0.5, cascade_multiplier=1.5)
    assert compute_priority_score(cascade_2p, FRESH) == pytest.approx(4.445, rel=1e-12)


def test_starved_config_scores_more_than_twice() -> None:
    starved = compute_priority_score(_fresh_inputs("hex8_4p", games_count=50), FRESH)
    fed = compute_priority_score(_fresh_inputs("hex8_2p", games_count=50_000), FRESH)
    assert starved > 2 * fed
    assert starved == pytest.approx(11.8498333, abs=1e-7)
    assert fed == pytest.approx(0.1705899, abs=1e-7)


def test_critical_override_scores_nine_times_higher() -> None:
    critical = _fresh_inputs("hex8_3p", priority_override=0, staleness_hours=5, games_count=10_000)
    low = _fresh_inputs("hex8_2p", priority_override=3, staleness_hours=5, games_count=10_000)
    c, lo = compute_priority_score(critical, FRESH), compute_priority_score(low, FRESH)
    assert c == pytest.approx(3.5301, rel=1e-12)
    assert lo == pytest.approx(0.3922333, abs=1e-7)
    assert c / lo == pytest.approx(9.0, rel=1e-12)


def test_dynamic_weight_facts() -> None:
    """§ranking (T465-496): positive weights, partial sum in (0.5, 2.5), all inside the bounds."""
    w = FRESH
    assert w.staleness > 0
    assert w.velocity > 0
    assert w.curriculum > 0
    partial = w.staleness + w.velocity + w.training + w.exploration + w.curriculum + w.improvement
    assert 0.5 < partial < 2.5
    assert partial == pytest.approx(0.86, rel=1e-12)
    bounds = REF.dynamic.bounds
    for name in ("staleness", "velocity", "training", "exploration", "curriculum"):
        b: Bounds = getattr(bounds, name)
        assert b.min <= getattr(w, name) <= b.max
    for name in ("improvement", "data_deficit", "quality", "voi"):
        b = getattr(bounds, name)
        assert b.min <= getattr(w, name) <= b.max


def test_exploration_term_exact() -> None:
    """§ranking daemon event chains: (2.0 − 1.0) × EXPLORATION_BOOST_WEIGHT == 0.10 exactly."""
    b = explain_priority(PriorityInputs("hex8_2p", exploration_boost=2.0), DynamicWeights())
    assert b.terms.exploration == 0.10


def test_quality_penalty_feeds_the_quality_term() -> None:
    """§ranking low-quality throttle: penalty −0.0825 enters S7 unchanged (q = 0.7 centre)."""
    b = explain_priority(PriorityInputs("hex8_2p", quality_penalty=-0.0825), FRESH)
    assert b.terms.quality == -0.0825


def test_top_n_and_sortedness() -> None:
    """§ranking get_top_priorities (T807-829): n = 5 → 5, n = 3 → 3; sorted for real."""
    inputs = {k: PriorityInputs(k, staleness_hours=0.7 * i) for i, k in enumerate(ALL_CONFIGS)}
    assert len(rank(inputs, FRESH, top_n=5)) == 5
    assert len(rank(inputs, FRESH, top_n=3)) == 3
    assert rank(inputs, FRESH, top_n=0) == ()
    full = rank(inputs, FRESH)
    assert len(full) == 12
    scores = [p.score for p in full]
    assert scores == sorted(scores, reverse=True)
    assert len(set(scores)) > 1  # not vacuous


def test_ties_break_in_canonical_order() -> None:
    shuffled = [ALL_CONFIGS[(5 * i) % 12] for i in range(12)]
    inputs = {k: PriorityInputs(k, games_count=200_000) for k in shuffled}
    by_players: dict[int, list[ConfigKey]] = {}
    for p in rank(inputs, FRESH):
        by_players.setdefault(p.config_key.players, []).append(p.config_key)
    for keys in by_players.values():
        assert keys == sorted(keys)


# --- §targets -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("elo", "budget"),
    [(2500.0, 3200), (2000.0, 3200), (1999.9, 1600), (1800.0, 1600), (1500.0, 800), (900.0, 800)],
)
def test_adaptive_budget(elo: float, budget: int) -> None:
    assert adaptive_budget(elo) == budget


@pytest.mark.parametrize(
    ("key", "elo", "games"),
    [
        ("hex8_2p", 1500.0, 200_000),
        ("hex8_2p", 1899.0, 500),
        ("hex8_2p", 1900.0, 0),
        ("hex8_2p", 2300.0, 0),
        ("square8_3p", 1500.0, 360_000),
        ("square19_4p", 1500.0, 500_000),
        ("hexagonal_3p", 1000.0, 500_000),
        ("square19_2p", 1899.5, 500),
        ("hex8_2p", -100.0, 500_000),
    ],
)
def test_target_games(key: str, elo: float, games: int) -> None:
    assert target_games(K(key), elo) == games


def test_unknown_configs_have_no_target_or_samples() -> None:
    """The reference answers `foo_2p`/`hex8` with defaults; here they cannot be named."""
    for text in ("foo_2p", "hex8", "unknown_2p", "hex8_5p"):
        with pytest.raises(ConfigKeyError):
            K(text)


@pytest.mark.parametrize(
    ("games", "target", "spg", "needed"),
    [
        (0, 50_000, 50.0, 1000),
        (500, 50_000, 50.0, 500),
        (1000, 50_000, 50.0, 0),
        (0, 100_000, 35.0, 2857),
        (1000, 100_000, 35.0, 1857),
        (10, 50_000, 200.0, 240),
        (199, 50_000, 250.0, 1),
        (0, 1000, 50.0, 20),
        (3, 1000, 33.3, 27),
        (5, 1000, 0.0, 0),
        (5, 1000, -1.0, 0),
    ],
)
def test_games_needed(games: int, target: int, spg: float, needed: int) -> None:
    assert games_needed(games, target, spg) == needed


@given(
    games=st.integers(min_value=0, max_value=10**9),
    target=st.integers(min_value=0, max_value=10**12),
    spg=st.floats(min_value=0.0, allow_nan=False, allow_infinity=False),
)
def test_games_needed_is_bounded_for_any_estimate(games: int, target: int, spg: float) -> None:
    """P10: never raises, never above the bound, the reference's number wherever it is finite."""
    needed = games_needed(games, target, spg)
    assert 0 <= needed <= MAX_GAMES_NEEDED
    try:
        reference = 0 if spg <= 0 else int(max(0, target - int(games * spg)) / spg)
    except OverflowError:
        assert needed in (0, MAX_GAMES_NEEDED)
        return
    assert needed == min(reference, MAX_GAMES_NEEDED)


def test_games_needed_of_extreme_estimates() -> None:
    assert games_needed(0, 50_000, 5e-324) == MAX_GAMES_NEEDED
    assert games_needed(2, 50_000, 1e308) == 0
    assert games_needed(0, 10**12, 1.0) == MAX_GAMES_NEEDED


def test_samples_per_game_and_calculator_games_needed() -> None:
    assert samples_per_game(K("hex8_2p")) == 35.0
    assert samples_per_game(K("square19_4p")) == 200.0
    assert samples_per_game(K("hexagonal_2p")) == 250.0
    calc = PriorityCalculator()
    assert calc.games_needed(K("hex8_2p"), 0, 100_000) == 2857
    assert calc.games_needed(K("square19_4p"), 10) == 240
    assert calc.compute_target_games(K("square8_3p"), 1500.0) == 360_000
    assert calc.get_adaptive_budget(1850.0) == 1600


@pytest.mark.parametrize(
    ("games", "tier"),
    [
        (0, PriorityTier.EMERGENCY),
        (99, PriorityTier.EMERGENCY),
        (100, PriorityTier.CRITICAL),
        (999, PriorityTier.CRITICAL),
        (1000, PriorityTier.NORMAL),
    ],
)
def test_priority_tier(games: int, tier: PriorityTier) -> None:
    assert priority_tier(games) is tier


# --- deviations pinned here (docs/deviations.md, Priority) ----------------------------------------


def test_unhealthy_nodes_are_not_idle() -> None:
    nodes = _nodes(6)
    assert cluster_signals(nodes, _elos()).idle_gpu_fraction == 0.6  # reference: counted idle
    signals = cluster_signals(nodes, _elos(), unhealthy_nodes={"n0", "n1"})
    assert signals.idle_gpu_fraction == 0.4
    assert compute_dynamic_weights(signals).staleness == 0.30


def test_quality_and_voi_weights_are_clamped_to_their_bounds() -> None:
    """The reference never clamps them; with its own base weights the result is the same."""
    assert (FRESH.quality, FRESH.voi) == (0.15, 0.20)
    loud = SchedulerPolicy(weights=Weights(quality=0.9, voi=0.01))
    w = compute_dynamic_weights(ClusterSignals(), loud)
    assert (w.quality, w.voi) == (0.25, 0.10)
    wide = SchedulerPolicy(
        weights=Weights(quality=0.9, voi=0.01),
        dynamic=_rules_with_bounds(quality=Bounds(0.0, 1.0), voi=Bounds(0.0, 1.0)),
    )
    w = compute_dynamic_weights(ClusterSignals(), wide)
    assert (w.quality, w.voi) == (0.9, 0.01)


def _rules_with_bounds(**bounds: Bounds) -> DynamicRules:
    return attrs.evolve(REF.dynamic, bounds=attrs.evolve(WeightBounds(), **bounds))


def test_daily_and_hourly_velocity_are_separate_fields() -> None:
    """S2 reads Elo/day only; the ×0.7/×1.2 multiplier reads Elo/hour only."""
    base = PriorityInputs("hex8_2p", games_count=5000)
    daily = explain_priority(PriorityInputs("hex8_2p", games_count=5000, elo_velocity=50.0), FRESH)
    hourly = explain_priority(
        PriorityInputs("hex8_2p", games_count=5000, elo_velocity_per_hour=50.0), FRESH
    )
    plain = explain_priority(base, FRESH)
    assert daily.terms.velocity == 0.1
    assert daily.multipliers.velocity == 0.7
    assert hourly.terms.velocity == 0.0
    assert hourly.multipliers.velocity == 1.2
    assert plain.terms.velocity == 0.0
    assert plain.multipliers.velocity == 0.7


def test_an_unknown_config_cannot_enter_the_ranking() -> None:
    """deviations.md: set_target_training_samples could add `newcfg_2p` (scored ×10)."""
    with pytest.raises(ConfigKeyError):
        PriorityInputs("newcfg_2p")
    good = PriorityInputs("hex8_2p")
    with pytest.raises(ValueError, match="filed under"):
        rank({K("hex8_3p"): good}, FRESH)
    with pytest.raises(ValueError, match="filed under"):
        rank({"newcfg_2p": good}, FRESH)
    # the config's own string is a fine key
    assert rank({"hex8_2p": good}, FRESH) == rank({K("hex8_2p"): good}, FRESH)
    with pytest.raises(ValueError, match="twice"):
        rank([good, PriorityInputs("hex8_2p", games_count=5)], FRESH)
    ranked = rank([PriorityInputs(k) for k in ALL_CONFIGS], FRESH, top_n=12)  # exactly the 12 known
    assert sorted(p.config_key for p in ranked) == list(ALL_CONFIGS)


def test_calculator_is_a_thin_face_over_the_functions() -> None:
    policy = SchedulerPolicy(weights=Weights(staleness=0.4))
    calc = PriorityCalculator(policy)
    signals = calc.cluster_signals(_nodes(6), _elos(), 3)
    w = calc.compute_dynamic_weights(signals)
    assert w == compute_dynamic_weights(signals, policy)
    assert w.staleness == 0.5  # 0.4 x 1.5 = 0.6, clamped to the upper bound
    inputs = {k: PriorityInputs(k, staleness_hours=3.0) for k in ALL_CONFIGS}
    assert calc.rank(inputs, w, top_n=4) == rank(inputs, w, policy, 4)
    one = inputs[K("square8_4p")]
    assert calc.compute_priority_score(one, w) == compute_priority_score(one, w, policy)
    assert calc.explain_priority(one, w) == explain_priority(one, w, policy)
    assert calc.priority_tier(500) is PriorityTier.CRITICAL
    assert calc.samples_per_game(K("square8_4p")) == 55.0
