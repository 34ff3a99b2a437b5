"""The reference's records and constants through `selfplay_shell.compat`, checked against the
reference's own worked numbers (§inputs, §factors, §score; §batch)."""

from __future__ import annotations

import math

import attrs
import pytest

from selfplay_core import ConfigKeyError, SchedulerPolicy
from selfplay_core import priority as core
from selfplay_shell.compat import (
    ALL_CONFIGS,
    CURRICULUM_WEIGHT,
    DATA_DEFICIT_WEIGHT,
    DATA_STARVATION_CRITICAL_MULTIPLIER,
    DATA_STARVATION_CRITICAL_THRESHOLD,
    DATA_STARVATION_EMERGENCY_MULTIPLIER,
    DATA_STARVATION_EMERGENCY_THRESHOLD,
    DEFAULT_GAMES_PER_CONFIG,
    DEFAULT_TRAINING_SAMPLES_TARGET,
    DYNAMIC_WEIGHT_BOUNDS,
    ELO_VELOCITY_WEIGHT,
    FRESH_DATA_THRESHOLD,
    LARGE_BOARD_TARGET_MULTIPLIER,
    MAX_STALENESS_HOURS,
    MIN_GAMES_PER_ALLOCATION,
    PLAYER_COUNT_ALLOCATION_MULTIPLIER,
    PRIORITY_OVERRIDE_MULTIPLIERS,
    QUALITY_WEIGHT,
    SAMPLES_PER_GAME_BY_BOARD,
    STALE_DATA_THRESHOLD,
    STALENESS_WEIGHT,
    TARGET_GAMES_FOR_2000_ELO,
    VOI_SAMPLE_COST_BY_BOARD,
    VOI_WEIGHT,
    ConfigPriority,
    DynamicWeights,
    NodeCapability,
)

BOARDS = ("hex8", "square8", "square19", "hexagonal")


# --- DynamicWeights (§weights, T57-92) ------------------------------------------------------------


def test_dynamic_weights_defaults_are_the_base_constants_and_to_dict_has_every_field() -> None:
    weights = DynamicWeights()
    assert weights.staleness == STALENESS_WEIGHT == 0.30
    assert weights.velocity == ELO_VELOCITY_WEIGHT == 0.20
    assert weights.curriculum == CURRICULUM_WEIGHT == 0.10
    assert weights.data_deficit == DATA_DEFICIT_WEIGHT == 0.25
    d = DynamicWeights(
        staleness=0.5,
        velocity=0.3,
        idle_gpu_fraction=0.25,
        training_queue_depth=15,
        configs_at_target_fraction=0.3,
        average_elo=1750.0,
    ).to_dict()
    assert (d["staleness"], d["velocity"], d["idle_gpu_fraction"]) == (0.5, 0.3, 0.25)
    assert (d["training_queue_depth"], d["configs_at_target_fraction"]) == (15, 0.3)
    assert d["average_elo"] == 1750.0
    assert {"quality", "voi"} <= set(d)
    assert len(d) == 13


# --- ConfigPriority properties (§factors, T103-317) -----------------------------------------------


@pytest.mark.parametrize(
    ("hours", "factor"), [(0.5, 0.0), (1.0, 0.0), (2.5, 0.5), (4.0, 1.0), (100.0, 1.0)]
)
def test_staleness_factor(hours: float, factor: float) -> None:
    assert ConfigPriority(config_key="hex8_2p", staleness_hours=hours).staleness_factor == factor


@pytest.mark.parametrize(
    ("velocity", "factor"), [(0.0, 0.0), (-50.0, 0.0), (50.0, 0.5), (200.0, 1.0)]
)
def test_velocity_factor(velocity: float, factor: float) -> None:
    assert ConfigPriority(config_key="hex8_2p", elo_velocity=velocity).velocity_factor == factor


def test_data_deficit_factor_small_and_large_boards() -> None:
    at_target = ConfigPriority(
        config_key="hex8_2p", game_count=TARGET_GAMES_FOR_2000_ELO, is_large_board=False
    )
    assert at_target.data_deficit_factor == 0.0
    assert ConfigPriority(config_key="hex8_2p", game_count=0).data_deficit_factor == 1.0
    small = ConfigPriority(config_key="hex8_2p", game_count=80_000, is_large_board=False)
    large = ConfigPriority(config_key="square19_2p", game_count=80_000, is_large_board=True)
    assert small.data_deficit_factor == 0.19999999999999996
    assert large.data_deficit_factor == pytest.approx(0.466667, abs=1e-6)
    near = ConfigPriority(config_key="hexagonal_2p", game_count=149_999)
    assert near.data_deficit_factor == pytest.approx(6.67e-6, rel=1e-2)


