"""The reference module's constants under its names (priority.md §1), read from the reference
policy `SchedulerPolicy()`: no number is typed here. Tables are read-only mappings shaped as
the reference's (`{board: {"2p": …}}`, `{players: multiplier}`, `{level: multiplier}`)."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Final

import attrs

from selfplay_core import ALL_CONFIGS as CORE_CONFIGS
from selfplay_core import ConfigKey, SchedulerPolicy
from selfplay_core.configs import BOARDS, PLAYER_COUNTS

_POLICY: Final = SchedulerPolicy()
_W = _POLICY.weights
_D = _POLICY.dynamic
_J = _POLICY.allocation.job_targets


def _by_board(table: Mapping[str, float]) -> Mapping[str, Mapping[str, float]]:
    """`{"hex8_2p": v, …}` as the reference's `{"hex8": {"2p": v, …}, …}`."""
    return types.MappingProxyType(
        {
            board: types.MappingProxyType(
                {f"{n}p": table[str(ConfigKey(board, n))] for n in PLAYER_COUNTS}
            )
            for board in BOARDS
        }
    )


#: The 12 config keys as plain strings, in the reference's order.
ALL_CONFIGS: Final[tuple[str, ...]] = tuple(str(key) for key in CORE_CONFIGS)

STALENESS_WEIGHT: Final = _W.staleness
ELO_VELOCITY_WEIGHT: Final = _W.velocity
TRAINING_NEED_WEIGHT: Final = _W.training
EXPLORATION_BOOST_WEIGHT: Final = _W.exploration
CURRICULUM_WEIGHT: Final = _W.curriculum
IMPROVEMENT_BOOST_WEIGHT: Final = _W.improvement
DATA_DEFICIT_WEIGHT: Final = _W.data_deficit
QUALITY_WEIGHT: Final = _W.quality
VOI_WEIGHT: Final = _W.voi

DYNAMIC_WEIGHT_BOUNDS: Final[Mapping[str, tuple[float, float]]] = types.MappingProxyType(
    {
        field.name: (bounds.min, bounds.max)
        for field in attrs.fields(type(_D.bounds))
        for bounds in (getattr(_D.bounds, field.name),)
    }
)

IDLE_GPU_HIGH_THRESHOLD: Final = _D.idle_gpu_high_threshold
IDLE_GPU_LOW_THRESHOLD: Final = _D.idle_gpu_low_threshold
TRAINING_QUEUE_HIGH_THRESHOLD: Final = _D.training_queue_high_threshold
CONFIGS_AT_TARGET_THRESHOLD: Final = _D.configs_at_target_threshold
ELO_HIGH_THRESHOLD: Final = _D.elo_high_threshold
ELO_MEDIUM_THRESHOLD: Final = _D.elo_medium_threshold

VOI_ELO_TARGET: Final = _POLICY.voi.elo_target
VOI_SAMPLE_COST_BY_BOARD: Final = _by_board(_POLICY.voi.sample_cost.as_dict())

TARGET_GAMES_FOR_2000_ELO: Final = _POLICY.data_deficit.target_games
LARGE_BOARD_TARGET_MULTIPLIER: Final = _POLICY.data_deficit.large_board_multiplier

PRIORITY_OVERRIDE_MULTIPLIERS: Final[Mapping[int, float]] = types.MappingProxyType(
    {level: _POLICY.overrides.for_level(level) for level in range(4)}
)

DATA_STARVATION_EMERGENCY_THRESHOLD: Final = _POLICY.starvation.emergency_games
DATA_STARVATION_CRITICAL_THRESHOLD: Final = _POLICY.starvation.critical_games
DATA_STARVATION_EMERGENCY_MULTIPLIER: Final = _POLICY.starvation.emergency_multiplier
DATA_STARVATION_CRITICAL_MULTIPLIER: Final = _POLICY.starvation.critical_multiplier

SAMPLES_PER_GAME_BY_BOARD: Final = _by_board(_POLICY.samples.per_game.as_dict())
DEFAULT_TRAINING_SAMPLES_TARGET: Final = _POLICY.samples.default_target

PLAYER_COUNT_ALLOCATION_MULTIPLIER: Final[Mapping[int, float]] = types.MappingProxyType(
    {n: _POLICY.player_count_multipliers[n] for n in PLAYER_COUNTS}
)

FRESH_DATA_THRESHOLD: Final = _POLICY.staleness.fresh_hours
STALE_DATA_THRESHOLD: Final = _POLICY.staleness.stale_hours
MAX_STALENESS_HOURS: Final = _POLICY.staleness.max_hours

DEFAULT_GAMES_PER_CONFIG: Final = _POLICY.allocation.default_games_per_config
MIN_GAMES_PER_ALLOCATION: Final = _POLICY.allocation.min_games_per_allocation
MIN_MEMORY_GB_FOR_TASKS: Final = _J.min_memory_gb
DISK_WARNING_THRESHOLD: Final = _J.disk_warning_percent
MEMORY_WARNING_THRESHOLD: Final = _J.memory_warning_percent

__all__ = [
    "ALL_CONFIGS",
    "CONFIGS_AT_TARGET_THRESHOLD",
    "CURRICULUM_WEIGHT",
    "DATA_DEFICIT_WEIGHT",
    "DATA_STARVATION_CRITICAL_MULTIPLIER",
    "DATA_STARVATION_CRITICAL_THRESHOLD",
    "DATA_STARVATION_EMERGENCY_MULTIPLIER",
    "DATA_STARVATION_EMERGENCY_THRESHOLD",
    "DEFAULT_GAMES_PER_CONFIG",
    "DEFAULT_TRAINING_SAMPLES_TARGET",
    "DISK_WARNING_THRESHOLD",
    "DYNAMIC_WEIGHT_BOUNDS",
    "ELO_HIGH_THRESHOLD",
    "ELO_MEDIUM_THRESHOLD",
    "ELO_VELOCITY_WEIGHT",
    "EXPLORATION_BOOST_WEIGHT",
    "FRESH_DATA_THRESHOLD",
    "IDLE_GPU_HIGH_THRESHOLD",
    "IDLE_GPU_LOW_THRESHOLD",
    "IMPROVEMENT_BOOST_WEIGHT",
    "LARGE_BOARD_TARGET_MULTIPLIER",
    "MAX_STALENESS_HOURS",
    "MEMORY_WARNING_THRESHOLD",
    "MIN_GAMES_PER_ALLOCATION",
    "MIN_MEMORY_GB_FOR_TASKS",
    "PLAYER_COUNT_ALLOCATION_MULTIPLIER",
    "PRIORITY_OVERRIDE_MULTIPLIERS",
    "QUALITY_WEIGHT",
    "SAMPLES_PER_GAME_BY_BOARD",
    "STALENESS_WEIGHT",
    "STALE_DATA_THRESHOLD",
    "TARGET_GAMES_FOR_2000_ELO",
    "TRAINING_NEED_WEIGHT",
    "TRAINING_QUEUE_HIGH_THRESHOLD",
    "VOI_ELO_TARGET",
    "VOI_SAMPLE_COST_BY_BOARD",
    "VOI_WEIGHT",
]
