"""Shared pieces of the event handlers: the handler contract (`Outcome`, `Handler`), bounds,
and the boost rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, NamedTuple, TypeAlias

from selfplay_core.event_policy import EventPolicy
from selfplay_core.events import Event
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.state import MAX_MAGNITUDE, ConfigState, SchedulerState

#: The payload `source` the scheduler puts on its own CURRICULUM_REBALANCED (the loop guard).
SCHEDULER_SOURCE: Final = "selfplay_scheduler"

MAX_COUNT: Final = int(MAX_MAGNITUDE)


class Outcome(NamedTuple):
    """What one handler did: the state after the event (its ledger's window and counters are
    the reducer's to record), and the events the reference would publish, in order. (A named
    tuple: immutable, read by name, and the cheapest value to build once per envelope.)"""

    state: SchedulerState
    emitted: tuple[Event, ...] = ()


#: A handler: `(state, event, at, policy) -> Outcome`, `event` of the class it is registered
#: for, `at` the envelope's time (never before the state's `last_at`).
Handler: TypeAlias = Callable[[SchedulerState, Any, float, SchedulerPolicy], Outcome]


def same(old: object, new: object) -> bool:
    """`new` would store exactly what `old` is: same type and value, and for a zero the same
    sign (so skipping the write changes nothing, not even how the state encodes)."""
    if old is new:
        return True
    if type(old) is not type(new) or old != new:
        return False
    return bool(old) or str(old) == str(new)


def bounded(value: float) -> float:
    """Keep an outside number within ±MAX_MAGNITUDE (NaN never gets here: decode rejects it)."""
    if value > MAX_MAGNITUDE:
        return MAX_MAGNITUDE
    if value < -MAX_MAGNITUDE:
        return -MAX_MAGNITUDE
    return value


def as_weight(value: float) -> float:
    """A weight or multiplier: not negative, bounded."""
    if value < 0.0:
        return 0.0
    return MAX_MAGNITUDE if value > MAX_MAGNITUDE else value


def boost_from(
    old: float, expires: float, new: float, at: float, duration: float, ep: EventPolicy
) -> tuple[float, float]:
    """The boost `new` clamped to the policy's bounds, and its expiry, from a boost `old`
    expiring at `expires`: a boost raised above 1.0 lasts at least `duration` from `at`;
    lowering a boost keeps its expiry; a boost that ends ≤ 1.0 keeps whatever expiry it had
    (it lapses harmlessly)."""
    if new < ep.min_exploration_boost:
        new = ep.min_exploration_boost
    elif new > ep.max_exploration_boost:
        new = ep.max_exploration_boost
    if new > 1.0 and (new > old or expires == 0.0):
        until = at + duration
        if until > expires:
            expires = until
    return new, expires


def boosted(config: ConfigState, new: float, at: float, ep: EventPolicy) -> ConfigState:
    """`config` with its boost set to `new` by `boost_from` (the policy's boost lifetime);
    `config` itself when that is exactly what it holds."""
    old, expires = config.exploration_boost, config.exploration_boost_expires_at
    boost, until = boost_from(old, expires, new, at, ep.boost_lifetime_seconds, ep)
    if same(old, boost) and same(expires, until):
        return config
    return config.with_boost(boost, until)
