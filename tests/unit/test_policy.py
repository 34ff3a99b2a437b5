"""SchedulerPolicy: the reference constants (§weights), the mapping form, the errors."""

from __future__ import annotations

import json
import math
import tomllib
from typing import Any

import attrs
import pytest

from selfplay_core import ALL_CONFIGS, ConfigKey, PolicyError, SchedulerPolicy
from selfplay_core.allocation_policy import AllocationPolicy
from selfplay_core.event_policy import EventPolicy
from selfplay_core.policy import Bounds, PlayerTable, Weights, from_mapping, to_mapping
from selfplay_core.priority import compute_priority_score
from selfplay_core.values import DynamicWeights, PriorityInputs

REF = SchedulerPolicy()


def test_base_weights_are_the_reference_and_are_not_normalised() -> None:
    w = REF.weights
    assert (w.staleness, w.velocity, w.training, w.exploration, w.curriculum) == (
        0.30,
        0.20,
        0.10,
        0.10,
        0.10,
    )
    assert (w.improvement, w.data_deficit, w.quality, w.voi) == (0.15, 0.25, 0.15, 0.20)
    total = 0.0
    for field in attrs.fields(Weights):
        total += getattr(w, field.name)
    assert total == 1.5499999999999998


def test_dynamic_bounds_and_thresholds() -> None:
    b = REF.dynamic.bounds
    assert (b.staleness.min, b.staleness.max) == (0.15, 0.50)
    assert (b.velocity.min, b.velocity.max) == (0.10, 0.30)
    assert (b.training.min, b.training.max) == (0.05, 0.20)
    assert (b.exploration.min, b.exploration.max) == (0.05, 0.20)
    assert (b.curriculum.min, b.curriculum.max) == (0.05, 0.25)
    assert (b.improvement.min, b.improvement.max) == (0.10, 0.25)
    assert (b.data_deficit.min, b.data_deficit.max) == (0.15, 0.40)
    assert (b.quality.min, b.quality.max) == (0.05, 0.25)
    assert (b.voi.min, b.voi.max) == (0.10, 0.35)
    d = REF.dynamic
    assert (d.idle_gpu_high_threshold, d.idle_gpu_low_threshold) == (0.5, 0.1)
    assert d.training_queue_high_threshold == 10
    assert d.configs_at_target_threshold == 0.5
    assert (d.elo_high_threshold, d.elo_medium_threshold, d.at_target_elo) == (1800, 1500, 2000)
    assert (d.idle_high_staleness_multiplier, d.idle_low_staleness_multiplier) == (1.5, 0.7)
    assert d.queue_high_staleness_multiplier == 0.6
    assert d.at_target_velocity_multiplier == 0.6
    assert (d.elo_high_curriculum_multiplier, d.elo_medium_curriculum_multiplier) == (1.8, 1.3)
    assert d.idle_high_data_deficit_multiplier == 1.4


def test_voi_uncertainty_deficit_and_velocity_constants() -> None:
    v = REF.voi
    assert (v.uncertainty_scale, v.gap_scale, v.info_gain_scale) == (300.0, 500.0, 10.0)
    assert (v.uncertainty_mix, v.gap_mix, v.info_gain_mix) == (0.4, 0.3, 0.3)
    assert v.elo_target == 2000.0
    costs = v.sample_cost.as_dict()
    assert costs == {
        "hex8_2p": 1.0, "hex8_3p": 1.3, "hex8_4p": 1.5,
        "square8_2p": 1.0, "square8_3p": 1.3, "square8_4p": 1.5,
        "square19_2p": 5.0, "square19_3p": 7.0, "square19_4p": 9.0,
        "hexagonal_2p": 8.0, "hexagonal_3p": 11.0, "hexagonal_4p": 14.0,
    }  # fmt: skip
    assert (REF.uncertainty.base, REF.uncertainty.floor) == (300.0, 30.0)
    assert REF.data_deficit.target_games == 100_000
    assert REF.data_deficit.large_board_multiplier == 1.5
    vel = REF.velocity
    assert vel.factor_cap_per_day == 100.0
    assert (vel.slow_per_hour, vel.fast_per_hour) == (0.5, 5.0)
    assert (vel.slow_multiplier, vel.normal_multiplier, vel.fast_multiplier) == (0.7, 1.0, 1.2)
    assert (REF.quality.centre, REF.quality.default_score) == (0.7, 0.7)
    st = REF.staleness
    assert (st.fresh_hours, st.stale_hours, st.max_hours) == (1.0, 4.0, 24.0)


