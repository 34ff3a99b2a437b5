"""What RingRift's subscribers receive for each event the scheduler emits (§emissions).

`reduce` says what the reference would publish as event values (`Transition.emitted`); the
shell puts each in an `Envelope` (its id, its time `at`, the scheduler's source). `published`
turns such an envelope into the message the reference's publisher sends: the type as that
publisher spells it, and exactly the payload keys of its call path, in its order, with its
values — aliases (`config`), the empty `old_weights` and the timestamp (the envelope's `at`)
included. It is the one statement of that wire shape: the bus publishes it, and a broker
adapter (an `EventSink`) receives it through the same call.

The call paths (§emissions; §metrics):

- SELFPLAY_TARGET_UPDATED (§events, §expiry expiry): `config_key, priority,
  reason`, then `momentum_multiplier` (§events), `exploration_boost`, `curriculum_weight`
  (§events), `anomaly_count` (§events) — each optional key only on the path that sends it.
- SELFPLAY_RATE_CHANGED (§events, `boost_config_allocation`): `config_key, old_rate, new_rate,
  change_percent, reason`.
- CURRICULUM_REBALANCED from REGRESSION_DETECTED (§events): the router's string type
  "CURRICULUM_REBALANCED", `config_key, reason, severity, new_exploration_boost, source`.
- CURRICULUM_REBALANCED from OPPONENT_MASTERED (§events, `emit_curriculum_updated`, source
  "event_emitters"): `config, old_weights ({}), new_weights ({key: weight}), reason, trigger,
  config_key, new_weight, timestamp` (an ISO string).
- QUALITY_PENALTY_APPLIED (§events): `config_key, penalty, reason, current_weight, timestamp`
  (an ISO string), `quality_score, throttle_factor`.
- SELFPLAY_ALLOCATION_UPDATED (§events, `allocate_selfplay_batch`): `trigger, total_games,
  configs, node_count, timestamp` (epoch seconds), and `exploration_boost, curriculum_weight`
  when the emission names one config (§events).

Any other event (the scheduler does not emit one) is published under its tag with its codec
payload.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from selfplay_core.codec import event_payload
from selfplay_core.events import (
    CurriculumRebalanced,
    Envelope,
    QualityPenaltyApplied,
    SelfplayAllocationUpdated,
    SelfplayRateChanged,
    SelfplayTargetUpdated,
)

__all__ = ["EMITTER_SOURCE", "Published", "iso_timestamp", "published"]

#: The envelope source of `event_emitters.emit_curriculum_updated` (the §events emission).
EMITTER_SOURCE: Final = "event_emitters"

#: The payload `source` of the scheduler's own CURRICULUM_REBALANCED (§events, the loop guard).
_SCHEDULER_SOURCE: Final = "selfplay_scheduler"


class Published(NamedTuple):
    """One message as the reference's publisher sends it."""

    event_type: str
    payload: dict[str, Any]
    source: str


def iso_timestamp(at: float) -> str:
    """`at` (epoch seconds) as the ISO-8601 string the reference's emitters put in `timestamp`
    (UTC, with its offset: see docs/deviations.md EM1)."""
    return datetime.fromtimestamp(at, tz=UTC).isoformat()


def _pick(payload: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: payload[key] for key in keys}


def _target_updated(envelope: Envelope, payload: dict[str, Any]) -> Published:
    shaped = _pick(payload, ("config_key", "priority", "reason"))
    if payload["momentum_multiplier"] is not None:  # §events
        shaped["momentum_multiplier"] = payload["momentum_multiplier"]
    shaped["exploration_boost"] = payload["exploration_boost"]
    for optional in ("curriculum_weight", "anomaly_count"):  # §events
        if payload[optional] is not None:
            shaped[optional] = payload[optional]
    return Published(envelope.type, shaped, envelope.source)


def _rate_changed(envelope: Envelope, payload: dict[str, Any]) -> Published:
    keys = ("config_key", "old_rate", "new_rate", "change_percent", "reason")
    return Published(envelope.type, _pick(payload, keys), envelope.source)


def _curriculum_rebalanced(envelope: Envelope, payload: dict[str, Any]) -> Published:
    if payload["source"] == _SCHEDULER_SOURCE:  # §events: the router's string type
        keys = ("config_key", "reason", "severity", "new_exploration_boost", "source")
        return Published("CURRICULUM_REBALANCED", _pick(payload, keys), envelope.source)
    key, weight = payload["config_key"], payload["new_weight"]  # §events: emit_curriculum_updated
    shaped = {
        "config": key,
        "old_weights": {},
        "new_weights": {key: weight},
        "reason": payload["reason"],
        "trigger": payload["trigger"],
        "config_key": key,
        "new_weight": weight,
        "timestamp": iso_timestamp(envelope.at),
    }
    return Published(envelope.type, shaped, EMITTER_SOURCE)


def _quality_penalty(envelope: Envelope, payload: dict[str, Any]) -> Published:
    shaped = _pick(payload, ("config_key", "penalty", "reason", "current_weight"))
    shaped["timestamp"] = iso_timestamp(envelope.at)
    shaped |= _pick(payload, ("quality_score", "throttle_factor"))
    return Published(envelope.type, shaped, envelope.source)


def _allocation_updated(envelope: Envelope, payload: dict[str, Any]) -> Published:
    shaped = _pick(payload, ("trigger", "total_games", "configs", "node_count"))
    shaped["timestamp"] = envelope.at
    if payload["exploration_boost"] is not None:  # the emission names one config (§events)
        shaped |= _pick(payload, ("exploration_boost", "curriculum_weight"))
    return Published(envelope.type, shaped, envelope.source)


_SHAPES: Final[dict[type[Any], Callable[[Envelope, dict[str, Any]], Published]]] = {
    SelfplayTargetUpdated: _target_updated,
    SelfplayRateChanged: _rate_changed,
    CurriculumRebalanced: _curriculum_rebalanced,
    QualityPenaltyApplied: _quality_penalty,
    SelfplayAllocationUpdated: _allocation_updated,
}


def published(envelope: Envelope) -> Published:
    """The message RingRift's subscribers receive for this emitted envelope (see above)."""
    payload = event_payload(envelope.event)
    shape = _SHAPES.get(type(envelope.event))
    if shape is None:
        return Published(envelope.type, payload, envelope.source)
    return shape(envelope, payload)
