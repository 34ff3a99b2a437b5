"""The reference's event types, one frozen class each (§events, 28 types, in that order),
and the two types it only emits (§emissions). Re-exported by `selfplay_core.events`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from selfplay_core._validators import (
    EachValue,
    count,
    finite,
    non_empty_text,
    optional_bool,
    optional_count,
    optional_finite,
    optional_text,
    text,
)
from selfplay_core._validators import Empty as Empty  # the problem kinds, re-exported
from selfplay_core._validators import FieldProblem as FieldProblem
from selfplay_core._validators import Negative as Negative
from selfplay_core._validators import NotFinite as NotFinite
from selfplay_core._validators import NotUtf8 as NotUtf8
from selfplay_core._validators import WrongType as WrongType
from selfplay_core.config_maps import freeze_config_map, optional_config_key, to_config_key
from selfplay_core.configs import ConfigKey, coerce_config_key

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


def text_or_int(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
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
    priority: str | int = attrs.field(default="normal", validator=text_or_int)
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
    config_key: ConfigKey | None = attrs.field(default=None, converter=optional_config_key)
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
    config_key: ConfigKey | None = attrs.field(default=None, converter=optional_config_key)


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


def config_tuple(value: Any) -> tuple[ConfigKey, ...]:
    return tuple(coerce_config_key(key) for key in value)


@attrs.frozen
class SelfplayAllocationUpdated:
    """§events / allocation emission (not subscribed)."""

    TAG: ClassVar[str] = "selfplay_allocation_updated"
    trigger: str = attrs.field(default="", validator=text)
    total_games: int = attrs.field(default=0, validator=count)
    configs: tuple[ConfigKey, ...] = attrs.field(default=(), converter=config_tuple)
    node_count: int = attrs.field(default=0, validator=count)
    exploration_boost: float | None = attrs.field(default=None, validator=optional_finite)
    curriculum_weight: float | None = attrs.field(default=None, validator=optional_finite)
