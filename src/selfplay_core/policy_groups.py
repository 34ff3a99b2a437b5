"""The groups and tables of the scheduler policy (§weights), one value each.

Every number is validated at construction, so a bad policy can never exist; a validator
raises `FieldError`, which carries the field's name so `policy_mapping` can name the full
dotted path of the problem.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import attrs

from selfplay_core.configs import ALL_CONFIGS, ConfigKey

__all__ = [
    "BoardTable",
    "Bounds",
    "BudgetPolicy",
    "ConfigTable",
    "DataDeficitPolicy",
    "DynamicRules",
    "FieldError",
    "IntervalPolicy",
    "OverrideMultipliers",
    "PlayerTable",
    "QualityPolicy",
    "SamplesPolicy",
    "StalenessPolicy",
    "StarvationPolicy",
    "TargetGamesPolicy",
    "UncertaintyModel",
    "VelocityPolicy",
    "VoiPolicy",
    "WeightBounds",
    "Weights",
]


class FieldError(ValueError):
    """Raised by the validators below: carries the field name so the full path can be rebuilt."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field


# --- validators (they run on direct construction too, so a bad policy can never exist) ------------


def _number(_inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FieldError(attribute.name, f"expected a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise FieldError(attribute.name, f"must be finite, got {value!r}")


def _non_negative(inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    _number(inst, attribute, value)
    if value < 0:
        raise FieldError(attribute.name, f"must not be negative, got {value!r}")


def _positive(inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    _number(inst, attribute, value)
    if value <= 0:
        raise FieldError(attribute.name, f"must be positive, got {value!r}")


def _count(_inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(attribute.name, f"expected an integer, got {type(value).__name__}")
    if value < 0:
        raise FieldError(attribute.name, f"must not be negative, got {value!r}")


def _num(default: float) -> Any:
    return attrs.field(default=default, validator=_number)


def _nonneg(default: float) -> Any:
    return attrs.field(default=default, validator=_non_negative)


def _pos(default: float) -> Any:
    return attrs.field(default=default, validator=_positive)


def _int(default: int) -> Any:
    return attrs.field(default=default, validator=_count)


# --- tables ---------------------------------------------------------------------------------------


def _as_tuple(values: Iterable[float]) -> tuple[float, ...]:
    return tuple(values)


@attrs.frozen
class ConfigTable:
    """One non-negative number per canonical config; encoded as ``{"hex8_2p": 35.0, ...}``."""

    values: tuple[float, ...] = attrs.field(converter=_as_tuple)

    @values.validator
    def _check(self, _attr: attrs.Attribute[tuple[float, ...]], values: tuple[float, ...]) -> None:
        if len(values) != len(ALL_CONFIGS):
            raise FieldError(None, f"needs {len(ALL_CONFIGS)} values, got {len(values)}")
        for key, value in zip(ALL_CONFIGS, values, strict=True):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise FieldError(str(key), f"expected a number, got {type(value).__name__}")
            if not math.isfinite(value) or value < 0:
                raise FieldError(str(key), f"must be finite and not negative, got {value!r}")

    def __getitem__(self, key: ConfigKey) -> float:
        return self.values[key.index]

    def as_dict(self) -> dict[str, float]:
        return {str(key): float(v) for key, v in zip(ALL_CONFIGS, self.values, strict=True)}


@attrs.frozen
class BoardTable:
    """One number per board (hex8, square8, square19, hexagonal)."""

    hex8: float = attrs.field(validator=_non_negative)
    square8: float = attrs.field(validator=_non_negative)
    square19: float = attrs.field(validator=_non_negative)
    hexagonal: float = attrs.field(validator=_non_negative)

    def __getitem__(self, board: str) -> float:
        return float(getattr(self, board))


@attrs.frozen
class PlayerTable:
    """One number per player count; encoded as ``{"2p": ..., "3p": ..., "4p": ...}``."""

    p2: float = attrs.field(validator=_non_negative)
    p3: float = attrs.field(validator=_non_negative)
    p4: float = attrs.field(validator=_non_negative)

    def __getitem__(self, players: int) -> float:
        return float((self.p2, self.p3, self.p4)[players - 2])


@attrs.frozen
class Bounds:
    """A closed interval [min, max] a dynamic weight is clamped to."""

    min: float = attrs.field(validator=_non_negative)
    max: float = attrs.field(validator=_non_negative)

    def __attrs_post_init__(self) -> None:
        if self.min > self.max:
            raise FieldError(None, f"min {self.min!r} is greater than max {self.max!r}")

    def clamp(self, value: float) -> float:
        # Same expression as the reference: max(lo, min(hi, v)).
        return max(self.min, min(self.max, value))


# --- groups ---------------------------------------------------------------------------------------


@attrs.frozen
class Weights:
    """Base factor weights (§weights). They sum to 1.55; nothing normalises them."""

    staleness: float = _nonneg(0.30)
    velocity: float = _nonneg(0.20)
    training: float = _nonneg(0.10)
    exploration: float = _nonneg(0.10)
    curriculum: float = _nonneg(0.10)
    improvement: float = _nonneg(0.15)
    data_deficit: float = _nonneg(0.25)
    quality: float = _nonneg(0.15)
    voi: float = _nonneg(0.20)


@attrs.frozen
class WeightBounds:
    """DYNAMIC_WEIGHT_BOUNDS (§weights). Unlike the reference, quality and voi are clamped too."""

    staleness: Bounds = attrs.field(factory=lambda: Bounds(0.15, 0.50))
    velocity: Bounds = attrs.field(factory=lambda: Bounds(0.10, 0.30))
    training: Bounds = attrs.field(factory=lambda: Bounds(0.05, 0.20))
    exploration: Bounds = attrs.field(factory=lambda: Bounds(0.05, 0.20))
    curriculum: Bounds = attrs.field(factory=lambda: Bounds(0.05, 0.25))
    improvement: Bounds = attrs.field(factory=lambda: Bounds(0.10, 0.25))
    data_deficit: Bounds = attrs.field(factory=lambda: Bounds(0.15, 0.40))
    quality: Bounds = attrs.field(factory=lambda: Bounds(0.05, 0.25))
    voi: Bounds = attrs.field(factory=lambda: Bounds(0.10, 0.35))


@attrs.frozen
class DynamicRules:
    """Dynamic reweighting thresholds and factors (§weights). Comparisons are strict (> / <)."""

    bounds: WeightBounds = attrs.field(factory=WeightBounds)
    idle_gpu_high_threshold: float = _num(0.5)
    idle_gpu_low_threshold: float = _num(0.1)
    training_queue_high_threshold: int = _int(10)
    configs_at_target_threshold: float = _num(0.5)
    elo_high_threshold: float = _num(1800.0)
    elo_medium_threshold: float = _num(1500.0)
    # "Config at target" uses its own hard-coded Elo (L935), compared with >=.
    at_target_elo: float = _num(2000.0)
    # Average Elo when no config has an Elo > 0.
    default_average_elo: float = _num(1500.0)
    idle_high_staleness_multiplier: float = _nonneg(1.5)
    idle_low_staleness_multiplier: float = _nonneg(0.7)
    queue_high_staleness_multiplier: float = _nonneg(0.6)
    at_target_velocity_multiplier: float = _nonneg(0.6)
    elo_high_curriculum_multiplier: float = _nonneg(1.8)
    elo_medium_curriculum_multiplier: float = _nonneg(1.3)
    idle_high_data_deficit_multiplier: float = _nonneg(1.4)


@attrs.frozen
class VoiPolicy:
    """Value-of-information constants (§factors)."""

    uncertainty_scale: float = _pos(300.0)
    gap_scale: float = _pos(500.0)
    info_gain_scale: float = _pos(10.0)
    uncertainty_mix: float = _nonneg(0.4)
    gap_mix: float = _nonneg(0.3)
    info_gain_mix: float = _nonneg(0.3)
    # Dead in the reference (the Elo target comes from each config's inputs); kept as data.
    elo_target: float = _num(2000.0)
    # VOI_SAMPLE_COST_BY_BOARD: dead in the reference, kept as data (docs/deviations.md).
    sample_cost: ConfigTable = attrs.field(
        factory=lambda: ConfigTable((1.0, 1.3, 1.5, 1.0, 1.3, 1.5, 5.0, 7.0, 9.0, 8.0, 11.0, 14.0))
    )


@attrs.frozen
class UncertaintyModel:
    """Elo uncertainty from the game count (L835-843): max(floor, base/√n), or base when n = 0."""

    base: float = _nonneg(300.0)
    floor: float = _nonneg(30.0)


@attrs.frozen
class DataDeficitPolicy:
    """Data-deficit target (§factors); large boards need int(target × multiplier) games."""

    target_games: int = attrs.field(default=100_000, validator=_count)
    large_board_multiplier: float = _pos(1.5)

    def __attrs_post_init__(self) -> None:
        if self.target_games <= 0:
            raise FieldError("target_games", "must be positive")


@attrs.frozen
class OverrideMultipliers:
    """PRIORITY_OVERRIDE_MULTIPLIERS (§overrides): level 0 critical … 3 low; any other → other."""

    critical: float = _nonneg(3.0)
    high: float = _nonneg(2.0)
    medium: float = _nonneg(1.25)
    low: float = _nonneg(1.0)
    other: float = _nonneg(1.0)

    def for_level(self, level: int) -> float:
        if level == 0:
            return self.critical
        if level == 1:
            return self.high
        if level == 2:
            return self.medium
        if level == 3:
            return self.low
        return self.other


@attrs.frozen
class StarvationPolicy:
    """Data starvation (§starvation): game_count < emergency_games → ×10, < critical_games → ×5."""

    emergency_games: int = _int(100)
    critical_games: int = _int(1000)
    emergency_multiplier: float = _nonneg(10.0)
    critical_multiplier: float = _nonneg(5.0)


@attrs.frozen
class SamplesPolicy:
    """SAMPLES_PER_GAME_BY_BOARD (§configs), and the defaults until a training target is set
    (§targets)."""

    per_game: ConfigTable = attrs.field(
        factory=lambda: ConfigTable(
            (35.0, 40.0, 45.0, 40.0, 50.0, 55.0, 150.0, 180.0, 200.0, 250.0, 300.0, 350.0)
        )
    )
    default_estimate: float = _nonneg(50.0)
    default_target: int = _int(50_000)


@attrs.frozen
class StalenessPolicy:
    """Staleness thresholds in hours (§factors): factor 0 below fresh, linear to 1 at stale."""

    fresh_hours: float = _num(1.0)
    stale_hours: float = _num(4.0)
    # The reference's "> max → 1.0" branch is redundant (the factor is already 1 there).
    max_hours: float = _num(24.0)

    def __attrs_post_init__(self) -> None:
        if self.stale_hours <= self.fresh_hours:
            raise FieldError("stale_hours", "must be greater than fresh_hours")


@attrs.frozen
class VelocityPolicy:
    """Velocity factor cap (Elo/day) and the hourly-velocity multiplier rule (§factors, §score)."""

    factor_cap_per_day: float = _pos(100.0)
    slow_per_hour: float = _num(0.5)
    fast_per_hour: float = _num(5.0)
    slow_multiplier: float = _nonneg(0.7)
    normal_multiplier: float = _nonneg(1.0)
    fast_multiplier: float = _nonneg(1.2)


@attrs.frozen
class QualityPolicy:
    """Quality is scored relative to its centre (L1057); the default quality (L1467)."""

    centre: float = _num(0.7)
    default_score: float = _num(0.7)


@attrs.frozen
class BudgetPolicy:
    """Adaptive Gumbel budget by Elo (§targets) and the named budgets. Thresholds use >=."""

    master_elo: float = _num(2000.0)
    ultimate_elo: float = _num(1800.0)
    quality_elo: float = _num(1500.0)
    throughput: int = _int(64)
    standard: int = _int(800)
    quality: int = _int(800)
    ultimate: int = _int(1600)
    master: int = _int(3200)


@attrs.frozen
class TargetGamesPolicy:
    """Dynamic target games (§targets): min(int(gap × per_elo × board × players), cap)."""

    target_elo: float = _num(1900.0)
    games_per_elo: float = _nonneg(500.0)
    board_multipliers: BoardTable = attrs.field(factory=lambda: BoardTable(1.0, 1.2, 2.0, 2.5))
    player_multipliers: PlayerTable = attrs.field(factory=lambda: PlayerTable(1.0, 1.5, 2.5))
    cap: int = _int(500_000)


@attrs.frozen
class IntervalPolicy:
    """Refresh intervals of the reference, in seconds (§factors); the shell's timers use them."""

    priority_update_seconds: float = _nonneg(15.0)
    dynamic_weights_seconds: float = _nonneg(60.0)
    node_capabilities_seconds: float = _nonneg(60.0)
    # Health calls priority data stale after this long without a refresh (SS 3831).
    health_stale_seconds: float = _nonneg(300.0)
