"""The reference policy as one value: every constant of §weights, grouped.

`SchedulerPolicy()` is the reference. `from_mapping` / `to_mapping` turn it into plain data
(TOML- and JSON-friendly: string keys, numbers, booleans) and back; a mapping may give any
subset of the policy, down to one entry of one table, and the rest keeps the reference's
values. Anything malformed is rejected with a `PolicyError` naming the dotted path of the bad
field. The groups and tables live in `policy_groups`, the converter in `policy_mapping`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from selfplay_core.allocation_policy import AllocationPolicy
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.event_policy import EventPolicy
from selfplay_core.policy_groups import (
    BoardTable,
    Bounds,
    BudgetPolicy,
    ConfigTable,
    DataDeficitPolicy,
    DynamicRules,
    IntervalPolicy,
    OverrideMultipliers,
    PlayerTable,
    QualityPolicy,
    SamplesPolicy,
    StalenessPolicy,
    StarvationPolicy,
    TargetGamesPolicy,
    UncertaintyModel,
    VelocityPolicy,
    VoiPolicy,
    WeightBounds,
    Weights,
)
from selfplay_core.policy_mapping import PolicyError, structure_policy, unstructure_policy

__all__ = [
    "BoardTable",
    "Bounds",
    "BudgetPolicy",
    "ConfigConstants",
    "ConfigTable",
    "DataDeficitPolicy",
    "DynamicRules",
    "IntervalPolicy",
    "OverrideMultipliers",
    "PlayerTable",
    "PolicyError",
    "QualityPolicy",
    "SamplesPolicy",
    "SchedulerPolicy",
    "StalenessPolicy",
    "StarvationPolicy",
    "TargetGamesPolicy",
    "UncertaintyModel",
    "VelocityPolicy",
    "VoiPolicy",
    "WeightBounds",
    "Weights",
    "from_mapping",
    "to_mapping",
]


@attrs.frozen
class ConfigConstants:
    """Per-config constants precomputed once per policy."""

    player_multiplier: float
    deficit_target: float
    samples_per_game: float


@attrs.frozen
class SchedulerPolicy:
    """Every weight, bound, threshold, table and multiplier of the reference, as one value."""

    weights: Weights = attrs.field(factory=Weights)
    dynamic: DynamicRules = attrs.field(factory=DynamicRules)
    voi: VoiPolicy = attrs.field(factory=VoiPolicy)
    uncertainty: UncertaintyModel = attrs.field(factory=UncertaintyModel)
    data_deficit: DataDeficitPolicy = attrs.field(factory=DataDeficitPolicy)
    overrides: OverrideMultipliers = attrs.field(factory=OverrideMultipliers)
    player_count_multipliers: PlayerTable = attrs.field(factory=lambda: PlayerTable(1.0, 3.0, 4.0))
    starvation: StarvationPolicy = attrs.field(factory=StarvationPolicy)
    samples: SamplesPolicy = attrs.field(factory=SamplesPolicy)
    staleness: StalenessPolicy = attrs.field(factory=StalenessPolicy)
    velocity: VelocityPolicy = attrs.field(factory=VelocityPolicy)
    quality: QualityPolicy = attrs.field(factory=QualityPolicy)
    budget: BudgetPolicy = attrs.field(factory=BudgetPolicy)
    target_games: TargetGamesPolicy = attrs.field(factory=TargetGamesPolicy)
    intervals: IntervalPolicy = attrs.field(factory=IntervalPolicy)
    allocation: AllocationPolicy = attrs.field(factory=AllocationPolicy)
    events: EventPolicy = attrs.field(factory=EventPolicy)
    # Derived, not part of the value's identity or its mapping form: the constants each config
    # reads, in canonical order (index them with `ConfigKey.index`).
    per_config: tuple[ConfigConstants, ...] = attrs.field(
        init=False, eq=False, hash=False, repr=False
    )

    def __attrs_post_init__(self) -> None:
        deficit = self.data_deficit
        small = float(deficit.target_games)
        large = float(int(deficit.target_games * deficit.large_board_multiplier))
        constants = tuple(
            ConfigConstants(
                player_multiplier=self.player_count_multipliers[key.players],
                deficit_target=large if key.is_large_board else small,
                samples_per_game=self.samples.per_game[key],
            )
            for key in ALL_CONFIGS
        )
        object.__setattr__(self, "per_config", constants)

    def constants_for(self, key: ConfigKey) -> ConfigConstants:
        return self.per_config[key.index]

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> SchedulerPolicy:
        return from_mapping(mapping)

    def to_mapping(self) -> dict[str, Any]:
        return to_mapping(self)


# The reference's own mapping: a given mapping is laid over it, so it may give any subset.
_REFERENCE_MAPPING: Final = unstructure_policy(SchedulerPolicy())


def from_mapping(mapping: Mapping[str, Any]) -> SchedulerPolicy:
    """Build a policy from plain data giving any subset of it, down to one entry of one table
    (``{"player_count_multipliers": {"2p": 5.0}}``); the rest keeps the reference's values.

    Raises `PolicyError` (with `.path`, e.g. ``"weights.staleness"``) for an unknown key, a wrong
    type, a non-finite number, a negative weight, or bounds with min > max.
    """
    return structure_policy(mapping, SchedulerPolicy, _REFERENCE_MAPPING)


def to_mapping(policy: SchedulerPolicy) -> dict[str, Any]:
    """Plain data (string keys, numbers): ``from_mapping(to_mapping(p)) == p``."""
    return unstructure_policy(policy)