def test_is_large_board_follows_the_key_and_a_contradiction_is_an_error() -> None:
    assert ConfigPriority(config_key="square19_3p").is_large_board is True
    assert ConfigPriority(config_key="hex8_3p").is_large_board is False
    with pytest.raises(ValueError, match="is_large_board"):
        ConfigPriority(config_key="hex8_2p", is_large_board=True)


@pytest.mark.parametrize(
    ("key", "players"), [("hex8_2p", 2), ("square8_3p", 3), ("hexagonal_4p", 4)]
)
def test_player_count(key: str, players: int) -> None:
    assert ConfigPriority(config_key=key).player_count == players


def test_an_unknown_config_key_is_rejected_not_read_as_two_players() -> None:
    with pytest.raises(ConfigKeyError):
        ConfigPriority(config_key="invalid_config")


@pytest.mark.parametrize(("games", "needed"), [(0, 1000), (500, 500), (1000, 0)])
def test_games_needed(games: int, needed: int) -> None:
    record = ConfigPriority(
        config_key="hex8_2p",
        game_count=games,
        target_training_samples=50_000,
        samples_per_game_estimate=50.0,
    )
    assert record.games_needed == needed


def test_games_needed_rounds_down_like_the_reference() -> None:
    record = ConfigPriority(
        config_key="hex8_2p", target_training_samples=100_000, samples_per_game_estimate=35.0
    )
    assert record.games_needed == 2857


def test_elo_gap_info_gain_and_voi() -> None:
    assert ConfigPriority(config_key="hex8_2p", current_elo=1500.0).elo_gap == 500.0
    assert ConfigPriority(config_key="hex8_2p", current_elo=2100.0).elo_gap == 0.0
    assert ConfigPriority(config_key="hex8_2p", elo_uncertainty=200.0).info_gain_per_game == 200.0
    hundred = ConfigPriority(config_key="hex8_2p", game_count=100, elo_uncertainty=200.0)
    assert hundred.info_gain_per_game == 20.0
    mid = ConfigPriority(
        config_key="hex8_2p", current_elo=1200.0, elo_uncertainty=250.0, game_count=50
    )
    assert mid.voi_score == pytest.approx(0.933333, abs=1e-6)
    uncertain = ConfigPriority(
        config_key="hex8_2p", current_elo=1200.0, elo_uncertainty=300.0, game_count=10
    )
    certain = ConfigPriority(
        config_key="hex8_2p", current_elo=1800.0, elo_uncertainty=50.0, game_count=10_000
    )
    assert uncertain.voi_score == 1.0
    assert certain.voi_score == pytest.approx(0.201667, abs=1e-6)


def test_a_fresh_record_has_the_reference_defaults_and_voi() -> None:
    record = ConfigPriority(config_key="hex8_2p")
    assert (record.elo_uncertainty, record.samples_per_game_estimate) == (200.0, 50.0)
    assert (record.target_training_samples, record.priority_override) == (50_000, 3)
    assert record.voi_score == pytest.approx(0.866667, abs=1e-6)  # §score, fresh scheduler


def test_properties_are_the_cores_functions_on_the_fields() -> None:
    record = ConfigPriority(
        config_key="square19_3p",
        staleness_hours=2.5,
        elo_velocity=50.0,
        game_count=400,
        current_elo=1600.0,
        elo_uncertainty=30.0,
    )
    policy = SchedulerPolicy()
    key = record.inputs.config_key
    assert record.voi_score == core.voi_score(1600.0, 2000.0, 400, 30.0, policy) == 0.325
    assert record.data_deficit_factor == core.data_deficit_factor(400, key, policy)
    assert record.inputs.staleness_hours == 2.5
    assert str(key) == record.config_key


def test_the_record_is_frozen_and_checked() -> None:
    record = ConfigPriority(config_key="hex8_2p")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.staleness_hours = 3.0  # type: ignore[misc]
    assert attrs.evolve(record, staleness_hours=3.0).staleness_factor == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="staleness_hours"):
        ConfigPriority(config_key="hex8_2p", staleness_hours=math.nan)
    with pytest.raises(ValueError, match=r"game_count|games_count"):
        ConfigPriority(config_key="hex8_2p", game_count=-1)


# --- NodeCapability (§placement, T328-353; §batch) ----------------------------------------


