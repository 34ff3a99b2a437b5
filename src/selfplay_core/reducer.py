"""`reduce(state, envelope, policy) -> Transition(state, emitted)`: every event as a pure step.

One small function per event family, chosen from `_HANDLERS` by the event's class. The order of
one step:

1. an envelope whose id is in the state's window of recent ids changes nothing (our answer to
   the reference's double delivery and content dedup, events.md §8 items 1–2);
2. an `UnknownEvent` only counts (and is remembered as seen);
3. time is `envelope.at` (never earlier than the state's `last_at`): every boost and backoff
   whose expiry is at or before it lapses first (§4), emitting what the reference's decay emits;
4. the handler applies the event (§3) and says what the reference would publish (§6), as data.

Handlers return the parts of the state they change; `reduce` builds the new state once. Numbers
that come from outside are kept within ±`MAX_MAGNITUDE`, weights and multipliers are kept ≥ 0
and boosts within the policy's bounds, so every reachable state satisfies `check_invariants`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from selfplay_core._reducing.build import SCHEDULER_STATE_TWIN
from selfplay_core._reducing.cluster_events import (
    backpressure_flag,
    cluster_healthy,
    cluster_unhealthy,
    node_down,
    node_overloaded,
    node_up,
    spawning_paused,
    spawning_resumed,
)
from selfplay_core._reducing.common import (
    SCHEDULER_SOURCE,
    Handler,
)
from selfplay_core._reducing.config_events import (
    adaptive_params,
    curriculum_advanced,
    curriculum_rebalanced,
    early_stopped,
    elo_updated,
    exploration_boost,
    low_quality,
    model_promoted,
    opponent_mastered,
    quality_degraded,
    rate_changed,
    regression,
    selfplay_complete,
    target_updated,
    training_blocked,
    training_completed,
    velocity_changed,
)
from selfplay_core._reducing.expiry import (
    lapse,
)
from selfplay_core._reducing.later_events import new_games_available
from selfplay_core._reducing.refresh import (
    sources_refreshed,
)
from selfplay_core._reducing.scheduler_events import (
    allocation_decided,
    config_boosted,
    target_samples_set,
    tick,
)
from selfplay_core.events import (
    AdaptiveParamsChanged,
    AllocationDecided,
    BackpressureActivated,
    BackpressureReleased,
    ConfigBoosted,
    CurriculumAdvanced,
    CurriculumRebalanced,
    EloUpdated,
    EloVelocityChanged,
    Envelope,
    Event,
    ExplorationBoost,
    HostOffline,
    LowQualityDataWarning,
    ModelPromoted,
    NewGamesAvailable,
    NodeActivated,
    NodeOverloaded,
    NodeRecovered,
    NodeTerminated,
    NodeUnhealthy,
    OpponentMastered,
    P2PClusterHealthy,
    P2PClusterUnhealthy,
    P2PNodeDead,
    QualityDegraded,
    RegressionDetected,
    SelfplayComplete,
    SelfplayRateChanged,
    SelfplayTargetUpdated,
    SourcesRefreshed,
    SpawningPaused,
    SpawningResumed,
    TargetTrainingSamplesSet,
    Tick,
    TrainingBlockedByQuality,
    TrainingCompleted,
    TrainingEarlyStopped,
    UnknownEvent,
)
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.state import (
    Books,
    Ledger,
    SchedulerState,
    window_log,
)

__all__ = ["SCHEDULER_SOURCE", "Transition", "reduce"]

_REFERENCE_POLICY: Final = SchedulerPolicy()


class Transition(NamedTuple):
    """The state after one envelope, and the events the reference would have published.

    A named tuple (immutable; built with one C call on the hot path), read by attribute."""

    state: SchedulerState
    emitted: tuple[Event, ...] = ()


def reduce(
    state: SchedulerState, envelope: Envelope, policy: SchedulerPolicy = _REFERENCE_POLICY
) -> Transition:
    """Apply one envelope. Pure: `state` is not changed, time is `envelope.at`."""
    ledger = state.ledger
    envelope_id = envelope.id
    # `envelope_id in ledger`, inlined for the common case (the newest window of its log)
    log = ledger._log
    end = ledger._end
    if end == log.top:
        seq = log.index.get(envelope_id)
        if seq is None:
            seq = log.older.get(envelope_id)
        if seq is not None and seq >= end - ledger.size:
            return _transition(state, ())
    elif envelope_id in ledger:
        return _transition(state, ())
    size = policy.events.dedup_window
    if ledger.size != size:
        ledger = ledger.resized(size)
        log = ledger._log
        end = ledger._end
    event = envelope.event
    handler = _handler_for(type(event))
    if handler is None:
        return _transition(_seen_only(state, ledger, envelope_id, event), ())
    now = envelope.at
    last_at = ledger.last_at
    if now < last_at:
        now = last_at  # a late envelope does not move time backwards
    lapsed: tuple[Event, ...] = ()
    next_expiry = ledger.next_expiry_at
    if next_expiry and now >= next_expiry:
        state, lapsed = lapse(state, now)
    out = handler(state, event, now, policy)
    if out is None:  # only the bookkeeping changes
        configs, cluster, books = state.configs, state.cluster, state.books
        next_expiry = state.ledger.next_expiry_at
        emitted = lapsed
    else:
        configs, cluster, books, next_expiry, emitted = out
        if lapsed:
            emitted = lapsed + emitted
    # Built in place, once per envelope: `ledger.record(envelope_id, ledger.applied + 1, now,
    # next_expiry)` inlined, then `Transition(SchedulerState(...), emitted)` without `__init__`
    # (the parts are the handler's, known valid; see `_reducing.build` for the state's twin).
    if end != log.top or end - log.base >= 2 * size:
        log = window_log(log, end, size)  # a branch, or time to compact
    log.ids.append(envelope_id)
    log.index[envelope_id] = end
    log.top = end + 1
    new_ledger = _new(Ledger)
    new_ledger._log = log
    new_ledger._end = end + 1
    new_ledger.size = size
    new_ledger.applied = ledger.applied + 1
    new_ledger.last_at = now
    new_ledger.next_expiry_at = next_expiry
    new_state = _new(_STATE_TWIN)
    new_state.configs = configs
    new_state.cluster = cluster
    new_state.books = books
    new_state.ledger = new_ledger
    new_state.__class__ = SchedulerState
    return _tuple_new(Transition, (new_state, emitted))


_new: Final = object.__new__
_tuple_new: Final = tuple.__new__
_STATE_TWIN: Final = SCHEDULER_STATE_TWIN


def _transition(state: SchedulerState, emitted: tuple[Event, ...]) -> Transition:
    """`Transition(state, emitted)` without the Python-level `__new__` (the hot path)."""
    return _tuple_new(Transition, (state, emitted))


def _seen_only(
    state: SchedulerState, ledger: Ledger, envelope_id: str, event: object
) -> SchedulerState:
    """An unknown (or emit-only) event: remembered as seen, unknown types counted, nothing else."""
    books = state.books
    if type(event) is UnknownEvent:
        counts = dict(books.unknown_events)
        counts[event.type] = counts.get(event.type, 0) + 1
        unknown = MappingProxyType(dict(sorted(counts.items())))
        books = Books(books.elo, books.sources, books.allocations, unknown)
    new_ledger = ledger.record(envelope_id, ledger.applied, ledger.last_at, ledger.next_expiry_at)
    return SchedulerState(state.configs, state.cluster, books, new_ledger)


_HANDLER_TABLE: Final[dict[type[Any], Handler]] = {
    SelfplayComplete: selfplay_complete,
    TrainingCompleted: training_completed,
    ModelPromoted: model_promoted,
    SelfplayTargetUpdated: target_updated,
    QualityDegraded: quality_degraded,
    CurriculumRebalanced: curriculum_rebalanced,
    SelfplayRateChanged: rate_changed,
    TrainingBlockedByQuality: training_blocked,
    OpponentMastered: opponent_mastered,
    TrainingEarlyStopped: early_stopped,
    EloVelocityChanged: velocity_changed,
    ExplorationBoost: exploration_boost,
    CurriculumAdvanced: curriculum_advanced,
    AdaptiveParamsChanged: adaptive_params,
    LowQualityDataWarning: low_quality,
    NodeUnhealthy: node_down,
    P2PNodeDead: node_down,
    NodeRecovered: node_up,
    NodeActivated: node_up,
    HostOffline: node_down,
    NodeTerminated: node_down,
    P2PClusterUnhealthy: cluster_unhealthy,
    P2PClusterHealthy: cluster_healthy,
    RegressionDetected: regression,
    BackpressureActivated: backpressure_flag(True),
    BackpressureReleased: backpressure_flag(False),
    NodeOverloaded: node_overloaded,
    EloUpdated: elo_updated,
    NewGamesAvailable: new_games_available,
    Tick: tick,
    SourcesRefreshed: sources_refreshed,
    AllocationDecided: allocation_decided,
    TargetTrainingSamplesSet: target_samples_set,
    ConfigBoosted: config_boosted,
    SpawningPaused: spawning_paused,
    SpawningResumed: spawning_resumed,
}
_HANDLERS: Final[Mapping[type[Any], Handler]] = MappingProxyType(_HANDLER_TABLE)
_handler_for: Final = _HANDLER_TABLE.get
"""Event class → handler. Emit-only types (QUALITY_PENALTY_APPLIED, SELFPLAY_ALLOCATION_UPDATED)
and `UnknownEvent` have none: they are remembered as seen and never applied."""
