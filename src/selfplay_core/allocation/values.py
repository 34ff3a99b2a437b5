"""The values allocation takes and returns: request, per-node view, explanation, batch.

All frozen attrs of primitives, tuples, `ConfigKey` and read-only mappings keyed by `ConfigKey`
(canonical order) or `str` (sorted), so the codec can encode them and equal decisions encode
byte-identically.
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import attrs

from selfplay_core._validators import (
    EachValue,
    all_plain_counts,
    count,
    finite,
    non_negative,
    optional_count,
)
from selfplay_core.configs import ALL_CONFIGS, ConfigKey, coerce_config_key

# ConfigKey.index as a dict, so sorts can use its C-level lookup as their key
_INDEX = {key: key.index for key in ALL_CONFIGS}


def canonical(keys: Iterable[ConfigKey]) -> list[ConfigKey]:
    """Config keys in canonical order (one index lookup per key, no pairwise comparisons)."""
    return sorted(keys, key=_INDEX.__getitem__)


def _by_config(item: tuple[ConfigKey, Any]) -> int:
    return _INDEX[item[0]]


_V = TypeVar("_V")


def _canonical_dict(value: Mapping[Any, _V]) -> dict[ConfigKey, _V]:
    """`value` as a dict keyed by `ConfigKey` in canonical order (string keys coerced).

    Every map the allocator builds is canonical already: one pass over its keys recognises
    that, and the map is copied as it is; anything else is coerced and sorted."""
    last = -1
    for key in value:
        if type(key) is not ConfigKey or _INDEX[key] < last:
            break
        last = _INDEX[key]
    else:
        return dict(value)
    return dict(sorted(((coerce_config_key(k), v) for k, v in value.items()), key=_by_config))


def freeze_config_counts(value: Mapping[Any, int]) -> Mapping[ConfigKey, int]:
    """Read-only, keyed by `ConfigKey` in canonical order."""
    return types.MappingProxyType(_canonical_dict(value))


def freeze_config_text(value: Mapping[Any, str]) -> Mapping[ConfigKey, str]:
    return types.MappingProxyType(_canonical_dict(value))


def freeze_node_counts(value: Mapping[str, int]) -> Mapping[str, int]:
    # node ids are unique, so sorting the items compares ids only (and in C)
    return types.MappingProxyType(dict(sorted(value.items())))


def freeze_node_text(value: Mapping[str, str]) -> Mapping[str, str]:
    return types.MappingProxyType(dict(sorted(value.items())))


def freeze_placements(
    value: Mapping[Any, Mapping[str, int]],
) -> Mapping[ConfigKey, Mapping[str, int]]:
    return types.MappingProxyType(
        {k: freeze_node_counts(v) for k, v in _canonical_dict(value).items()}
    )


_each_count = EachValue(count)
_each_node_count = EachValue(EachValue(count))


def _counts(inst: Any, attribute: attrs.Attribute[Any], value: Mapping[Any, int]) -> None:
    """Every value a count: `EachValue(count)`, whose checks (and messages naming the entry)
    run only when a value is not a plain int ≥ 0."""
    if not all_plain_counts(value.values()):
        _each_count(inst, attribute, value)


def _placements(
    inst: Any, attribute: attrs.Attribute[Any], value: Mapping[Any, Mapping[str, int]]
) -> None:
    """config → node → count, checked as `_counts` is."""
    if not all(all_plain_counts(per_node.values()) for per_node in value.values()):
        _each_node_count(inst, attribute, value)


@attrs.frozen
class AllocationRequest:
    """`allocate_selfplay_batch(games_per_config, max_configs, *, target_games)` at time `now`.

    Without `target_games` each eligible config gets max(MIN, ⌊G·(0.5 + score)⌋) as the reference
    does (G = `games_per_config`); with it, exactly `target_games` games are shared out (budget
    mode), and G, the unit of floors and 4p minimums, is min(`games_per_config`, ⌊N / k⌋) for
    the k configs in the batch."""

    games_per_config: int = attrs.field(default=500, validator=count)
    max_configs: int = attrs.field(default=12, validator=count)
    target_games: int | None = attrs.field(default=None, validator=optional_count)
    now: float = attrs.field(default=0.0, validator=finite)


@attrs.frozen
class NodeAllocation:
    """One node's part of a batch, with the caps it was held to."""

    node_id: str
    games_by_config: Mapping[ConfigKey, int] = attrs.field(
        converter=freeze_config_counts, validator=_counts
    )
    games_cap: int = attrs.field(validator=count)
    large_board_cap: int = attrs.field(validator=count)

    @property
    def total_games(self) -> int:
        return sum(self.games_by_config.values())