def test_node_capacity_weight_and_available_capacity() -> None:
    assert NodeCapability(node_id="n", gpu_type="A100", current_load=0.0).available_capacity == 1.0
    assert NodeCapability(node_id="n", gpu_type="A100", current_load=1.0).available_capacity == 0.0
    assert NodeCapability(node_id="n", gpu_type="A100", current_load=1.5).available_capacity == 0.0
    h100 = NodeCapability(node_id="n1", gpu_type="H100")
    rtx3060 = NodeCapability(node_id="n2", gpu_type="RTX3060")
    assert (h100.capacity_weight, rtx3060.capacity_weight) == (2.0, 1.0)
    assert NodeCapability(node_id="c", gpu_type="CPU").available_capacity == 0.1
    assert NodeCapability(node_id="g", gpu_type="GH200 (96 GB)").capacity_weight == 2.4


# --- constants (§weights, T840-883) ---------------------------------------------------------------


def test_all_configs_are_the_twelve_strings_in_order() -> None:
    assert len(ALL_CONFIGS) == 12
    assert all(isinstance(c, str) for c in ALL_CONFIGS)
    assert ALL_CONFIGS[:3] == ("hex8_2p", "hex8_3p", "hex8_4p")
    for config in ALL_CONFIGS:
        board, players = config.rsplit("_", 1)
        assert board in BOARDS
        assert players in {"2p", "3p", "4p"}


def test_tables_cover_every_board_and_player_count() -> None:
    for table in (SAMPLES_PER_GAME_BY_BOARD, VOI_SAMPLE_COST_BY_BOARD):
        assert set(table) == set(BOARDS)
        assert all(set(table[board]) == {"2p", "3p", "4p"} for board in BOARDS)
    assert SAMPLES_PER_GAME_BY_BOARD["hexagonal"]["4p"] == 350
    assert VOI_SAMPLE_COST_BY_BOARD["square19"]["3p"] == 7.0


def test_multipliers_and_thresholds_are_ordered_as_the_reference() -> None:
    assert PLAYER_COUNT_ALLOCATION_MULTIPLIER == {2: 1.0, 3: 3.0, 4: 4.0}
    assert PRIORITY_OVERRIDE_MULTIPLIERS == {0: 3.0, 1: 2.0, 2: 1.25, 3: 1.0}
    assert DATA_STARVATION_EMERGENCY_THRESHOLD < DATA_STARVATION_CRITICAL_THRESHOLD
    assert (DATA_STARVATION_EMERGENCY_THRESHOLD, DATA_STARVATION_CRITICAL_THRESHOLD) == (100, 1000)
    assert DATA_STARVATION_EMERGENCY_MULTIPLIER > DATA_STARVATION_CRITICAL_MULTIPLIER == 5.0
    assert (FRESH_DATA_THRESHOLD, STALE_DATA_THRESHOLD, MAX_STALENESS_HOURS) == (1.0, 4.0, 24.0)
    assert (TARGET_GAMES_FOR_2000_ELO, LARGE_BOARD_TARGET_MULTIPLIER) == (100_000, 1.5)
    assert (DEFAULT_GAMES_PER_CONFIG, MIN_GAMES_PER_ALLOCATION) == (500, 100)
    assert DEFAULT_TRAINING_SAMPLES_TARGET == 50_000
    assert (QUALITY_WEIGHT, VOI_WEIGHT) == (0.15, 0.20)


def test_dynamic_weight_bounds_are_the_policys_and_hold_the_fresh_weights() -> None:
    bounds = SchedulerPolicy().dynamic.bounds
    assert DYNAMIC_WEIGHT_BOUNDS["staleness"] == (bounds.staleness.min, bounds.staleness.max)
    assert DYNAMIC_WEIGHT_BOUNDS["voi"] == (0.10, 0.35)
    assert len(DYNAMIC_WEIGHT_BOUNDS) == 9
    weights = core.compute_dynamic_weights(core.cluster_signals((), {}))
    for name, (low, high) in DYNAMIC_WEIGHT_BOUNDS.items():
        assert low <= getattr(weights, name) <= high, name


def test_constants_follow_a_changed_reference_policy_only_through_the_policy() -> None:
    # Nothing is re-typed: the module reads the reference policy's own fields.
    policy = SchedulerPolicy()
    assert policy.weights.staleness == STALENESS_WEIGHT
    assert policy.starvation.emergency_multiplier == DATA_STARVATION_EMERGENCY_MULTIPLIER
    assert (
        SAMPLES_PER_GAME_BY_BOARD["square8"]["3p"]
        == policy.samples.per_game.as_dict()["square8_3p"]
    )
