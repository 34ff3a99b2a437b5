"""The reference's records, reference-shaped, as views over the core's values and functions.

`ConfigPriority` is the reference's per-config record of inputs (priority.md §2.2): built with
keyword fields and a string key, read through computed properties. Every property is a call of
the core's own function in `selfplay_core.priority` on the record's fields: no formula lives
here. `NodeCapability` is the core's node value with the reference's two derived properties,
again computed by the core (`node_capacity`). `DynamicWeights` is the core's value unchanged
(same thirteen fields, same `to_dict`).

Both records are frozen (change one with `dataclasses`-like `attrs.evolve`); numbers are checked
by the core's validators when the record is built, naming the field.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from selfplay_core import (
    ConfigKey,
    DynamicWeights,
    PriorityInputs,
    SchedulerPolicy,
)
from selfplay_core import NodeCapability as CoreNodeCapability
from selfplay_core import priority as core
from selfplay_core.allocation.capacity import available_capacity, capacity_weight

__all__ = ["ConfigPriority", "DynamicWeights", "NodeCapability"]

REFERENCE_POLICY: Final = SchedulerPolicy()


def _key(value: ConfigKey | str) -> ConfigKey:
    return ConfigKey.parse(value) if isinstance(value, str) else value


def _key_text(value: ConfigKey | str) -> str:
    return str(_key(value))


def _nodes(value: Any) -> tuple[str, ...]:
    return tuple(str(node) for node in value)


@attrs.frozen(kw_only=True)
class ConfigPriority:
    """The reference's `ConfigPriority`: one config's inputs and its last allocation.

    `config_key` is given and read as a plain string (``"hex8_2p"``); an unknown key raises
    `ConfigKeyError` (docs/deviations.md C4). `is_large_board` follows the key; passing a value
    that contradicts it raises `ValueError`. `elo_uncertainty` and `samples_per_game_estimate`
    keep the reference dataclass defaults (200 and 50) until a scheduler fills them in.
    """

    config_key: str = attrs.field(converter=_key_text)
    staleness_hours: float = 0.0
    elo_velocity: float = 0.0
    training_pending: bool = False
    exploration_boost: float = 1.0
    exploration_boost_expires_at: float = 0.0
    curriculum_weight: float = 1.0
    improvement_boost: float = 0.0
    quality_penalty: float = 0.0
    momentum_multiplier: float = 1.0
    game_count: int = 0
    is_large_board: bool | None = None
    priority_override: int = 3
    search_budget: int = 400
    current_elo: float = 1500.0
    elo_uncertainty: float = 200.0
    target_elo: float = 2000.0
    target_training_samples: int = 50_000
    samples_per_game_estimate: float = 50.0
    priority_score: float = 0.0
    games_allocated: int = 0
    nodes_allocated: tuple[str, ...] = attrs.field(default=(), converter=_nodes)
    _inputs: PriorityInputs = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        key = _key(self.config_key)
        if self.is_large_board is None:
            object.__setattr__(self, "is_large_board", key.is_large_board)
        elif self.is_large_board is not key.is_large_board:
            raise ValueError(
                f"is_large_board: {self.config_key} is "
                f"{'' if key.is_large_board else 'not '}a large board, got {self.is_large_board!r}"
            )
        # The core's value checks every number (finite, counts ≥ 0, …) and names the field.
        inputs = PriorityInputs(
            config_key=key,
            current_elo=self.current_elo,
            elo_velocity=self.elo_velocity,
            staleness_hours=self.staleness_hours,
            curriculum_weight=self.curriculum_weight,
            quality_penalty=self.quality_penalty,
            games_count=self.game_count,
            training_pending=self.training_pending,
            exploration_boost=self.exploration_boost,
            improvement_boost=self.improvement_boost,
            momentum_multiplier=self.momentum_multiplier,
            priority_override=self.priority_override,
            elo_uncertainty=self.elo_uncertainty,
            target_elo=self.target_elo,
        )
        object.__setattr__(self, "_inputs", inputs)

    @property
    def inputs(self) -> PriorityInputs:
        """The core's `PriorityInputs` this record holds (hourly velocity and quality default)."""
        return self._inputs

    @property
    def staleness_factor(self) -> float:
        return core.staleness_factor(self.staleness_hours, REFERENCE_POLICY)

    @property
    def velocity_factor(self) -> float:
        return core.velocity_factor(self.elo_velocity, REFERENCE_POLICY)

    @property
    def data_deficit_factor(self) -> float:
        return core.data_deficit_factor(self.game_count, self._inputs.config_key, REFERENCE_POLICY)

    @property
    def player_count(self) -> int:
        return self._inputs.config_key.players

    @property
    def games_needed(self) -> int:
        return core.games_needed(
            self.game_count, self.target_training_samples, self.samples_per_game_estimate
        )

    @property
    def elo_gap(self) -> float:
        return core.elo_gap(self.current_elo, self.target_elo)

    @property
    def info_gain_per_game(self) -> float:
        return core.info_gain_per_game(self.game_count, self.elo_uncertainty)

    @property
    def voi_score(self) -> float:
        policy = REFERENCE_POLICY
        u = self.elo_uncertainty
        return core.voi_score(self.current_elo, self.target_elo, self.game_count, u, policy)


@attrs.frozen
class NodeCapability(CoreNodeCapability):
    """The core's `NodeCapability` with the reference's derived values, computed by the core's
    capacity functions under the reference policy (GPU names are matched as docs/deviations.md
    A12 says)."""

    @property
    def capacity_weight(self) -> float:
        return capacity_weight(self, REFERENCE_POLICY.allocation)

    @property
    def available_capacity(self) -> float:
        return available_capacity(self, REFERENCE_POLICY.allocation)