@attrs.frozen
class ConfigDecision:
    """How one config's count came about (all counts in games).

    `starvation` is "emergency", "critical" or "none"; `base_games` comes from the score (0 when
    skipped); `floor_games`/`minimum_games` are the starvation floor and 4p minimum it was held
    to (0 when none); `donated`/`received` are 4p-minimum transfers; `unthrottled_games` is the
    count before backpressure and health; `games` the decision; `placed` + `unplaced` = `games`.
    """

    config_key: ConfigKey = attrs.field(converter=coerce_config_key)
    score: float | None
    games_count: int | None
    starvation: str
    base_games: int
    floor_games: int
    minimum_games: int
    donated: int
    received: int
    unthrottled_games: int
    games: int
    placed: int
    unplaced: int
    note: str = ""

    def __attrs_post_init__(self) -> None:
        # one check for the nine counts (cheaper than nine validators; same messages): only a
        # bad value walks the names for its message
        counts = (
            self.base_games,
            self.floor_games,
            self.minimum_games,
            self.donated,
            self.received,
            self.unthrottled_games,
            self.games,
            self.placed,
            self.unplaced,
        )
        if all_plain_counts(counts):
            return
        for name, value in zip(_DECISION_COUNTS, counts, strict=True):
            if type(value) is not int:
                raise TypeError(f"{name}: expected an integer, got {type(value).__name__}")
            if value < 0:
                raise ValueError(f"{name}: must not be negative, got {value!r}")


_DECISION_COUNTS = (
    "base_games",
    "floor_games",
    "minimum_games",
    "donated",
    "received",
    "unthrottled_games",
    "games",
    "placed",
    "unplaced",
)


@attrs.frozen
class UnmetConstraint:
    """A floor or minimum the decision could not meet, and why: kind is "starvation_floor",
    "4p_minimum" or "placement"."""

    config_key: ConfigKey = attrs.field(converter=coerce_config_key)
    kind: str
    required: int = attrs.field(validator=count)
    achieved: int = attrs.field(validator=count)
    reason: str

    @property
    def shortfall(self) -> int:
        return max(0, self.required - self.achieved)


@attrs.frozen
class AllocationExplanation:
    """Why the batch is what it is: mode ("reference", "budget", "paused"), the effective G and
    budget after backpressure and health, one `ConfigDecision` per config considered (canonical
    order), skipped configs, unmet constraints, excluded nodes and unplaced reasons."""

    mode: str
    summary: str
    requested_games_per_config: int = attrs.field(validator=count)
    effective_games_per_config: int = attrs.field(validator=count)
    throttle_multiplier: float = attrs.field(validator=non_negative)
    health_factor: float = attrs.field(validator=non_negative)
    requested_budget: int | None = attrs.field(default=None, validator=optional_count)
    effective_budget: int | None = attrs.field(default=None, validator=optional_count)
    configs: tuple[ConfigDecision, ...] = ()
    skipped: Mapping[ConfigKey, str] = attrs.field(factory=dict, converter=freeze_config_text)
    unmet: tuple[UnmetConstraint, ...] = ()
    excluded_nodes: Mapping[str, str] = attrs.field(factory=dict, converter=freeze_node_text)
    unplaced_reasons: Mapping[ConfigKey, str] = attrs.field(
        factory=dict, converter=freeze_config_text
    )

    @property
    def paused(self) -> bool:
        return self.mode == "paused"


@attrs.frozen
class Placement:
    """What `allocate_to_nodes` did with a set of per-config totals."""

    placements: Mapping[ConfigKey, Mapping[str, int]] = attrs.field(
        converter=freeze_placements, validator=_placements
    )
    unplaced: Mapping[ConfigKey, int] = attrs.field(
        converter=freeze_config_counts, validator=_counts
    )
    unplaced_reasons: Mapping[ConfigKey, str] = attrs.field(converter=freeze_config_text)
    nodes: tuple[NodeAllocation, ...]
    excluded_nodes: Mapping[str, str] = attrs.field(converter=freeze_node_text)


@attrs.frozen
class BatchAllocation:
    """One batch: games per config, where they go, what could not be placed, and why.

    Per config, Σ placements[c] + unplaced[c] == games_by_config[c]."""

    games_by_config: Mapping[ConfigKey, int] = attrs.field(
        converter=freeze_config_counts, validator=_counts
    )
    placements: Mapping[ConfigKey, Mapping[str, int]] = attrs.field(
        converter=freeze_placements, validator=_placements
    )
    unplaced: Mapping[ConfigKey, int] = attrs.field(
        converter=freeze_config_counts, validator=_counts
    )
    explanation: AllocationExplanation
    nodes: tuple[NodeAllocation, ...] = ()

    @property
    def total_games(self) -> int:
        return sum(self.games_by_config.values())

    @property
    def placed_games(self) -> int:
        return sum(sum(per_node.values()) for per_node in self.placements.values())

    @property
    def unplaced_games(self) -> int:
        return sum(self.unplaced.values())

    def as_reference_dict(self) -> dict[str, dict[str, int]]:
        """The reference's return shape: {config: {node: games}} (placed games only)."""
        return {str(key): dict(per_node) for key, per_node in self.placements.items() if per_node}
