"""The scheduler's own events: time, data refreshes, decisions and the facade's calls, and
the types RingRift added after the reference (§later). Re-exported by `selfplay_core.events`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Final

import attrs

from selfplay_core._validators import (
    EachValue,
    count,
    finite,
    non_negative,
    optional_count,
    optional_non_negative,
    text,
)
from selfplay_core._validators import Empty as Empty  # the problem kinds, re-exported
from selfplay_core._validators import FieldProblem as FieldProblem
from selfplay_core._validators import Negative as Negative
from selfplay_core._validators import NotFinite as NotFinite
from selfplay_core._validators import NotUtf8 as NotUtf8
from selfplay_core._validators import WrongType as WrongType
from selfplay_core.allocation.values import AllocationRequest, BatchAllocation
from selfplay_core.cluster import Backpressure, NodeCapability
from selfplay_core.config_maps import optional_config_map, to_config_key
from selfplay_core.configs import ConfigKey
from selfplay_core.signals import FeedbackSignal

# --- the scheduler's own events ---


@attrs.frozen
class Tick:
    """Time passed: boosts and backoffs whose expiry is ≤ `at` lapse."""

    TAG: ClassVar[str] = "tick"
    at: float = attrs.field(validator=non_negative)


@attrs.frozen
class SourcesRefreshed:
    """What the data accessor measured. Every part is optional: None means that source failed
    this time (keep the last value). Mappings are read-only, in canonical config order."""

    TAG: ClassVar[str] = "sources_refreshed"
    current_elos: Mapping[ConfigKey, float] | None = attrs.field(
        default=None, converter=optional_config_map, validator=EachValue(finite)
    )
    elo_velocities: Mapping[ConfigKey, float] | None = attrs.field(
        default=None, converter=optional_config_map, validator=EachValue(finite)
    )
    game_counts: Mapping[ConfigKey, int] | None = attrs.field(
        default=None, converter=optional_config_map, validator=EachValue(count)
    )
    staleness_hours: Mapping[ConfigKey, float] | None = attrs.field(
        default=None, converter=optional_config_map, validator=EachValue(finite)
    )
    curriculum_weights: Mapping[ConfigKey, float] | None = attrs.field(
        default=None, converter=optional_config_map, validator=EachValue(finite)
    )
    feedback: Mapping[ConfigKey, FeedbackSignal] | None = attrs.field(
        default=None, converter=optional_config_map
    )
    improvement_boosts: Mapping[ConfigKey, float] | None = attrs.field(
        default=None, converter=optional_config_map, validator=EachValue(finite)
    )
    momentum_multipliers: Mapping[ConfigKey, float] | None = attrs.field(
        default=None, converter=optional_config_map, validator=EachValue(finite)
    )
    quality_scores: Mapping[ConfigKey, float] | None = attrs.field(
        default=None, converter=optional_config_map, validator=EachValue(finite)
    )
    cascade_multipliers: Mapping[ConfigKey, float] | None = attrs.field(
        default=None, converter=optional_config_map, validator=EachValue(finite)
    )
    priority_overrides: Mapping[ConfigKey, int] | None = attrs.field(
        default=None, converter=optional_config_map, validator=EachValue(count)
    )
    nodes: tuple[NodeCapability, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(tuple)
    )
    training_queue_depth: int | None = attrs.field(default=None, validator=optional_count)
    backpressure: Backpressure | None = None


#: The parts of a refresh, in field order; the accessor and the reducer both walk this list.
SOURCE_PARTS: Final[tuple[str, ...]] = tuple(field.name for field in attrs.fields(SourcesRefreshed))


@attrs.frozen
class AllocationDecided:
    """A decision the shell made and recorded: the request and the full result (with its
    explanation). Replay re-decides at each one and compares."""

    TAG: ClassVar[str] = "allocation_decided"
    request: AllocationRequest
    result: BatchAllocation


@attrs.frozen
class TargetTrainingSamplesSet:
    """Facade `set_target_training_samples(key, n)`."""

    TAG: ClassVar[str] = "target_training_samples_set"
    config_key: ConfigKey = attrs.field(converter=to_config_key)
    target: int = attrs.field(validator=count)


@attrs.frozen
class ConfigBoosted:
    """Facade `boost_config_allocation(key, multiplier)`."""

    TAG: ClassVar[str] = "config_boosted"
    config_key: ConfigKey = attrs.field(converter=to_config_key)
    multiplier: float = attrs.field(validator=non_negative)


@attrs.frozen
class NewGamesAvailable:
    """NEW_GAMES_AVAILABLE (upstream HEAD, §later): `new_games` more completed games of a
    config (publishers also say `games_added`, `games_count` or `count`)."""

    TAG: ClassVar[str] = "new_games_available"
    config_key: ConfigKey = attrs.field(converter=to_config_key)
    new_games: int = attrs.field(default=0, validator=count)


@attrs.frozen
class SpawningPaused:
    """Facade `pause_spawning()` (no duration: until `SpawningResumed`) and
    `activate_backpressure(reason, duration_seconds)`: batches are empty while it holds."""

    TAG: ClassVar[str] = "spawning_paused"
    reason: str = attrs.field(default="pause_spawning", validator=text)
    duration_seconds: float | None = attrs.field(default=None, validator=optional_non_negative)


@attrs.frozen
class SpawningResumed:
    """Facade `resume_spawning()`: ends any pause, timed or not."""

    TAG: ClassVar[str] = "spawning_resumed"
