"""Values of the priority calculation: defaults, coercion and validation at construction."""

from __future__ import annotations

import copy
import math

import attrs
import pytest

from selfplay_core import (
    ALL_CONFIGS,
    ClusterSignals,
    ConfigKey,
    ConfigKeyError,
    ConfigPriority,
    DynamicWeights,
    PriorityInputs,
)
from selfplay_core.values import MAX_INPUT_MAGNITUDE

FLOAT_FIELDS = [
    "current_elo",
    "elo_velocity",
    "elo_velocity_per_hour",
    "staleness_hours",
    "curriculum_weight",
    "quality_score",
    "quality_penalty",
    "exploration_boost",
    "improvement_boost",
    "momentum_multiplier",
    "cascade_multiplier",
    "elo_uncertainty",
    "target_elo",
]


def test_priority_inputs_defaults_are_the_contract() -> None:
    inputs = PriorityInputs("hex8_2p")
    assert inputs.config_key == ConfigKey("hex8", 2)
    assert (inputs.current_elo, inputs.elo_velocity, inputs.elo_velocity_per_hour) == (
        1500.0,
        0.0,
        0.0,
    )
    assert (inputs.staleness_hours, inputs.curriculum_weight) == (0.0, 1.0)
    assert (inputs.quality_score, inputs.quality_penalty) == (0.7, 0.0)
    assert (inputs.games_count, inputs.training_pending) == (0, False)
    assert (inputs.exploration_boost, inputs.improvement_boost) == (1.0, 0.0)
    assert (inputs.momentum_multiplier, inputs.cascade_multiplier) == (1.0, 1.0)
    assert inputs.priority_override == 3
    assert inputs.elo_uncertainty is None
    assert inputs.target_elo == 2000.0


def test_config_key_accepts_a_key_or_its_string_and_is_canonical() -> None:
    fresh_object = ConfigKey("square19", 3)
    a = PriorityInputs(fresh_object)
    b = PriorityInputs("square19_3p")
    assert a == b
    assert a.config_key is b.config_key is ALL_CONFIGS[7]


@pytest.mark.parametrize("text", ["foo", "hex8_0p", "newcfg_2p", "hex8_5p", ""])
def test_unknown_config_is_rejected(text: str) -> None:
    with pytest.raises(ConfigKeyError):
        PriorityInputs(text)


@pytest.mark.parametrize("field", FLOAT_FIELDS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_rejected(field: str, bad: float) -> None:
    with pytest.raises(ValueError, match=field):
        PriorityInputs("hex8_2p", **{field: bad})  # type: ignore[arg-type]


@pytest.mark.parametrize("field", FLOAT_FIELDS)
def test_absurd_magnitudes_are_rejected(field: str) -> None:
    with pytest.raises(ValueError, match="magnitude"):
        PriorityInputs("hex8_2p", **{field: MAX_INPUT_MAGNITUDE * 10})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "field",
    [
        "games_count",
        "curriculum_weight",
        "exploration_boost",
        "momentum_multiplier",
        "cascade_multiplier",
        "elo_uncertainty",
    ],
)
def test_negative_counts_and_multipliers_are_rejected(field: str) -> None:
    with pytest.raises(ValueError, match="negative"):
        PriorityInputs("hex8_2p", **{field: -1})  # type: ignore[arg-type]


