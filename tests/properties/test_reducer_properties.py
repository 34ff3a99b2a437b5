"""Properties of `reduce` over arbitrary event sequences (C's event strategies)."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from selfplay_core import events as ev
from selfplay_core.events import Envelope, make_envelope
from selfplay_core.invariants import check_invariants
from selfplay_core.reducer import reduce
from selfplay_core.state import SchedulerState
from selfplay_core.testing.events import event_of, events, unknown_events

T0 = 1_767_225_600.0

# AllocationDecided runs the allocator to draw a real decision: slow, and covered by unit tests.
_FAST_CLASSES = [cls for cls in ev.EVENT_CLASSES if cls is not ev.AllocationDecided]
any_event = st.one_of([event_of(cls) for cls in _FAST_CLASSES]) | unknown_events()
node_events = st.one_of(
    [
        event_of(cls)
        for cls in (
            ev.NodeUnhealthy,
            ev.P2PNodeDead,
            ev.NodeRecovered,
            ev.NodeActivated,
            ev.HostOffline,
            ev.NodeTerminated,
            ev.NodeOverloaded,
        )
    ]
)
echoing_events = st.one_of(
    [
        event_of(cls)
        for cls in (
            ev.TrainingBlockedByQuality,
            ev.OpponentMastered,
            ev.TrainingEarlyStopped,
            ev.EloVelocityChanged,
            ev.RegressionDetected,
        )
    ]
)
gaps = st.floats(min_value=0.0, max_value=1200.0)


@st.composite
def histories(draw: st.DrawFn, max_size: int = 12) -> list[Envelope]:
    """Envelopes with unique ids and times that mostly move forward (sometimes back)."""
    drawn = draw(st.lists(st.tuples(any_event, gaps, st.booleans()), max_size=max_size))
    at = T0
    envelopes = []
    for i, (event, gap, late) in enumerate(drawn):
        at = at + gap
        when = at - gap / 2 if late else at
        envelopes.append(make_envelope(event, id=f"h{i}", at=when, source="prop"))
    return envelopes


def fold(envelopes: list[Envelope], state: SchedulerState | None = None) -> SchedulerState:
    state = state if state is not None else SchedulerState.initial()
    for envelope in envelopes:
        state = reduce(state, envelope).state
    return state


_fresh_ids = itertools.count()


def at_end(state: SchedulerState, event: Any, gap: float = 1.0) -> Envelope:
    return make_envelope(event, id=f"x{next(_fresh_ids)}", at=state.last_at + gap, source="prop")


@given(histories(), any_event)
def test_reduce_never_mutates_its_input(history: list[Envelope], event: Any) -> None:
    state = fold(history)
    before = repr(state)
    copy_of_configs = dict(state.configs)
    reduce(state, at_end(state, event))
    reduce(state, at_end(state, event))  # a second branch from the same state
    assert repr(state) == before
    assert dict(state.configs) == copy_of_configs


@given(histories(), any_event)
def test_the_same_envelope_twice_equals_once(history: list[Envelope], event: Any) -> None:
    state = fold(history)
    envelope = at_end(state, event)
    once = reduce(state, envelope)
    twice = reduce(once.state, envelope)
    assert twice.state == once.state
    assert twice.emitted == ()


@given(histories(), unknown_events())
def test_unknown_events_change_only_their_counter(history: list[Envelope], unknown: Any) -> None:
    state = fold(history)
    after = reduce(state, at_end(state, unknown, gap=10**6)).state
    assert (after.configs, after.cluster, after.elo, after.sources, after.allocations) == (
        state.configs,
        state.cluster,
        state.elo,
        state.sources,
        state.allocations,
    )
    assert (after.applied, after.last_at, after.next_expiry_at) == (
        state.applied,
        state.last_at,
        state.next_expiry_at,
    )
    counts = dict(state.unknown_events)
    counts[unknown.type] = counts.get(unknown.type, 0) + 1
    assert after.unknown_events == counts


@given(histories(max_size=6), node_events, node_events, gaps)
def test_node_events_on_different_nodes_commute(
    history: list[Envelope], first: Any, second: Any, gap: float
) -> None:
    if first.node_id == second.node_id:
        second = type(second)(**{**_fields(second), "node_id": first.node_id + "-other"})
    state = fold(history)
    at = state.last_at + gap
    a = make_envelope(first, id="n1", at=at, source="prop")
    b = make_envelope(second, id="n2", at=at, source="prop")
    one = reduce(reduce(state, a).state, b)
    other = reduce(reduce(state, b).state, a)
    assert _without_ids(one.state) == _without_ids(other.state)
    assert sorted(map(repr, one.emitted)) == sorted(map(repr, other.emitted))


@given(histories(max_size=20), st.booleans())
def test_every_reachable_state_holds_the_invariants(history: list[Envelope], echo: bool) -> None:
    """Also with every emitted event fed back, as the reference's bus delivers them."""
    state = SchedulerState.initial()
    assert check_invariants(state) == ()
    for envelope in history:
        transition = reduce(state, envelope)
        state = transition.state
        assert check_invariants(state) == (), envelope
        if echo:
            for emitted in transition.emitted:
                state = reduce(state, at_end(state, emitted, gap=0.0)).state
                assert check_invariants(state) == (), emitted


@given(histories(max_size=8), echoing_events)
def test_echoes_of_our_emissions_change_no_config(history: list[Envelope], event: Any) -> None:
    """What the scheduler publishes comes back to it on the bus; applying it must be a no-op
    (the reference's OPPONENT_MASTERED echo reset the curriculum weight, deviations.md)."""
    state = fold(history)
    transition = reduce(state, at_end(state, event, gap=0.0))
    after = transition.state
    for emitted in transition.emitted:
        after = reduce(after, at_end(after, emitted, gap=0.0)).state
    assert after.configs == transition.state.configs


@given(histories(max_size=15))
def test_replay_is_deterministic(history: list[Envelope]) -> None:
    assert fold(history) == fold(history)


@given(st.lists(events(include_unknown=False), max_size=3))
def test_codec_strategies_events_are_all_handled(drawn: list[Any]) -> None:
    """Every event class C's strategies draw (AllocationDecided included) reduces cleanly."""
    state = SchedulerState.initial()
    for i, event in enumerate(drawn):
        state = reduce(state, make_envelope(event, id=f"c{i}", at=T0 + i, source="p")).state
        assert check_invariants(state) == ()


def _fields(event: Any) -> dict[str, Any]:
    import attrs

    return attrs.asdict(event, recurse=False)


def _without_ids(state: SchedulerState) -> tuple[Any, ...]:
    ledger = state.ledger
    return (
        state.configs,
        state.cluster,
        state.books,
        ledger.applied,
        ledger.last_at,
        ledger.next_expiry_at,
        frozenset(ledger.ids),
    )