def test_multiplier_tables_and_starvation() -> None:
    o = REF.overrides
    assert [o.for_level(level) for level in (0, 1, 2, 3, 4, -1, 7)] == [
        3.0, 2.0, 1.25, 1.0, 1.0, 1.0, 1.0,
    ]  # fmt: skip
    assert [REF.player_count_multipliers[n] for n in (2, 3, 4)] == [1.0, 3.0, 4.0]
    s = REF.starvation
    assert (s.emergency_games, s.critical_games) == (100, 1000)
    assert (s.emergency_multiplier, s.critical_multiplier) == (10.0, 5.0)


def test_reference_test_suite_constant_facts() -> None:
    """§ranking, TestConstants (T840-883)."""
    p = REF.player_count_multipliers
    assert p[2] == 1.0 < p[3] < p[4]
    o = REF.overrides
    assert o.for_level(0) > o.for_level(1) > o.for_level(2) > o.for_level(3) == 1.0
    s = REF.starvation
    assert s.emergency_games < s.critical_games
    assert s.emergency_multiplier > s.critical_multiplier
    # Both tables cover 4 boards x {2p, 3p, 4p}.
    assert set(REF.samples.per_game.as_dict()) == {str(k) for k in ALL_CONFIGS}
    assert set(REF.voi.sample_cost.as_dict()) == {str(k) for k in ALL_CONFIGS}


def test_samples_budget_and_target_games_constants() -> None:
    assert REF.samples.per_game.as_dict() == {
        "hex8_2p": 35.0, "hex8_3p": 40.0, "hex8_4p": 45.0,
        "square8_2p": 40.0, "square8_3p": 50.0, "square8_4p": 55.0,
        "square19_2p": 150.0, "square19_3p": 180.0, "square19_4p": 200.0,
        "hexagonal_2p": 250.0, "hexagonal_3p": 300.0, "hexagonal_4p": 350.0,
    }  # fmt: skip
    assert (REF.samples.default_estimate, REF.samples.default_target) == (50.0, 50_000)
    b = REF.budget
    assert (b.master_elo, b.ultimate_elo, b.quality_elo) == (2000.0, 1800.0, 1500.0)
    assert (b.throughput, b.standard, b.quality, b.ultimate, b.master) == (64, 800, 800, 1600, 3200)
    t = REF.target_games
    assert (t.target_elo, t.games_per_elo, t.cap) == (1900.0, 500.0, 500_000)
    assert [t.board_multipliers[b] for b in ("hex8", "square8", "square19", "hexagonal")] == [
        1.0, 1.2, 2.0, 2.5,
    ]  # fmt: skip
    assert [t.player_multipliers[n] for n in (2, 3, 4)] == [1.0, 1.5, 2.5]
    i = REF.intervals
    assert (i.priority_update_seconds, i.dynamic_weights_seconds) == (15.0, 60.0)
    assert i.node_capabilities_seconds == 60.0


def test_composes_allocation_and_event_policies() -> None:
    assert REF.allocation == AllocationPolicy()
    assert REF.events == EventPolicy()


# --- mapping form ---------------------------------------------------------------------------------