def test_types_are_checked() -> None:
    with pytest.raises(TypeError):
        PriorityInputs("hex8_2p", games_count=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        PriorityInputs("hex8_2p", games_count=True)
    with pytest.raises(TypeError):
        PriorityInputs("hex8_2p", training_pending=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        PriorityInputs("hex8_2p", priority_override="0")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        PriorityInputs("hex8_2p", current_elo="1500")  # type: ignore[arg-type]


def test_negative_values_that_mean_something_are_accepted() -> None:
    # A future mtime gives negative staleness (factor 0); penalties and boosts can be negative.
    inputs = PriorityInputs(
        "hex8_2p",
        staleness_hours=-2.0,
        elo_velocity=-30.0,
        elo_velocity_per_hour=-1.0,
        quality_penalty=-0.15,
        improvement_boost=-0.1,
        priority_override=7,
    )
    assert inputs.priority_override == 7


def test_evolve_and_copy_keep_the_cached_index_consistent() -> None:
    inputs = PriorityInputs("hex8_2p")
    moved = attrs.evolve(inputs, config_key="hexagonal_4p")
    assert moved.config_index == 11
    assert copy.deepcopy(moved).config_index == 11
    assert moved == PriorityInputs("hexagonal_4p")


def test_dynamic_weights_defaults_are_the_base_constants() -> None:
    """§ranking (T57-92)."""
    w = DynamicWeights()
    assert (w.staleness, w.velocity, w.curriculum, w.data_deficit) == (0.30, 0.20, 0.10, 0.25)
    assert (w.training, w.exploration, w.improvement, w.quality, w.voi) == (
        0.10,
        0.10,
        0.15,
        0.15,
        0.20,
    )
    assert w.signals == ClusterSignals()


def test_dynamic_weights_to_dict_returns_what_it_was_given() -> None:
    """§ranking: to_dict returns the values given and holds "quality" and "voi"."""
    w = DynamicWeights(
        staleness=0.5,
        velocity=0.3,
        idle_gpu_fraction=0.25,
        training_queue_depth=15,
        configs_at_target_fraction=0.3,
        average_elo=1750.0,
    )
    d = w.to_dict()
    assert len(d) == 13
    assert d["staleness"] == 0.5
    assert d["velocity"] == 0.3
    assert d["idle_gpu_fraction"] == 0.25
    assert d["training_queue_depth"] == 15
    assert d["configs_at_target_fraction"] == 0.3
    assert d["average_elo"] == 1750.0
    assert "quality" in d
    assert "voi" in d


def test_dynamic_weights_validate() -> None:
    with pytest.raises(ValueError, match="negative"):
        DynamicWeights(staleness=-0.1)
    with pytest.raises(ValueError, match="finite"):
        DynamicWeights(voi=math.nan)


def test_cluster_signals_defaults_and_validation() -> None:
    s = ClusterSignals()
    assert (s.idle_gpu_fraction, s.training_queue_depth) == (0.0, 0)
    assert (s.configs_at_target_fraction, s.average_elo) == (0.0, 1500.0)
    with pytest.raises(ValueError, match=r"idle_gpu_fraction: must be in \[0, 1\]"):
        ClusterSignals(idle_gpu_fraction=1.5)
    with pytest.raises(ValueError, match="training_queue_depth: must not be negative"):
        ClusterSignals(training_queue_depth=-1)
    with pytest.raises(ValueError, match="average_elo: must be finite"):
        ClusterSignals(average_elo=math.nan)


def test_config_priority_positional_contract() -> None:
    p = ConfigPriority("hex8_3p", 2.5)
    assert p == ConfigPriority(ConfigKey("hex8", 3), 2.5, 0, None)
    assert (p.games_count, p.breakdown) == (0, None)
    assert ConfigPriority("hex8_3p", 2.5, 12).games_count == 12
    with pytest.raises(ValueError, match="score: must be finite"):
        ConfigPriority("hex8_3p", math.nan)
    with pytest.raises(ValueError, match="games_count: must not be negative"):
        ConfigPriority("hex8_3p", 1.0, -1)
    with pytest.raises(ConfigKeyError):
        ConfigPriority("unknown_2p", 1.0)


def test_every_exported_name_exists() -> None:
    """The reference's `__all__` named a missing function, so `import *` failed (deviations.md)."""
    import selfplay_core

    missing = [name for name in selfplay_core.__all__ if not hasattr(selfplay_core, name)]
    assert missing == []
    for name in ("PriorityInputs", "DynamicWeights", "ClusterSignals", "ConfigPriority", "rank"):
        assert name in selfplay_core.__all__
