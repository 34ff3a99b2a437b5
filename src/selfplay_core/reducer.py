"""`reduce(state, envelope, policy) -> Transition(state, emitted)`: every event as a pure step.

One small function per event family, chosen from `_HANDLERS` by the event's class. The order of
one step:

1. an envelope whose id is in the state's window of recent ids changes nothing (our answer to
   the reference's double delivery and content dedup, events.md §8 items 1–2);
2. an `UnknownEvent` only counts (and is remembered as seen);
3. time is `envelope.at` (never earlier than the state's `last_at`): every boost and backoff
   whose expiry is at or before it lapses first (§4), emitting what the reference's decay emits;
4. the handler applies the event (§3) and says what the reference would publish (§6), as data.

Each handler takes `(state, event, at, policy)`, its event typed by the class it is registered
for, and returns an `Outcome`: the parts of the state it changed (configs, cluster, books, the
next expiry), by name, and what it emits; values change through `attrs.evolve` or their
`with_…` methods. `reduce` looks the handler up, calls it, records the envelope in the
`Ledger` and builds the one new `SchedulerState` from the parts — nothing else. Numbers that
come from outside are kept within ±`MAX_MAGNITUDE`, weights and multipliers are kept ≥ 0 and
boosts within the policy's bounds, so every reachable state satisfies `invariants.check_invariants`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, NamedTuple

import attrs

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
from selfplay_core._reducing.common import SCHEDULER_SOURCE, Handler, Outcome
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
from selfplay_core._reducing.expiry import lapse
from selfplay_core._reducing.later_events import new_games_available
from selfplay_core._reducing.refresh import sources_refreshed
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
from selfplay_core.ledger import Ledger
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.state import SchedulerState, dict_copy

__all__ = ["SCHEDULER_SOURCE", "Outcome", "Transition", "reduce"]

_REFERENCE_POLICY: Final = SchedulerPolicy()


class Transition(NamedTuple):
    """The state after one envelope, and the events the reference would have published."""

    state: SchedulerState
    emitted: tuple[Event, ...] = ()


def reduce(
    state: SchedulerState, envelope: Envelope, policy: SchedulerPolicy = _REFERENCE_POLICY
) -> Transition:
    """Apply one envelope. Pure: `state` is not changed, time is `envelope.at`."""
    ledger = state.ledger
    if envelope.id in ledger:
        return Transition(state, ())
    if ledger.size != policy.events.dedup_window:
        ledger = ledger.resized(policy.events.dedup_window)
        state = state.with_ledger(ledger)
    event = envelope.event
    handler = _HANDLER_TABLE.get(type(event))  # the plain dict: a proxy's `get` costs more
    if handler is None:
        return Transition(_seen_only(state.with_ledger(ledger.remembered(envelope.id)), event))
    at = envelope.at
    if at < ledger.last_at:  # a late envelope does not move time backwards
        at = ledger.last_at
    lapsed: tuple[Event, ...] = ()
    if ledger.next_expiry_at and at >= ledger.next_expiry_at:
        expired = lapse(state, at)
        state = _changed(state, expired, ledger.with_next_expiry(_soonest(expired, ledger)))
        ledger, lapsed = state.ledger, expired.emitted
    outcome = handler(state, event, at, policy)
    recorded = ledger.applied_at(envelope.id, at, _soonest(outcome, ledger))
    return Transition(_changed(state, outcome, recorded), lapsed + outcome.emitted)


def _soonest(outcome: Outcome, ledger: Ledger) -> float:
    """The earliest boost or backoff expiry after `outcome`."""
    soonest = outcome.next_expiry_at
    return ledger.next_expiry_at if soonest is None else soonest


def _changed(state: SchedulerState, outcome: Outcome, ledger: Ledger) -> SchedulerState:
    """The one new state: `state` with the parts `outcome` changed, and `ledger`."""
    configs, cluster, books = outcome.configs, outcome.cluster, outcome.books
    return SchedulerState(
        state.configs if configs is None else configs,
        state.cluster if cluster is None else cluster,
        state.books if books is None else books,
        ledger,
    )


def _seen_only(state: SchedulerState, event: object) -> SchedulerState:
    """An unknown (or emit-only) event: unknown types are counted, nothing else changes."""
    if type(event) is not UnknownEvent:
        return state
    counts = dict_copy(state.books.unknown_events)
    counts[event.type] = counts.get(event.type, 0) + 1
    unknown = MappingProxyType(dict(sorted(counts.items())))
    return state.with_books(attrs.evolve(state.books, unknown_events=unknown))


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
"""Event class → handler. Emit-only types (QUALITY_PENALTY_APPLIED, SELFPLAY_ALLOCATION_UPDATED)
and `UnknownEvent` have none: they are remembered as seen and never applied."""
