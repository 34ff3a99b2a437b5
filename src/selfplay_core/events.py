"""Every event the scheduler reacts to, as frozen values, and the envelope that carries them.

One class per reference event type (§events, 28 types, in that order), the
scheduler's own events (time, data refreshes, decisions, facade calls), two types the reference
only emits, and `UnknownEvent` for anything else. Each class's `TAG` is its wire type string.

Fields are the ones the reference's handler reads (plus the ones its own emissions carry, so an
emitted event is a faithful record). Log-only payload fields are not kept. Validation happens at
construction: finite numbers, non-negative counts, real config keys; the codec turns a failure
into a `DecodeError` with the field path.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, ClassVar, Final, NoReturn, TypeAlias, TypeVar

import attrs

from selfplay_core._validators import (
    EachValue,
    count,
    finite,
    non_empty_text,
    non_negative,
    optional_bool,
    optional_count,
    optional_finite,
    optional_non_negative,
    optional_text,
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
from selfplay_core.configs import ALL_CONFIGS, ConfigKey, coerce_config_key
from selfplay_core.signals import FeedbackSignal

SCHEMA_VERSION: Final[int] = 1


_KEY_BY_TEXT: Final[dict[str, ConfigKey]] = {str(key): key for key in ALL_CONFIGS}


def to_config_key(value: ConfigKey | str) -> ConfigKey:
    """attrs converter: a `ConfigKey` or its string (fast for the 12 canonical strings)."""
    if type(value) is ConfigKey:
        return value
    found = _KEY_BY_TEXT.get(value) if type(value) is str else None
    return found if found is not None else coerce_config_key(value)


def _optional_config_key(value: ConfigKey | str | None) -> ConfigKey | None:
    return None if value is None else to_config_key(value)


_V = TypeVar("_V")


class FrozenConfigMap(dict[ConfigKey, _V]):
    """A read-only dict keyed by `ConfigKey`, in canonical order (never hash order).

    Built only by `freeze_config_map` (and the codec, which builds it in order directly), so
    freezing one again is free. Equal to any mapping with the same items."""

    __slots__ = ()

    def _read_only(self, *_args: object, **_kwargs: object) -> NoReturn:
        raise TypeError("a FrozenConfigMap is read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _read_only
    __ior__ = _read_only

    def __repr__(self) -> str:
        return f"FrozenConfigMap({dict.__repr__(self)})"

    def __hash__(self) -> int:  # type: ignore[override]  # immutable, so events stay hashable
        return hash(tuple(self.items()))

    def __reduce__(self) -> tuple[type[FrozenConfigMap[_V]], tuple[list[tuple[ConfigKey, _V]]]]:
        return (type(self), (list(self.items()),))


def freeze_config_map(value: Mapping[ConfigKey | str, _V]) -> Mapping[ConfigKey, _V]:
    """A read-only copy keyed by `ConfigKey`, in canonical order (never hash order)."""
    if type(value) is FrozenConfigMap:
        return value
    items = [(coerce_config_key(key), val) for key, val in value.items()]
    items.sort(key=lambda item: item[0].index)
    return FrozenConfigMap(items)


def _optional_config_map(
    value: Mapping[ConfigKey | str, _V] | None,
) -> Mapping[ConfigKey, _V] | None:
    return None if value is None else freeze_config_map(value)


# --- the 28 reference event types (§events order) ---


@attrs.frozen
class SelfplayComplete:
    """§events: the config's data is fresh again (`sh ← 0`)."""

    TAG: ClassVar[str] = "selfplay_complete"
    config_key: ConfigKey = attrs.field(converter=to_config_key)


@attrs.frozen
class TrainingCompleted:
    """§events: training for the config finished (`tp ← False`)."""

    TAG: ClassVar[str] = "training_completed"
    config_key: ConfigKey = attrs.field(converter=to_config_key)


