"""Frozen values of the priority calculation: its inputs, weights, cluster signals and results.

Every number is checked at construction (finite, counts not negative), so the pure functions in
`selfplay_core.priority` never meet NaN and never need to raise.
"""

from __future__ import annotations

import enum
from typing import Any, Final

import attrs

from selfplay_core._validators import count as _count
from selfplay_core._validators import finite as _finite
from selfplay_core._validators import non_negative as _non_negative
from selfplay_core.cluster import ClusterState, NodeCapability
from selfplay_core.configs import ALL_CONFIGS, ConfigKey, coerce_config_key

__all__ = [
    "MAX_INPUT_MAGNITUDE",
    "ClusterSignals",
    "ClusterState",
    "ConfigPriority",
    "DynamicWeights",
    "NodeCapability",
    "PriorityBreakdown",
    "PriorityFactors",
    "PriorityInputs",
    "PriorityMultipliers",
    "PriorityTerms",
    "PriorityTier",
]


# Inputs are physical quantities (Elo, hours, multipliers of order 1); anything beyond this is a
# corrupted source. The bound also makes "the score is finite for every valid input" true.
MAX_INPUT_MAGNITUDE: Final = 1e9


def _bounded(inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if type(value) is float and -MAX_INPUT_MAGNITUDE <= value <= MAX_INPUT_MAGNITUDE:
        return  # the common case in one comparison (NaN and ±inf fail it)
    _finite(inst, attribute, value)
    if abs(value) > MAX_INPUT_MAGNITUDE:
        raise ValueError(f"{attribute.name}: magnitude above {MAX_INPUT_MAGNITUDE:g}: {value!r}")


def _bounded_non_negative(inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if type(value) is float and 0.0 <= value <= MAX_INPUT_MAGNITUDE:
        return
    _bounded(inst, attribute, value)
    if value < 0:
        raise ValueError(f"{attribute.name}: must not be negative, got {value!r}")


_optional_bounded_non_negative = attrs.validators.optional(_bounded_non_negative)


def _fraction(inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    _finite(inst, attribute, value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name}: must be in [0, 1], got {value!r}")


def _integer(_inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name}: expected an integer, got {type(value).__name__}")


def _boolean(_inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{attribute.name}: expected a boolean, got {type(value).__name__}")


def canonical_config_key(value: ConfigKey | str) -> ConfigKey:
    """attrs converter: a `ConfigKey` or its string, as the shared canonical instance.

    Canonical instances let the ranking compare keys by identity first.
    """
    return ALL_CONFIGS[coerce_config_key(value).index]


@attrs.frozen
class PriorityInputs:
    """Everything the score of one config depends on, besides the weights and the policy.

    Two velocities, on purpose (§score): `elo_velocity` is Elo per **day** (the
    populator's regression; it drives the velocity factor) and `elo_velocity_per_hour` is Elo
    per **hour** (from Elo-updated events; it drives the ×0.7 / ×1.2 multiplier).
    `elo_uncertainty=None` means "derive it from games_count" as the reference does after an
    update: max(30, 300/√n), or 300 with no games.
    """

    config_key: ConfigKey = attrs.field(converter=canonical_config_key)
    current_elo: float = attrs.field(default=1500.0, validator=_bounded)
    elo_velocity: float = attrs.field(default=0.0, validator=_bounded)
    elo_velocity_per_hour: float = attrs.field(default=0.0, validator=_bounded)
    staleness_hours: float = attrs.field(default=0.0, validator=_bounded)
    curriculum_weight: float = attrs.field(default=1.0, validator=_bounded_non_negative)
    quality_score: float = attrs.field(default=0.7, validator=_bounded)
    quality_penalty: float = attrs.field(default=0.0, validator=_bounded)
    games_count: int = attrs.field(default=0, validator=_count)
    training_pending: bool = attrs.field(default=False, validator=_boolean)
    exploration_boost: float = attrs.field(default=1.0, validator=_bounded_non_negative)
    improvement_boost: float = attrs.field(default=0.0, validator=_bounded)
    momentum_multiplier: float = attrs.field(default=1.0, validator=_bounded_non_negative)
    cascade_multiplier: float = attrs.field(default=1.0, validator=_bounded_non_negative)
    # 0 critical, 1 high, 2 medium, 3 low; any other level gets the policy's "other" multiplier.
    priority_override: int = attrs.field(default=3, validator=_integer)
    elo_uncertainty: float | None = attrs.field(
        default=None, validator=_optional_bounded_non_negative
    )
    target_elo: float = attrs.field(default=2000.0, validator=_bounded)
    # The config's canonical index (`config_key.index`), cached: the ranking reads it for every
    # config, and the policy's per-config constants are indexed by it.
    config_index: int = attrs.field(init=False, eq=False, hash=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "config_index", self.config_key.index)


@attrs.frozen
class ClusterSignals:
    """The cluster-level facts the dynamic weights depend on (§weights).

    The defaults are a fresh scheduler's: no nodes (so 0 % idle), empty queue, all Elo 1500.
    """

    idle_gpu_fraction: float = attrs.field(default=0.0, validator=_fraction)
    training_queue_depth: int = attrs.field(default=0, validator=_count)
    configs_at_target_fraction: float = attrs.field(default=0.0, validator=_fraction)
    average_elo: float = attrs.field(default=1500.0, validator=_finite)


@attrs.frozen
class DynamicWeights:
    """The nine factor weights after dynamic reweighting, plus the signals they came from.

    Defaults are the reference's base weights and a fresh scheduler's diagnostics (§weights).
    """

    staleness: float = attrs.field(default=0.30, validator=_non_negative)
    velocity: float = attrs.field(default=0.20, validator=_non_negative)
    training: float = attrs.field(default=0.10, validator=_non_negative)
    exploration: float = attrs.field(default=0.10, validator=_non_negative)
    curriculum: float = attrs.field(default=0.10, validator=_non_negative)
    improvement: float = attrs.field(default=0.15, validator=_non_negative)
    data_deficit: float = attrs.field(default=0.25, validator=_non_negative)
    quality: float = attrs.field(default=0.15, validator=_non_negative)
    voi: float = attrs.field(default=0.20, validator=_non_negative)
    idle_gpu_fraction: float = attrs.field(default=0.0, validator=_fraction)
    training_queue_depth: int = attrs.field(default=0, validator=_count)
    configs_at_target_fraction: float = attrs.field(default=0.0, validator=_fraction)
    average_elo: float = attrs.field(default=1500.0, validator=_finite)

    @property
    def signals(self) -> ClusterSignals:
        return ClusterSignals(
            self.idle_gpu_fraction,
            self.training_queue_depth,
            self.configs_at_target_fraction,
            self.average_elo,
        )

    def to_dict(self) -> dict[str, float | int]:
        """All thirteen fields under the reference's names (its `DynamicWeights.to_dict`)."""
        return {field.name: getattr(self, field.name) for field in attrs.fields(DynamicWeights)}


class PriorityTier(enum.StrEnum):
    """Data-starvation tier of a config, by its game count (§starvation)."""

    EMERGENCY = "emergency"
    CRITICAL = "critical"
    NORMAL = "normal"


@attrs.frozen
class PriorityFactors:
    """The normalised factors (each in [0, 1]) and the three inputs of VOI besides the policy:
    the Elo uncertainty, the Elo gap to the target and the information gain per game."""

    staleness: float
    velocity: float
    data_deficit: float
    voi: float
    elo_uncertainty: float
    elo_gap: float
    info_gain: float


@attrs.frozen
class PriorityTerms:
    """The nine additive terms S1…S9 of §score, in the reference's order."""

    staleness: float
    velocity: float
    training: float
    exploration: float
    curriculum: float
    improvement: float
    quality: float
    data_deficit: float
    voi: float


@attrs.frozen
class PriorityMultipliers:
    """The seven multipliers of §score, in the order the reference applies them."""

    exploration_boost: float
    momentum: float
    velocity: float
    override: float
    player_count: float
    cascade: float
    starvation: float


@attrs.frozen
class PriorityBreakdown:
    """Why a config scored what it did: every factor, term and multiplier.

    `reference_score` is base × multipliers (the reference's result, which can be negative);
    `score` is that, except 0.0 when base ≤ 0 (docs/deviations.md: multipliers never amplify a
    negative base). The parts are the very numbers the score was computed from
    (selfplay_core.priority_formula.evaluate).
    """

    config_key: ConfigKey
    factors: PriorityFactors
    terms: PriorityTerms
    base: float
    multipliers: PriorityMultipliers
    tier: PriorityTier
    reference_score: float
    score: float


@attrs.frozen
class ConfigPriority:
    """One ranked config: its score, its game count, and (when asked for) the breakdown."""

    config_key: ConfigKey = attrs.field(converter=coerce_config_key)
    score: float = attrs.field(validator=_finite)
    games_count: int = attrs.field(default=0, validator=_count)
    breakdown: PriorityBreakdown | None = None
