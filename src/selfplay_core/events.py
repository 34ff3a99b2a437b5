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
from typing import Any, ClassVar, Final, TypeAlias

import attrs

from selfplay_core._validators import Empty as Empty  # the problem kinds, re-exported
from selfplay_core._validators import FieldProblem as FieldProblem
from selfplay_core._validators import Negative as Negative
from selfplay_core._validators import NotFinite as NotFinite
from selfplay_core._validators import NotUtf8 as NotUtf8
from selfplay_core._validators import WrongType as WrongType
from selfplay_core._validators import (
    non_empty_text,
    non_negative,
    text,
)
from selfplay_core.config_maps import (  # re-exported: the event fields' helpers
    FrozenConfigMap as FrozenConfigMap,
)
from selfplay_core.config_maps import (
    freeze_config_map as freeze_config_map,
)
from selfplay_core.config_maps import (
    optional_config_map as optional_config_map,
)
from selfplay_core.config_maps import (
    to_config_key as to_config_key,
)
from selfplay_core.own_events import (
    SOURCE_PARTS as SOURCE_PARTS,
)
from selfplay_core.own_events import (
    AllocationDecided as AllocationDecided,
)
from selfplay_core.own_events import (
    ConfigBoosted as ConfigBoosted,
)
from selfplay_core.own_events import (
    NewGamesAvailable as NewGamesAvailable,
)
from selfplay_core.own_events import (
    SourcesRefreshed as SourcesRefreshed,
)
from selfplay_core.own_events import (
    SpawningPaused as SpawningPaused,
)
from selfplay_core.own_events import (
    SpawningResumed as SpawningResumed,
)
from selfplay_core.own_events import (
    TargetTrainingSamplesSet as TargetTrainingSamplesSet,
)
from selfplay_core.own_events import (
    Tick as Tick,
)
from selfplay_core.reference_events import (
    AdaptiveParamsChanged as AdaptiveParamsChanged,
)
from selfplay_core.reference_events import (
    BackpressureActivated as BackpressureActivated,
)
from selfplay_core.reference_events import (
    BackpressureReleased as BackpressureReleased,
)
from selfplay_core.reference_events import (
    CurriculumAdvanced as CurriculumAdvanced,
)
from selfplay_core.reference_events import (
    CurriculumRebalanced as CurriculumRebalanced,
)
from selfplay_core.reference_events import (
    EloUpdated as EloUpdated,
)
from selfplay_core.reference_events import (
    EloVelocityChanged as EloVelocityChanged,
)
from selfplay_core.reference_events import (
    ExplorationBoost as ExplorationBoost,
)
from selfplay_core.reference_events import (
    HostOffline as HostOffline,
)
from selfplay_core.reference_events import (
    LowQualityDataWarning as LowQualityDataWarning,
)
from selfplay_core.reference_events import (
    ModelPromoted as ModelPromoted,
)
from selfplay_core.reference_events import (
    NodeActivated as NodeActivated,
)
from selfplay_core.reference_events import (
    NodeOverloaded as NodeOverloaded,
)
from selfplay_core.reference_events import (
    NodeRecovered as NodeRecovered,
)
from selfplay_core.reference_events import (
    NodeTerminated as NodeTerminated,
)
from selfplay_core.reference_events import (
    NodeUnhealthy as NodeUnhealthy,
)
from selfplay_core.reference_events import (
    OpponentMastered as OpponentMastered,
)
from selfplay_core.reference_events import (
    P2PClusterHealthy as P2PClusterHealthy,
)
from selfplay_core.reference_events import (
    P2PClusterUnhealthy as P2PClusterUnhealthy,
)
from selfplay_core.reference_events import (
    P2PNodeDead as P2PNodeDead,
)
from selfplay_core.reference_events import (
    QualityDegraded as QualityDegraded,
)
from selfplay_core.reference_events import (
    QualityPenaltyApplied as QualityPenaltyApplied,
)
from selfplay_core.reference_events import (
    RegressionDetected as RegressionDetected,
)
from selfplay_core.reference_events import (
    SelfplayAllocationUpdated as SelfplayAllocationUpdated,
)
from selfplay_core.reference_events import (
    SelfplayComplete as SelfplayComplete,
)
from selfplay_core.reference_events import (
    SelfplayRateChanged as SelfplayRateChanged,
)
from selfplay_core.reference_events import (
    SelfplayTargetUpdated as SelfplayTargetUpdated,
)
from selfplay_core.reference_events import (
    TrainingBlockedByQuality as TrainingBlockedByQuality,
)
from selfplay_core.reference_events import (
    TrainingCompleted as TrainingCompleted,
)
from selfplay_core.reference_events import (
    TrainingEarlyStopped as TrainingEarlyStopped,
)

SCHEMA_VERSION: Final[int] = 1


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