@attrs.frozen
class ModelPromoted:
    """§events. `success` is None when the publisher did not say (the only live emitter's shape):
    that is "unknown", not a failure."""

    TAG: ClassVar[str] = "model_promoted"
    config_key: ConfigKey = attrs.field(converter=to_config_key)
    success: bool | None = attrs.field(default=None, validator=optional_bool)


def _priority(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is int:
        return
    if type(value) is not str:
        raise WrongType(attribute.name, f"expected a string or integer, got {type(value).__name__}")
    text(inst, attribute, value)


@attrs.frozen
class SelfplayTargetUpdated:
    """§events. `priority` may be a string ("high", "low", …) or an int (data_events' default 5).

    `curriculum_weight`, `momentum_multiplier` and `anomaly_count` are only carried by the
    scheduler's own emissions (§emissions); the handler does not read them.
    """

    TAG: ClassVar[str] = "selfplay_target_updated"
    config_key: ConfigKey = attrs.field(converter=to_config_key)
    priority: str | int = attrs.field(default="normal", validator=_priority)
    reason: str = attrs.field(default="", validator=text)
    search_budget: float = attrs.field(default=0.0, validator=finite)
    exploration_boost: float = attrs.field(default=1.0, validator=finite)
    curriculum_weight: float | None = attrs.field(default=None, validator=optional_finite)
    momentum_multiplier: float | None = attrs.field(default=None, validator=optional_finite)
    anomaly_count: int | None = attrs.field(default=None, validator=optional_count)


@attrs.frozen
class QualityDegraded:
    """§events: `qp` from how far the score is below the threshold."""

    TAG: ClassVar[str] = "quality_degraded"
    config_key: ConfigKey = attrs.field(converter=to_config_key)
    quality_score: float = attrs.field(default=0.0, validator=finite)
    threshold: float = attrs.field(default=0.6, validator=finite)


@attrs.frozen
class CurriculumRebalanced:
    """§events: single form (`config_key`, `weight`) and/or batch form (`weights`).

    `weight` is None when absent (the reference then resets to 1.0: [BUG], deviations.md).
    `source` is the *payload* field the loop guard reads. `severity`, `new_exploration_boost`,
    `new_weight` and `trigger` are what the scheduler's own emissions (§events) carry.
    """

    TAG: ClassVar[str] = "curriculum_rebalanced"
    config_key: ConfigKey | None = attrs.field(default=None, converter=_optional_config_key)
    weight: float | None = attrs.field(default=None, validator=optional_finite)
    weights: Mapping[ConfigKey, float] = attrs.field(
        factory=dict, converter=freeze_config_map, validator=EachValue(finite)
    )
    source: str = attrs.field(default="", validator=text)
    reason: str = attrs.field(default="", validator=text)
    trigger: str = attrs.field(default="", validator=text)
    severity: str | None = attrs.field(default=None, validator=optional_text)
    new_exploration_boost: float | None = attrs.field(default=None, validator=optional_finite)
    new_weight: float | None = attrs.field(default=None, validator=optional_finite)


@attrs.frozen
class SelfplayRateChanged:
    """§events: `mm ← new_rate`; None (the publisher's `new_rate` was falsy and its
    `rate_multiplier` null) changes nothing. `old_rate`, `change_percent` come with the
    scheduler's emissions."""

    TAG: ClassVar[str] = "selfplay_rate_changed"
    config_key: ConfigKey = attrs.field(converter=to_config_key)
    new_rate: float | None = attrs.field(default=1.0, validator=optional_finite)
    old_rate: float | None = attrs.field(default=None, validator=optional_finite)
    change_percent: float | None = attrs.field(default=None, validator=optional_finite)
    reason: str = attrs.field(default="", validator=text)


@attrs.frozen
class TrainingBlockedByQuality:
    """§events: boost exploration and mark training pending; emits a target update."""

    TAG: ClassVar[str] = "training_blocked_by_quality"
    config_key: ConfigKey = attrs.field(converter=to_config_key)
    reason: str = attrs.field(default="unknown", validator=text)


@attrs.frozen
class OpponentMastered:
    """§events: lower curriculum weight and exploration; emits a curriculum rebalance."""

    TAG: ClassVar[str] = "opponent_mastered"
    config_key: ConfigKey = attrs.field(converter=to_config_key)
    opponent_level: str = attrs.field(default="unknown", validator=text)


@attrs.frozen
class TrainingEarlyStopped:
    """§events: the reason picks the boost branch (regression / plateau, stagnation / other)."""

    TAG: ClassVar[str] = "training_early_stopped"
    config_key: ConfigKey = attrs.field(converter=to_config_key)
    reason: str = attrs.field(default="unknown", validator=text)


@attrs.frozen
class EloVelocityChanged:
    """§events: `ev ← velocity`, momentum by trend."""

    TAG: ClassVar[str] = "elo_velocity_changed"
    config_key: ConfigKey = attrs.field(converter=to_config_key)
    velocity: float = attrs.field(default=0.0, validator=finite)
    trend: str = attrs.field(default="stable", validator=text)


@attrs.frozen
class ExplorationBoost:
    """§events: `eb ← max(eb, boost_factor)` with an expiry (the intended behaviour)."""

    TAG: ClassVar[str] = "exploration_boost"
    config_key: ConfigKey = attrs.field(converter=to_config_key)
    boost_factor: float = attrs.field(default=1.0, validator=finite)
    reason: str = attrs.field(default="unknown", validator=text)
    anomaly_count: int = attrs.field(default=0, validator=count)


@attrs.frozen
class CurriculumAdvanced:
    """§events: acts only when `consecutive_promotions ≥ 3`."""

    TAG: ClassVar[str] = "curriculum_advanced"
    config_key: ConfigKey = attrs.field(converter=to_config_key)
    consecutive_promotions: int = attrs.field(default=0, validator=count)


@attrs.frozen
class AdaptiveParamsChanged:
    """§events: temperature up raises exploration; learning-rate down (dead target multiplier)."""

    TAG: ClassVar[str] = "adaptive_params_changed"
    config_key: ConfigKey = attrs.field(converter=to_config_key)
    param_type: str = attrs.field(default="", validator=text)
    old_value: float | None = attrs.field(default=None, validator=optional_finite)
    new_value: float | None = attrs.field(default=None, validator=optional_finite)


@attrs.frozen
class LowQualityDataWarning:
    """§events: global in the reference. `quality_score` is None when absent (the reference reads
    0.0 then: [BUG] deviations.md); `config_key` is kept when a per-config publisher names one."""

    TAG: ClassVar[str] = "low_quality_data_warning"
    quality_score: float | None = attrs.field(default=None, validator=optional_finite)
    config_key: ConfigKey | None = attrs.field(default=None, converter=_optional_config_key)


@attrs.frozen
class NodeUnhealthy:
    """§nodes: the node joins the unhealthy set, its load goes to 1.0."""

    TAG: ClassVar[str] = "node_unhealthy"
    node_id: str = attrs.field(validator=non_empty_text)


@attrs.frozen
class P2PNodeDead:
    """§nodes (same handler as NODE_UNHEALTHY)."""

    TAG: ClassVar[str] = "p2p_node_dead"
    node_id: str = attrs.field(validator=non_empty_text)


@attrs.frozen
class NodeRecovered:
    """§nodes: the node leaves the unhealthy set."""

    TAG: ClassVar[str] = "node_recovered"
    node_id: str = attrs.field(validator=non_empty_text)


@attrs.frozen
class NodeActivated:
    """§nodes (same handler as NODE_RECOVERED)."""

    TAG: ClassVar[str] = "node_activated"
    node_id: str = attrs.field(validator=non_empty_text)


@attrs.frozen
class HostOffline:
    """§nodes: as NODE_UNHEALTHY, keyed by `host` on the wire (fallback `node_id`)."""

    TAG: ClassVar[str] = "host_offline"
    node_id: str = attrs.field(validator=non_empty_text)


@attrs.frozen
class NodeTerminated:
    """§nodes (same handler as HOST_OFFLINE)."""

    TAG: ClassVar[str] = "node_terminated"
    node_id: str = attrs.field(validator=non_empty_text)


@attrs.frozen
class P2PClusterUnhealthy:
    """§nodes. Counts are None when absent; the codec maps the names publishers really send
    (`alive_peers`, `total_peers`, `node_count`) onto them ([BUG] deviations.md)."""

    TAG: ClassVar[str] = "p2p_cluster_unhealthy"
    healthy_nodes: int | None = attrs.field(default=None, validator=optional_count)
    total_nodes: int | None = attrs.field(default=None, validator=optional_count)


@attrs.frozen
class P2PClusterHealthy:
    """§nodes: health back to 1.0, unhealthy set cleared. Reads no payload."""

    TAG: ClassVar[str] = "p2p_cluster_healthy"


@attrs.frozen
class RegressionDetected:
    """§events: severity picks the response; emits a curriculum rebalance."""

    TAG: ClassVar[str] = "regression_detected"
    config_key: ConfigKey = attrs.field(converter=to_config_key)
    severity: str = attrs.field(default="moderate", validator=text)


@attrs.frozen
class BackpressureActivated:
    """§nodes (dead in the reference: only a flag)."""

    TAG: ClassVar[str] = "backpressure_activated"
    pending_count: int = attrs.field(default=0, validator=count)
    trigger: str = attrs.field(default="unknown", validator=text)
    soft_limit: int = attrs.field(default=500, validator=count)


@attrs.frozen
class BackpressureReleased:
    """§nodes: clears the flag."""

    TAG: ClassVar[str] = "backpressure_released"
    pending_count: int = attrs.field(default=0, validator=count)


@attrs.frozen
class NodeOverloaded:
    """§nodes: a backoff for the node, by resource type. `host` on the wire."""

    TAG: ClassVar[str] = "node_overloaded"
    node_id: str = attrs.field(validator=non_empty_text)
    resource_type: str = attrs.field(default="unknown", validator=text)


@attrs.frozen
class EloUpdated:
    """§events: one Elo observation for the velocity window (`new_elo ≤ 0` is ignored)."""

    TAG: ClassVar[str] = "elo_updated"
    config_key: ConfigKey = attrs.field(converter=to_config_key)
    new_elo: float = attrs.field(default=0.0, validator=finite)


# --- types the reference only emits (§emissions); decoded so a recorded one is not "unknown"


@attrs.frozen
class QualityPenaltyApplied:
    """§events emission (the scheduler does not subscribe to it)."""

    TAG: ClassVar[str] = "quality_penalty_applied"
    config_key: ConfigKey = attrs.field(converter=to_config_key)
    penalty: float = attrs.field(default=0.0, validator=finite)
    reason: str = attrs.field(default="", validator=text)
    current_weight: float = attrs.field(default=1.0, validator=finite)
    quality_score: float = attrs.field(default=0.0, validator=finite)
    throttle_factor: float = attrs.field(default=1.0, validator=finite)


def _config_tuple(value: Any) -> tuple[ConfigKey, ...]:
    return tuple(coerce_config_key(key) for key in value)


@attrs.frozen
class SelfplayAllocationUpdated:
    """§events / allocation emission (not subscribed)."""

    TAG: ClassVar[str] = "selfplay_allocation_updated"
    trigger: str = attrs.field(default="", validator=text)
    total_games: int = attrs.field(default=0, validator=count)
    configs: tuple[ConfigKey, ...] = attrs.field(default=(), converter=_config_tuple)
    node_count: int = attrs.field(default=0, validator=count)
    exploration_boost: float | None = attrs.field(default=None, validator=optional_finite)
    curriculum_weight: float | None = attrs.field(default=None, validator=optional_finite)


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
        default=None, converter=_optional_config_map, validator=EachValue(finite)
    )
    elo_velocities: Mapping[ConfigKey, float] | None = attrs.field(
        default=None, converter=_optional_config_map, validator=EachValue(finite)
    )
    game_counts: Mapping[ConfigKey, int] | None = attrs.field(
        default=None, converter=_optional_config_map, validator=EachValue(count)
    )
    staleness_hours: Mapping[ConfigKey, float] | None = attrs.field(
        default=None, converter=_optional_config_map, validator=EachValue(finite)
    )
    curriculum_weights: Mapping[ConfigKey, float] | None = attrs.field(
        default=None, converter=_optional_config_map, validator=EachValue(finite)
    )
    feedback: Mapping[ConfigKey, FeedbackSignal] | None = attrs.field(
        default=None, converter=_optional_config_map
    )
    improvement_boosts: Mapping[ConfigKey, float] | None = attrs.field(
        default=None, converter=_optional_config_map, validator=EachValue(finite)
    )
    momentum_multipliers: Mapping[ConfigKey, float] | None = attrs.field(
        default=None, converter=_optional_config_map, validator=EachValue(finite)
    )
    quality_scores: Mapping[ConfigKey, float] | None = attrs.field(
        default=None, converter=_optional_config_map, validator=EachValue(finite)
    )
    cascade_multipliers: Mapping[ConfigKey, float] | None = attrs.field(
        default=None, converter=_optional_config_map, validator=EachValue(finite)
    )
    priority_overrides: Mapping[ConfigKey, int] | None = attrs.field(
        default=None, converter=_optional_config_map, validator=EachValue(count)
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


def _freeze_json(value: Any) -> Any:
    """JSON-shaped data made read-only: objects → mappingproxy, arrays → tuples."""
    if isinstance(value, Mapping):
        return types.MappingProxyType({key: _freeze_json(val) for key, val in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze_json(item) for item in value)
    return value


def _unknown_type(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    """Text the log can write, and not the wire type of a known event class."""
    text(inst, attribute, value)
    if event_class_for(value) is not None:  # type: ignore[arg-type]
        raise FieldProblem(attribute.name, f"{value!r} is a known type, not unknown")


@attrs.frozen
class UnknownEvent:
    """A type we do not know: kept verbatim (read-only), counted, never applied."""

    TAG: ClassVar[str] = "<unknown>"
    type: str = attrs.field(validator=_unknown_type)
    payload: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze_json)


# --- registry ---

REFERENCE_EVENTS: Final[tuple[type[Any], ...]] = (
    SelfplayComplete,
    TrainingCompleted,
    ModelPromoted,
    SelfplayTargetUpdated,
    QualityDegraded,
    CurriculumRebalanced,
    SelfplayRateChanged,
    TrainingBlockedByQuality,
    OpponentMastered,
    TrainingEarlyStopped,
    EloVelocityChanged,
    ExplorationBoost,
    CurriculumAdvanced,
    AdaptiveParamsChanged,
    LowQualityDataWarning,
    NodeUnhealthy,
    P2PNodeDead,
    NodeRecovered,
    NodeActivated,
    HostOffline,
    NodeTerminated,
    P2PClusterUnhealthy,
    P2PClusterHealthy,
    RegressionDetected,
    BackpressureActivated,
    BackpressureReleased,
    NodeOverloaded,
    EloUpdated,
)
"""The 28 types the reference subscribes to, in §events order."""

LATER_EVENTS: Final[tuple[type[Any], ...]] = (NewGamesAvailable,)
"""Types the reference subscribes to only after ad4eaccf9 (§later) that this library applies."""

EMITTED_ONLY_EVENTS: Final[tuple[type[Any], ...]] = (
    QualityPenaltyApplied,
    SelfplayAllocationUpdated,
)
"""Types the reference emits but does not subscribe to: decoded, never applied."""

SCHEDULER_EVENTS: Final[tuple[type[Any], ...]] = (
    Tick,
    SourcesRefreshed,
    AllocationDecided,
    TargetTrainingSamplesSet,
    ConfigBoosted,
    SpawningPaused,
    SpawningResumed,
)
"""The scheduler's own events."""

EVENT_CLASSES: Final[tuple[type[Any], ...]] = (
    REFERENCE_EVENTS + LATER_EVENTS + EMITTED_ONLY_EVENTS + SCHEDULER_EVENTS
)
"""Every known event class, canonical order (reference, later, emitted-only, scheduler)."""

EVENT_TYPES: Final[Mapping[str, type[Any]]] = types.MappingProxyType(
    {cls.TAG: cls for cls in EVENT_CLASSES}
)
"""Wire tag → class."""

ReferenceEvent: TypeAlias = (
    SelfplayComplete
    | TrainingCompleted
    | ModelPromoted
    | SelfplayTargetUpdated
    | QualityDegraded
    | CurriculumRebalanced
    | SelfplayRateChanged
    | TrainingBlockedByQuality
    | OpponentMastered
    | TrainingEarlyStopped
    | EloVelocityChanged
    | ExplorationBoost
    | CurriculumAdvanced
    | AdaptiveParamsChanged
    | LowQualityDataWarning
    | NodeUnhealthy
    | P2PNodeDead
    | NodeRecovered
    | NodeActivated
    | HostOffline
    | NodeTerminated
    | P2PClusterUnhealthy
    | P2PClusterHealthy
    | RegressionDetected
    | BackpressureActivated
    | BackpressureReleased
    | NodeOverloaded
    | EloUpdated
)

Event: TypeAlias = (
    ReferenceEvent
    | NewGamesAvailable
    | QualityPenaltyApplied
    | SelfplayAllocationUpdated
    | Tick
    | SourcesRefreshed
    | AllocationDecided
    | TargetTrainingSamplesSet
    | ConfigBoosted
    | SpawningPaused
    | SpawningResumed
    | UnknownEvent
)
"""Any event an envelope can carry."""


def event_class_for(type_name: str) -> type[Any] | None:
    """The class for a wire type string; upper-case router names (e.g. "SELFPLAY_COMPLETE")
    map to their lower-case tag. None for an unknown type."""
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        cls = EVENT_TYPES.get(type_name.lower())
    return cls


def tag_of(event: Event) -> str:
    """The wire type string of an event (an unknown event keeps its own)."""
    if type(event) is UnknownEvent:
        return event.type
    return event.TAG


# --- envelope ---

_EVENT_CLASS_SET: Final[frozenset[type[Any]]] = frozenset((*EVENT_CLASSES, UnknownEvent))


def _an_event(_inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    """An instance of an event class (an `UnknownEvent` keeps known types out itself)."""
    if type(value) not in _EVENT_CLASS_SET:
        raise WrongType(attribute.name, f"expected an event, got {type(value).__name__}")


@attrs.frozen
class Envelope:
    """One event as delivered: a unique id, when (seconds, from the shell's clock), who sent it,
    and the event. Its wire `type` is the event's tag (`tag_of`), so it always agrees with the
    event; `schema_version` is the current one, since older envelopes are upcast when decoded."""

    id: str = attrs.field(validator=non_empty_text)
    at: float = attrs.field(validator=non_negative)
    source: str = attrs.field(validator=text)
    event: Event = attrs.field(validator=_an_event)

    schema_version: ClassVar[int] = SCHEMA_VERSION

    @property
    def type(self) -> str:
        """The wire type string: the event's `TAG`, or an unknown event's own type."""
        return tag_of(self.event)


def make_envelope(event: Event, *, id: str, at: float, source: str) -> Envelope:
    """An envelope for `event` (its type is the event's tag, its version the current one)."""
    return Envelope(id=id, at=at, source=source, event=event)
