"""The fold: a recorded stream of items through `reduce`, one `Step` per item.

Items are envelopes, or lines the reader could not turn into one (a `returns` `Failure`, or
a `Rejected`): those are counted and kept as reasons, never applied. At each
`AllocationDecided` the decision is made again from the replayed state (the state *before*
that envelope, the one the shell decided from) and checked (`checking.check_decision`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Final, NamedTuple, TypeAlias

import attrs
from returns.result import Failure, Result, Success

from selfplay_core.decide import decide
from selfplay_core.events import AllocationDecided, Envelope, Event, UnknownEvent
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.reducer import reduce
from selfplay_core.replay.checking import Decider, DecisionCheck, check_decision
from selfplay_core.state import SchedulerState

__all__ = ["Item", "Outcome", "Rejected", "Step", "envelope_of", "replay"]

REFERENCE_POLICY: Final = SchedulerPolicy()


class Outcome:
    """What happened to one item (plain strings, stable in reports)."""

    APPLIED: Final = "applied"  # the reducer applied it
    UNKNOWN: Final = "unknown"  # an event type we do not know: counted, never applied
    DUPLICATE: Final = "duplicate"  # its id is in the dedup window: nothing changed
    IGNORED: Final = "ignored"  # a known type the scheduler only emits: seen, not applied
    REJECTED: Final = "rejected"  # not an envelope at all (bad line): never reached the reducer


@attrs.frozen
class Rejected:
    """A log line that is not an envelope: where (file:line, or a position) and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}" if self.where else self.reason


class Step(NamedTuple):
    """One item of the stream after the fold: its position, the envelope (None when rejected),
    what happened to it, the state after it, what the reference would have emitted, and the
    decision check when it was an `AllocationDecided`. A named tuple, like `Transition`:
    immutable, read by attribute or unpacked."""

    position: int
    envelope: Envelope | None
    outcome: str
    state: SchedulerState
    emitted: tuple[Event, ...] = ()
    check: DecisionCheck | None = None
    rejection: Rejected | None = None


Item: TypeAlias = Envelope | Rejected | Result[Envelope, Any]


def envelope_of(item: object) -> Envelope | None:
    """The envelope an item carries (itself, or a `Success`'s value); None for a bad line."""
    if type(item) is Envelope:
        return item
    if isinstance(item, Success):
        value = item.unwrap()
        return value if isinstance(value, Envelope) else None
    return None


def as_rejection(item: object, position: int) -> Rejected:
    """A bad line as a `Rejected`: the reader's problem (file:line, field, reason, kind),
    or what the item was."""
    if isinstance(item, Rejected):
        return item
    if isinstance(item, Failure):
        failure = item.failure()
        where = ""
        path = getattr(failure, "path", None)
        line_no = getattr(failure, "line_no", None)
        if isinstance(path, str) and isinstance(line_no, int):
            where = f"{path}:{line_no}"
        reason = getattr(failure, "reason", None)
        kind = getattr(failure, "kind", None)
        field = getattr(failure, "field_path", "")
        if isinstance(reason, str):
            text = f"[{field}] {reason}" if field else reason
            if kind is not None:
                text += f" ({getattr(kind, 'value', kind)})"
            return Rejected(where, text)
        return Rejected(where or f"item {position}", str(failure))
    return Rejected(f"item {position}", f"not an envelope: {type(item).__name__}")


def replay(
    state0: SchedulerState,
    items: Iterable[Item],
    policy: SchedulerPolicy = REFERENCE_POLICY,
    *,
    check: bool = True,
    start_position: int = 0,
    decider: Decider | None = None,
    substitute: bool = False,
) -> Iterator[Step]:
    """Fold `items` through `reduce` from `state0`, yielding one `Step` per item.

    With `check`, every `AllocationDecided` is decided again from the state before it (by
    `decider`, `decide` by default) and compared with the recorded result. Positions count
    from `start_position` (a snapshot's). With `substitute`, the decision made again (not the
    recorded one) is what enters the state (the counterfactual's choice). Pure: nothing
    outside the yielded values changes.
    """
    decide_again = decide if decider is None else decider
    state = state0
    for position, item in enumerate(items, start_position):
        # the reader's items are `Success`es: unwrapped here, everything else by `envelope_of`
        envelope = item.unwrap() if type(item) is Success else envelope_of(item)
        if envelope is None:
            rejection = as_rejection(item, position)
            yield Step(position, None, Outcome.REJECTED, state, rejection=rejection)
            continue
        before = state
        event = envelope.event
        decision = None
        applied = envelope
        if check and type(event) is AllocationDecided and envelope.id not in before.ledger:
            decision = check_decision(before, envelope, event, position, policy, decide_again)
            if substitute:
                replayed = AllocationDecided(event.request, decision.replayed)
                applied = attrs.evolve(envelope, event=replayed)
        state, emitted = reduce(before, applied, policy)
        if state is before:  # the reducer saw this id already: nothing changed
            outcome = Outcome.DUPLICATE
        elif state.ledger.applied != before.ledger.applied:
            outcome = Outcome.APPLIED
        else:  # remembered as seen, not applied
            outcome = Outcome.UNKNOWN if type(event) is UnknownEvent else Outcome.IGNORED
        yield Step(position, envelope, outcome, state, emitted, decision)