def _keys_are_strings(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _keys_are_strings(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_keys_are_strings(v) for v in value)
    return value is None or isinstance(value, str | int | float | bool)


def _has_none(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_none(v) for v in value.values())
    return value is None


def test_round_trip_and_plain_json() -> None:
    mapping = to_mapping(REF)
    assert _keys_are_strings(mapping)
    # TOML has no null: the priority groups never use one.
    assert not any(_has_none(v) for k, v in mapping.items() if k not in ("allocation", "events"))
    assert from_mapping(mapping) == REF
    assert from_mapping(json.loads(json.dumps(mapping))) == REF
    assert SchedulerPolicy.from_mapping(REF.to_mapping()) == REF


def test_tables_encode_with_readable_string_keys() -> None:
    mapping = to_mapping(REF)
    assert mapping["player_count_multipliers"] == {"2p": 1.0, "3p": 3.0, "4p": 4.0}
    assert mapping["samples"]["per_game"]["square19_3p"] == 180.0
    assert mapping["target_games"]["board_multipliers"]["hexagonal"] == 2.5
    assert mapping["dynamic"]["bounds"]["staleness"] == {"min": 0.15, "max": 0.5}


def test_empty_mapping_is_the_reference_and_partial_mappings_override() -> None:
    assert from_mapping({}) == REF
    text = """
    [weights]
    staleness = 0.4

    [player_count_multipliers]
    2p = 1
    3p = 2.5
    4p = 3

    [samples.per_game]
    hex8_2p = 35
    hex8_3p = 40
    hex8_4p = 45
    square8_2p = 40
    square8_3p = 50
    square8_4p = 55
    square19_2p = 150
    square19_3p = 180
    square19_4p = 200
    hexagonal_2p = 250
    hexagonal_3p = 300
    hexagonal_4p = 400
    """
    policy = from_mapping(tomllib.loads(text))
    assert policy.weights.staleness == 0.4
    assert policy.weights.velocity == 0.20
    assert policy.player_count_multipliers == PlayerTable(1.0, 2.5, 3.0)
    assert policy.samples.per_game[ConfigKey.parse("hexagonal_4p")] == 400.0
    assert policy.dynamic == REF.dynamic


def test_one_entry_of_one_table_keeps_every_other_entry() -> None:
    """issue 12: a policy file holds only what differs, down to one entry of one table."""
    assert from_mapping({"player_count_multipliers": {"2p": 5.0}}) == attrs.evolve(
        REF, player_count_multipliers=PlayerTable(5.0, 3.0, 4.0)
    )
    # The same table type nested elsewhere keeps *its* reference values (1.0, 1.5, 2.5).
    nested = from_mapping({"target_games": {"player_multipliers": {"4p": 3.0}}})
    assert nested.target_games.player_multipliers == PlayerTable(1.0, 1.5, 3.0)
    assert nested.player_count_multipliers == REF.player_count_multipliers
    bounds = from_mapping({"dynamic": {"bounds": {"voi": {"min": 0.2}}}}).dynamic.bounds
    assert bounds == attrs.evolve(REF.dynamic.bounds, voi=Bounds(0.2, 0.35))
    per_game = from_mapping({"samples": {"per_game": {"hexagonal_4p": 400}}}).samples.per_game
    assert per_game.as_dict() == {**REF.samples.per_game.as_dict(), "hexagonal_4p": 400.0}
    boards = from_mapping({"target_games": {"board_multipliers": {"hex8": 1.1}}})
    assert boards.target_games.board_multipliers == attrs.evolve(
        REF.target_games.board_multipliers, hex8=1.1
    )
    gpus = from_mapping({"allocation": {"gpu_weights": {"B200": 3.0}}}).allocation.gpu_weights
    assert gpus == {**REF.allocation.gpu_weights, "B200": 3.0}
    assert from_mapping({"events": {"dedup_window": 7}}) == attrs.evolve(
        REF, events=attrs.evolve(REF.events, dedup_window=7)
    )


def test_one_entry_from_a_toml_file() -> None:
    policy = from_mapping(tomllib.loads('[player_count_multipliers]\n"2p" = 5.0\n'))
    assert policy.player_count_multipliers == PlayerTable(5.0, 3.0, 4.0)
    assert attrs.evolve(policy, player_count_multipliers=REF.player_count_multipliers) == REF


def test_the_given_mapping_and_the_reference_are_not_modified() -> None:
    given = {"dynamic": {"bounds": {"voi": {"min": 0.2}}}}
    from_mapping(given)
    assert given == {"dynamic": {"bounds": {"voi": {"min": 0.2}}}}
    assert to_mapping(from_mapping({})) == to_mapping(REF)


@pytest.mark.parametrize(
    ("mapping", "path", "fragment"),
    [
        ({"weights": {"staleness": -0.1}}, "weights.staleness", "negative"),
        ({"weights": {"stalenes": 0.3}}, "weights.stalenes", "unknown key"),
        ({"nonsense": 1}, "nonsense", "unknown key"),
        ({"weights": {"staleness": "0.3"}}, "weights.staleness", "expected a number"),
        ({"weights": {"staleness": True}}, "weights.staleness", "expected a number"),
        ({"weights": {"voi": math.nan}}, "weights.voi", "finite"),
        ({"weights": {"voi": math.inf}}, "weights.voi", "finite"),
        ({"starvation": {"emergency_games": 1.5}}, "starvation.emergency_games", "integer"),
        ({"starvation": {"critical_multiplier": -5.0}}, "starvation.critical_multiplier", "neg"),
        (
            {"dynamic": {"bounds": {"voi": {"min": 0.5, "max": 0.1}}}},
            "dynamic.bounds.voi",
            "greater than max",
        ),
        ({"dynamic": {"bounds": {"voi": {"mid": 0.1}}}}, "dynamic.bounds.voi.mid", "unknown key"),
        ({"dynamic": {"bounds": {"voi": {"min": 0.5}}}}, "dynamic.bounds.voi", "greater than max"),
        ({"weights": 0.3}, "weights", "mapping"),
        ({"player_count_multipliers": {"5p": 1.0}}, "player_count_multipliers.5p", "unknown key"),
        ({"player_count_multipliers": {"2p": -1.0}}, "player_count_multipliers.2p", "negative"),
        ({"samples": {"per_game": {"hex8_9p": 35}}}, "samples.per_game.hex8_9p", "config key"),
        (
            {"player_count_multipliers": {"2p": 1, "3p": "x", "4p": 4}},
            "player_count_multipliers.3p",
            "number",
        ),
        (
            {"target_games": {"board_multipliers": {"hex9": 1}}},
            "target_games.board_multipliers.hex9",
            "unknown key",
        ),
        ({"allocation": {"gpu_weights": {"B200": "x"}}}, "allocation.gpu_weights.B200", "number"),
        ({"staleness": {"fresh_hours": 5.0}}, "staleness.stale_hours", "greater than fresh"),
    ],
)
def test_rejections_name_the_dotted_path(mapping: dict[str, Any], path: str, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        from_mapping(mapping)
    assert info.value.path == path
    assert fragment in info.value.problem
    assert path in str(info.value)


def test_a_non_mapping_is_rejected_at_the_root() -> None:
    with pytest.raises(PolicyError) as info:
        from_mapping([1, 2])  # type: ignore[arg-type]
    assert info.value.path == ""


def test_every_problem_of_one_pass_is_reported() -> None:
    with pytest.raises(PolicyError) as info:
        from_mapping({"weights": {"staleness": "x", "voi": math.nan}, "extra": 1})
    paths = {path for path, _ in info.value.problems}
    assert paths == {"weights.staleness", "weights.voi", "extra"}


def test_direct_construction_validates_too() -> None:
    with pytest.raises(ValueError, match="negative"):
        Weights(staleness=-0.3)
    with pytest.raises(ValueError, match="greater than max"):
        Bounds(0.5, 0.1)
    with pytest.raises(ValueError, match="finite"):
        Weights(voi=math.nan)


def test_evolve_recomputes_the_precomputed_constants() -> None:
    """The hot loop reads flattened constants; they must follow the policy's fields."""
    changed = attrs.evolve(REF, player_count_multipliers=PlayerTable(1.0, 3.0, 8.0))
    inputs = PriorityInputs("hex8_4p", games_count=5000)
    weights = DynamicWeights()
    assert compute_priority_score(inputs, weights, changed) == pytest.approx(
        2 * compute_priority_score(inputs, weights, REF), rel=1e-15
    )
    assert changed != REF


@pytest.mark.parametrize(
    ("mapping", "path"),
    [
        ({"allocation": {"min_games_per_allocation": -1}}, "allocation.min_games_per_allocation"),
        ({"events": {"dedup_window": -5}}, "events.dedup_window"),
        ({"allocation": {"no_such_constant": 1}}, "allocation.no_such_constant"),
    ],
)
def test_composed_policies_report_paths_too(mapping: dict[str, Any], path: str) -> None:
    with pytest.raises(PolicyError) as info:
        from_mapping(mapping)
    assert info.value.path == path
