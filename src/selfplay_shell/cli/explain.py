"""`selfplay-scheduler explain`: one decision's priority terms, multipliers and allocation,
like Slurm's sprio."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import attrs

from selfplay_core.allocation.values import AllocationRequest, BatchAllocation
from selfplay_core.decide import decide
from selfplay_core.events import AllocationDecided, Envelope
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.replay import DecisionCheck, replay
from selfplay_core.state import SchedulerState
from selfplay_shell.cli.arguments import UsageError, epoch_seconds
from selfplay_shell.cli.output import (
    EXIT_OK,
    Output,
    lines_after,
    print_json,
    when,
)
from selfplay_shell.cli.render_explain import render_explanation
from selfplay_shell.explain import explain_data
from selfplay_shell.replay_files import ReplayInputError, load_policy, log_items, starting_point


def _parse_at(text: str, first_at: float | None) -> float:
    """Seconds since the epoch, an ISO 8601 time (UTC if no zone), or +DURATION after the
    log's first envelope (`+90m`, `+2h`, `+1d`, `+300` seconds)."""
    text = text.strip()
    if text.startswith("+"):
        units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
        body, unit = (text[1:-1], units[text[-1]]) if text[-1] in units else (text[1:], 1.0)
        try:
            offset = float(body) * unit
        except ValueError:
            raise ReplayInputError(f"--at {text}: not a duration like +90m or +2h") from None
        return epoch_seconds((first_at or 0.0) + offset, text)
    try:
        return epoch_seconds(float(text), text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReplayInputError(
            f"--at {text}: expected epoch seconds, an ISO 8601 time or +DURATION"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return epoch_seconds(moment.timestamp(), text)
    except (OverflowError, ValueError):  # a zone pushing year 1 or 9999 past the calendar
        raise UsageError(f"--at {text}: not a time (years 1 to 9999)") from None


def _first_at(log: str) -> float | None:
    for item in log_items(log):
        envelope = item if isinstance(item, Envelope) else None
        if envelope is None and hasattr(item, "value_or"):
            envelope = item.value_or(None)
        if isinstance(envelope, Envelope):
            return envelope.at
    return None


def cmd_explain(args: argparse.Namespace, out: Output) -> int:
    start, _ = starting_point(args.log, args.snapshot)
    policy = load_policy(args.policy) if args.policy else start.policy
    fresh = args.policy is not None and start.position == 0
    state0 = SchedulerState.initial(policy) if fresh else start.state
    items = log_items(args.log, start=start)
    total = lines_after(args.log, start.position)
    if args.decision is not None:
        with out.progress(total, "replaying") as bar:
            found = _find_decision(state0, items, policy, start.position, args.decision, bar)
        if isinstance(found, int):
            raise ReplayInputError(
                f"--decision {args.decision}: the log has {found} decision(s)"
                + (" after its snapshot" if start.position else "")
            )
        check, replayed = found
        if args.policy:
            # under another policy: what that policy would have decided here
            data = explain_data(check.state, check.request, policy, replayed)
            data["source"] = "the decision as this policy would have made it"
        else:
            data = explain_data(
                check.state, check.request, policy, check.recorded, replayed=replayed
            )
            data["source"] = "recorded decision"
        data["decision"] = check.number
        data["envelope_id"] = check.envelope_id
    else:
        at = _parse_at(args.at, _first_at(args.log))
        with out.progress(total, "replaying") as bar:
            state, request, span = _state_at(state0, items, policy, start.position, at, bar)
        result = decide(state, request, policy)
        data = explain_data(state, request, policy, result)
        data["decision"] = None
        data["source"] = "what the scheduler would decide at this time"
        data["note"] = _outside(at, span)
    data["policy"] = args.policy or "recorded"
    if args.json:
        print_json(data)
        return EXIT_OK
    render_explanation(out, data, top=args.top)
    return EXIT_OK


def _find_decision(
    state0: SchedulerState,
    items: Iterator[Any],
    policy: SchedulerPolicy,
    start: int,
    number: int,
    on_step: Callable[[object], None] | None = None,
) -> tuple[DecisionCheck, BatchAllocation] | int:
    """The `number`-th decision and its replay, or how many decisions the log has."""
    seen = 0
    for step in replay(state0, items, policy, start_position=start):
        if on_step is not None:
            on_step(step)
        check = step.check
        if check is not None:
            seen = check.number
            if check.number == number:
                return check, check.replayed
    return seen


def _state_at(
    state0: SchedulerState,
    items: Iterator[Any],
    policy: SchedulerPolicy,
    start: int,
    at: float,
    on_step: Callable[[object], None] | None = None,
) -> tuple[SchedulerState, AllocationRequest, tuple[float, float] | None]:
    """The state after every envelope up to `at`, the last recorded request's shape at `at`
    (the facade's default request when there was none), and the log's first and last
    envelope times (None for a log without envelopes)."""
    state = state0
    request = AllocationRequest(now=at)
    first: float | None = None
    last: float | None = None
    reached = False  # the first envelope after `at`: the state stops there
    for step in replay(state0, items, policy, check=False, start_position=start):
        if on_step is not None:
            on_step(step)
        envelope = step.envelope
        if envelope is not None:
            first = envelope.at if first is None else first
            last = envelope.at
            reached = reached or envelope.at > at
        if reached:
            continue  # read on only for the log's last time
        state = step.state
        if envelope is not None and isinstance(envelope.event, AllocationDecided):
            request = attrs.evolve(envelope.event.request, now=at)
    return state, request, None if first is None or last is None else (first, last)


def _outside(at: float, span: tuple[float, float] | None) -> str | None:
    """A statement when `at` is not within the log's envelopes, None when it is."""
    if span is None:
        return "the log has no envelopes: this is the starting state"
    first, last = span
    if at < first:
        return (
            f"{when(at)} UTC is before the log's first envelope ({when(first)} UTC): "
            "this is the state before anything was recorded"
        )
    if at > last:
        return (
            f"{when(at)} UTC is after the log's last envelope ({when(last)} UTC): "
            "this is the last recorded state, aged to that time"
        )
    return None
