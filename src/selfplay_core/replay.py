"""Replay: fold a recorded stream of envelopes through `reduce`, and check every decision.

`replay(state0, items, policy)` yields one `Step` per item. Items are envelopes, or lines the
reader could not turn into one (a `returns` `Failure`, or a `Rejected`): those are counted and
kept as reasons, never applied. At each `AllocationDecided` the decision is made again from the
replayed state (the state *before* that envelope, the one the shell decided from) with the
recorded request, and the two results are compared by their encoded JSON text, byte for byte.

`summarize(steps)` folds the steps into a `ReplayReport` in memory independent of the log's
length (the first `MAX_REJECTIONS` rejection reasons are kept, and only the first difference in
full). `counterfactual(state0, items, policy)` replays the same items under another policy and
reports how each decision, and the totals per config and per node, would have differed, with
starvation figures for both. `Snapshot` (state + policy + position) lets a long log resume
from where a previous replay stopped; `encode_snapshot`/`decode_snapshot` make it plain data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, NamedTuple, TypeAlias

import attrs
import orjson
from returns.result import Failure, Result, Success

from selfplay_core.allocation.values import AllocationRequest, BatchAllocation
from selfplay_core.codec import INVALID, DecodeError, decode_value, encode_value
from selfplay_core.configs import ALL_CONFIGS, ConfigKey, ConfigKeyError
from selfplay_core.decide import decide
from selfplay_core.events import AllocationDecided, Envelope, Event, UnknownEvent
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.reducer import reduce
from selfplay_core.state import Books, ClusterFacts, ConfigState, Ledger, SchedulerState

__all__ = [
    "MAX_REJECTIONS",
    "SNAPSHOT_FORMAT",
    "CounterfactualReport",
    "DecisionCheck",
    "DecisionDelta",
    "Difference",
    "Outcome",
    "Rejected",
    "ReplayReport",
    "Snapshot",
    "StarvationFigures",
    "Step",
    "canonical_json",
    "counterfactual",
    "decode_snapshot",
    "encode_snapshot",
    "first_difference",
    "replay",
    "replay_report",
    "snapshot_of",
    "starvation_figures",
    "summarize",
]

#: How many rejection reasons a report keeps in full (the count is always exact).
MAX_REJECTIONS: Final = 100

SNAPSHOT_FORMAT: Final = "selfplay-scheduler/snapshot"
SNAPSHOT_VERSION: Final = 1

_REFERENCE_POLICY: Final = SchedulerPolicy()


class Outcome:
    """What happened to one item (plain strings, stable in reports)."""

    APPLIED: Final = "applied"  # the reducer applied it
    UNKNOWN: Final = "unknown"  # an event type we do not know: counted, never applied
    DUPLICATE: Final = "duplicate"  # its id is in the dedup window: nothing changed
    IGNORED: Final = "ignored"  # a known type the scheduler only emits: seen, not applied
    REJECTED: Final = "rejected"  # not an envelope at all (bad line): never reached the reducer


# --- values ----------------------------------------------------------------------------------


@attrs.frozen
class Rejected:
    """A log line that is not an envelope: where (file:line, or a position) and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}" if self.where else self.reason


@attrs.frozen
class Difference:
    """The first place two encoded decisions differ: a dotted path, and the encoded JSON text
    of what was recorded and what was decided again there (`<absent>` when one side lacks it)."""

    path: str
    recorded: str
    replayed: str

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: recorded {self.recorded}, replayed {self.replayed}"


@attrs.frozen
class DecisionCheck:
    """One recorded decision decided again.

    `number` counts decisions from 1 (continuing across a snapshot); `position` is the item's
    index in the stream. `state` is the replayed state the decision was made from. `identical`
    compares the canonical JSON text of both results (`same_json`); `difference` is the first
    one, if any.
    """

    number: int
    position: int
    envelope_id: str
    at: float
    request: AllocationRequest
    recorded: BatchAllocation
    replayed: BatchAllocation
    identical: bool
    difference: Difference | None
    state: SchedulerState

    @property
    def recorded_json(self) -> str:
        return canonical_json(encode_value(self.recorded))

    @property
    def replayed_json(self) -> str:
        return canonical_json(encode_value(self.replayed))


class Step(NamedTuple):
    """One item of the stream after the fold: its position, the envelope (None when rejected),
    what happened to it, the state after it, what the reference would have emitted, and the
    decision check when it was an `AllocationDecided`.

    A named tuple, like `Transition`: immutable, read by attribute, and built with one C call
    in the fold's hot loop (one Step per envelope)."""

    position: int
    envelope: Envelope | None
    outcome: str
    state: SchedulerState
    emitted: tuple[Event, ...] = ()
    check: DecisionCheck | None = None
    rejection: Rejected | None = None


def _step(
    position: int,
    envelope: Envelope | None,
    outcome: str,
    state: SchedulerState,
    emitted: tuple[Event, ...] = (),
    check: DecisionCheck | None = None,
    rejection: Rejected | None = None,
) -> Step:
    """`Step(...)` without the named tuple's Python-level `__new__`."""
    return _tuple_new(Step, (position, envelope, outcome, state, emitted, check, rejection))


_tuple_new: Final = tuple.__new__


@attrs.frozen
class ReplayReport:
    """What a replay found. `items` = every item seen (envelopes and rejected lines);
    `applied` + `unknown` + `duplicates` + `ignored` + `rejected` == `items`.

    `rejections` holds the first `MAX_REJECTIONS` reasons; `first_difference` is the first
    decision that did not replay identically, in full (both results, the state it came from).
    """

    items: int = 0
    applied: int = 0
    unknown: int = 0
    duplicates: int = 0
    ignored: int = 0
    rejected: int = 0
    rejections: tuple[Rejected, ...] = ()
    decisions_checked: int = 0
    decisions_identical: int = 0
    first_difference: DecisionCheck | None = None
    first_at: float | None = None
    last_at: float | None = None
    unknown_types: Mapping[str, int] = attrs.field(factory=lambda: MappingProxyType({}))
    final_state: SchedulerState | None = None
    final_position: int = 0

    @property
    def decisions_differing(self) -> int:
        return self.decisions_checked - self.decisions_identical

    @property
    def all_identical(self) -> bool:
        return self.decisions_checked == self.decisions_identical

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (the CLI's `replay --json`)."""
        first = self.first_difference
        return {
            "items": self.items,
            "applied": self.applied,
            "unknown": self.unknown,
            "duplicates": self.duplicates,
            "ignored": self.ignored,
            "rejected": self.rejected,
            "rejections": [str(r) for r in self.rejections],
            "rejections_truncated": self.rejected > len(self.rejections),
            "decisions_checked": self.decisions_checked,
            "decisions_identical": self.decisions_identical,
            "decisions_differing": self.decisions_differing,
            "first_difference": None if first is None else _check_dict(first),
            "first_at": self.first_at,
            "last_at": self.last_at,
            "unknown_types": dict(self.unknown_types),
            "final_position": self.final_position,
        }


def _check_dict(check: DecisionCheck) -> dict[str, Any]:
    difference = check.difference
    return {
        "decision": check.number,
        "position": check.position,
        "envelope_id": check.envelope_id,
        "at": check.at,
        "request": encode_value(check.request),
        "path": None if difference is None else difference.path,
        "recorded_value": None if difference is None else difference.recorded,
        "replayed_value": None if difference is None else difference.replayed,
        "recorded": encode_value(check.recorded),
        "replayed": encode_value(check.replayed),
    }


# --- canonical text and the first difference ---------------------------------------------------


def canonical_json(value: Any) -> str:
    """The one text encoding decisions are compared in: key order as encoded, compact,
    non-ASCII kept, NaN refused."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def same_json(recorded: Any, replayed: Any) -> bool:
    """`canonical_json(recorded) == canonical_json(replayed)`, about ten times faster.

    orjson's compact text, like `canonical_json`'s, is one text per value: key order, an int
    against a float, 0.0 against -0.0 all show in it. So equal orjson texts mean equal
    canonical texts, but for the non-finite floats that orjson writes as null (and
    `canonical_json` refuses), which the `==` beside it tells from None and from each other.
    A value orjson refuses (an integer past 64 bits, a lone surrogate, a non-string key) is
    compared through `canonical_json`.
    """
    try:
        same_text = orjson.dumps(recorded) == orjson.dumps(replayed)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return canonical_json(recorded) == canonical_json(replayed)
    return same_text and recorded == replayed


_ABSENT: Final = "<absent>"


def first_difference(recorded: Any, replayed: Any, path: str = "") -> Difference | None:
    """The first place (in recorded key order, then list order) where two JSON-ready values
    differ in their canonical text; None when their texts are equal."""
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        for key, value in recorded.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in replayed:
                return Difference(where, canonical_json(value), _ABSENT)
            found = first_difference(value, replayed[key], where)
            if found is not None:
                return found
        for key, value in replayed.items():
            if key not in recorded:
                where = f"{path}.{key}" if path else str(key)
                return Difference(where, _ABSENT, canonical_json(value))
        if list(recorded) != list(replayed):
            return Difference(path, canonical_json(list(recorded)), canonical_json(list(replayed)))
        return None
    if isinstance(recorded, list) and isinstance(replayed, list):
        for index, (a, b) in enumerate(zip(recorded, replayed, strict=False)):
            found = first_difference(a, b, f"{path}[{index}]")
            if found is not None:
                return found
        if len(recorded) != len(replayed):
            index = min(len(recorded), len(replayed))
            a = canonical_json(recorded[index]) if index < len(recorded) else _ABSENT
            b = canonical_json(replayed[index]) if index < len(replayed) else _ABSENT
            return Difference(f"{path}[{index}]", a, b)
        return None
    a, b = canonical_json(recorded), canonical_json(replayed)
    return None if a == b else Difference(path, a, b)


# --- the fold --------------------------------------------------------------------------------

Item: TypeAlias = Envelope | Rejected | Result[Envelope, Any]
Decider: TypeAlias = Callable[[SchedulerState, AllocationRequest, SchedulerPolicy], BatchAllocation]


def _as_rejection(item: Any, position: int) -> Rejected:
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
    policy: SchedulerPolicy = _REFERENCE_POLICY,
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
    position = start_position - 1
    applied_kind, unknown_kind, ignored_kind = Outcome.APPLIED, Outcome.UNKNOWN, Outcome.IGNORED
    new_step = _tuple_new  # `_step` inlined for the usual item (one per envelope)
    for item in items:
        position += 1
        if type(item) is Success or (type(item) is not Envelope and isinstance(item, Success)):
            envelope = item.unwrap()
        elif type(item) is Envelope:
            envelope = item
        else:
            rejection = _as_rejection(item, position)
            yield _step(position, None, Outcome.REJECTED, state, (), None, rejection)
            continue
        before = state
        event = envelope.event
        decision = None
        applied_envelope = envelope
        if check and type(event) is AllocationDecided and envelope.id not in before.ledger:
            decision = _check(before, envelope, event, position, policy, decide_again)
            if substitute:
                applied_envelope = attrs.evolve(
                    envelope, event=AllocationDecided(event.request, decision.replayed)
                )
        transition = reduce(before, applied_envelope, policy)
        state = transition.state
        if state is before:  # the reducer saw this id already: nothing changed
            yield _step(position, envelope, Outcome.DUPLICATE, state)
            continue
        if state.ledger.applied != before.ledger.applied:
            outcome = applied_kind
        elif type(event) is UnknownEvent:
            outcome = unknown_kind
        else:
            outcome = ignored_kind
        emitted = transition.emitted
        yield new_step(Step, (position, envelope, outcome, state, emitted, decision, None))


def _check(
    before: SchedulerState,
    envelope: Envelope,
    event: AllocationDecided,
    position: int,
    policy: SchedulerPolicy,
    decide_again: Decider,
) -> DecisionCheck:
    replayed = decide_again(before, event.request, policy)
    recorded_data = encode_value(event.result)
    replayed_data = encode_value(replayed)
    identical = same_json(recorded_data, replayed_data)
    difference = None
    if not identical:
        difference = first_difference(recorded_data, replayed_data) or Difference(
            "", canonical_json(recorded_data), canonical_json(replayed_data)
        )
    return DecisionCheck(
        number=before.allocations.decisions + 1,
        position=position,
        envelope_id=envelope.id,
        at=envelope.at,
        request=event.request,
        recorded=event.result,
        replayed=replayed,
        identical=identical,
        difference=difference,
        state=before,
    )


def summarize(
    steps: Iterable[Step],
    *,
    initial: SchedulerState | None = None,
    start_position: int = 0,
    on_step: Callable[[Step], None] | None = None,
) -> ReplayReport:
    """Fold steps into a report. Memory stays flat: counters, the first `MAX_REJECTIONS`
    reasons, the first difference. `initial`/`start_position` are what an empty stream ends
    at; `on_step` (e.g. a progress bar) sees every step."""
    items = applied = unknown = duplicates = ignored = rejected = 0
    checked = identical = 0
    rejections: list[Rejected] = []
    first: DecisionCheck | None = None
    first_at: float | None = None
    last_at: float | None = None
    final_state: SchedulerState | None = initial
    final_position = start_position
    unknown_types: dict[str, int] = {}
    applied_kind = Outcome.APPLIED
    for step in steps:
        if on_step is not None:
            on_step(step)
        items += 1
        position, envelope, outcome, final_state, _, decision, rejection = step
        final_position = position + 1
        if outcome == applied_kind:
            applied += 1
            if decision is not None:
                checked += 1
                if decision.identical:
                    identical += 1
                elif first is None:
                    first = decision
        elif outcome == Outcome.REJECTED:
            rejected += 1
            if len(rejections) < MAX_REJECTIONS and rejection is not None:
                rejections.append(rejection)
            continue
        elif outcome == Outcome.UNKNOWN:
            unknown += 1
            assert envelope is not None
            name = envelope.type
            unknown_types[name] = unknown_types.get(name, 0) + 1
        elif outcome == Outcome.DUPLICATE:
            duplicates += 1
        else:
            ignored += 1
        if envelope is not None:
            last_at = envelope.at
            if first_at is None:
                first_at = last_at
    return ReplayReport(
        items=items,
        applied=applied,
        unknown=unknown,
        duplicates=duplicates,
        ignored=ignored,
        rejected=rejected,
        rejections=tuple(rejections),
        decisions_checked=checked,
        decisions_identical=identical,
        first_difference=first,
        first_at=first_at,
        last_at=last_at,
        unknown_types=MappingProxyType(dict(sorted(unknown_types.items()))),
        final_state=final_state,
        final_position=final_position,
    )


def replay_report(
    state0: SchedulerState,
    items: Iterable[Item],
    policy: SchedulerPolicy = _REFERENCE_POLICY,
    *,
    start_position: int = 0,
    on_step: Callable[[Step], None] | None = None,
) -> ReplayReport:
    """`summarize(replay(...))`: the report of replaying `items` from `state0` under `policy`."""
    steps = replay(state0, items, policy, start_position=start_position)
    return summarize(steps, initial=state0, start_position=start_position, on_step=on_step)


# --- counterfactual --------------------------------------------------------------------------


@attrs.frozen
class DecisionDelta:
    """One decision, as recorded and as the other policy would have made it: games per config
    and per node on both sides (zero entries left out), and the difference (other − recorded)."""

    number: int
    at: float
    recorded_games: Mapping[ConfigKey, int]
    counterfactual_games: Mapping[ConfigKey, int]
    recorded_nodes: Mapping[str, int]
    counterfactual_nodes: Mapping[str, int]

    @property
    def games_delta(self) -> Mapping[ConfigKey, int]:
        return _delta(self.recorded_games, self.counterfactual_games)

    @property
    def nodes_delta(self) -> Mapping[str, int]:
        return _delta(self.recorded_nodes, self.counterfactual_nodes)

    @property
    def differs(self) -> bool:
        return bool(self.games_delta) or bool(self.nodes_delta)


@attrs.frozen
class StarvationFigures:
    """How evenly a sequence of decisions fed the configs.

    `longest_wait_seconds[c]`: the longest stretch between decisions that gave `c` games,
    counted from the first decision and up to the last (a config never fed waited the whole
    span); `longest_wait_decisions[c]`: the most consecutive decisions that gave it nothing;
    `never_fed`: configs no decision gave a game. `windows`: (window start, games per config)
    for each `window_seconds` from the first decision; `share` = each config's fraction of all
    games over the whole span.
    """

    span_seconds: float
    decisions: int
    longest_wait_seconds: Mapping[ConfigKey, float]
    longest_wait_decisions: Mapping[ConfigKey, int]
    never_fed: tuple[ConfigKey, ...]
    window_seconds: float
    windows: tuple[tuple[float, Mapping[ConfigKey, int]], ...]
    share: Mapping[ConfigKey, float]

    def window_shares(self) -> tuple[tuple[float, Mapping[ConfigKey, float]], ...]:
        """Each window's games per config as fractions of that window's games."""
        out = []
        for start, games in self.windows:
            total = sum(games.values())
            out.append(
                (
                    start,
                    MappingProxyType(
                        {key: (games[key] / total if total else 0.0) for key in ALL_CONFIGS}
                    ),
                )
            )
        return tuple(out)

    def as_dict(self) -> dict[str, Any]:
        return {
            "span_seconds": self.span_seconds,
            "decisions": self.decisions,
            "longest_wait_seconds": {str(k): v for k, v in self.longest_wait_seconds.items()},
            "longest_wait_decisions": {str(k): v for k, v in self.longest_wait_decisions.items()},
            "never_fed": [str(k) for k in self.never_fed],
            "window_seconds": self.window_seconds,
            "windows": [
                {"start": start, "games": {str(k): v for k, v in games.items()}}
                for start, games in self.windows
            ],
            "share": {str(k): v for k, v in self.share.items()},
        }


@attrs.frozen
class CounterfactualReport:
    """The same log under another policy: every decision both ways, totals per config and per
    node (recorded, counterfactual), and the starvation figures of both sides. `replay` is the
    counterfactual fold's own report (counts, and how many decisions came out the same)."""

    decisions: tuple[DecisionDelta, ...]
    recorded_games: Mapping[ConfigKey, int]
    counterfactual_games: Mapping[ConfigKey, int]
    recorded_nodes: Mapping[str, int]
    counterfactual_nodes: Mapping[str, int]
    recorded_starvation: StarvationFigures
    counterfactual_starvation: StarvationFigures
    replay: ReplayReport

    @property
    def decisions_differing(self) -> int:
        return sum(1 for d in self.decisions if d.differs)

    @property
    def games_delta(self) -> Mapping[ConfigKey, int]:
        return _delta(self.recorded_games, self.counterfactual_games)

    @property
    def nodes_delta(self) -> Mapping[str, int]:
        return _delta(self.recorded_nodes, self.counterfactual_nodes)

    def as_dict(self) -> dict[str, Any]:
        def configs(m: Mapping[ConfigKey, int]) -> dict[str, int]:
            return {str(k): v for k, v in m.items()}

        return {
            "decisions": len(self.decisions),
            "decisions_differing": self.decisions_differing,
            "per_decision": [
                {
                    "decision": d.number,
                    "at": d.at,
                    "recorded": configs(d.recorded_games),
                    "counterfactual": configs(d.counterfactual_games),
                    "games_delta": configs(d.games_delta),
                    "nodes_delta": dict(d.nodes_delta),
                }
                for d in self.decisions
            ],
            "totals": {
                "recorded_games": configs(self.recorded_games),
                "counterfactual_games": configs(self.counterfactual_games),
                "games_delta": configs(self.games_delta),
                "recorded_nodes": dict(self.recorded_nodes),
                "counterfactual_nodes": dict(self.counterfactual_nodes),
                "nodes_delta": dict(self.nodes_delta),
            },
            "starvation": {
                "recorded": self.recorded_starvation.as_dict(),
                "counterfactual": self.counterfactual_starvation.as_dict(),
            },
            "replay": self.replay.as_dict(),
        }


def _delta(a: Mapping[Any, int], b: Mapping[Any, int]) -> Mapping[Any, int]:
    keys = sorted(set(a) | set(b))
    return MappingProxyType(
        {k: b.get(k, 0) - a.get(k, 0) for k in keys if b.get(k, 0) != a.get(k, 0)}
    )


def _games(result: BatchAllocation) -> Mapping[ConfigKey, int]:
    return MappingProxyType({k: v for k, v in result.games_by_config.items() if v})


def _nodes(result: BatchAllocation) -> Mapping[str, int]:
    totals: dict[str, int] = {}
    for per_node in result.placements.values():
        for node_id, games in per_node.items():
            if games:
                totals[node_id] = totals.get(node_id, 0) + games
    return MappingProxyType({k: totals[k] for k in sorted(totals)})


def _add(totals: dict[Any, int], games: Mapping[Any, int]) -> None:
    for key, value in games.items():
        totals[key] = totals.get(key, 0) + value


def counterfactual(
    state0: SchedulerState,
    items: Iterable[Item],
    policy: SchedulerPolicy,
    *,
    window_seconds: float = 3600.0,
    start_position: int = 0,
    on_step: Callable[[Step], None] | None = None,
) -> CounterfactualReport:
    """Replay `items` under `policy`: at each recorded decision, decide under `policy` from the
    state replayed under it, and let that decision (not the recorded one) enter the state, so
    later decisions follow from the counterfactual ones. The world (game counts, Elo, nodes)
    is what the log observed: this answers "what would the scheduler have decided", not how
    the cluster would have evolved. Memory grows with the number of decisions (one small
    `DecisionDelta` each), not with the number of envelopes."""
    deltas: list[DecisionDelta] = []
    recorded_seq: list[tuple[float, Mapping[ConfigKey, int]]] = []
    other_seq: list[tuple[float, Mapping[ConfigKey, int]]] = []
    totals: tuple[dict[ConfigKey, int], dict[ConfigKey, int], dict[str, int], dict[str, int]] = (
        {},
        {},
        {},
        {},
    )

    def steps() -> Iterator[Step]:
        for step in replay(state0, items, policy, start_position=start_position, substitute=True):
            if step.check is not None:
                c = step.check
                delta = DecisionDelta(
                    number=c.number,
                    at=c.at,
                    recorded_games=_games(c.recorded),
                    counterfactual_games=_games(c.replayed),
                    recorded_nodes=_nodes(c.recorded),
                    counterfactual_nodes=_nodes(c.replayed),
                )
                deltas.append(delta)
                recorded_seq.append((c.at, delta.recorded_games))
                other_seq.append((c.at, delta.counterfactual_games))
                _add(totals[0], delta.recorded_games)
                _add(totals[1], delta.counterfactual_games)
                _add(totals[2], delta.recorded_nodes)
                _add(totals[3], delta.counterfactual_nodes)
            if on_step is not None:
                on_step(step)
            yield step

    report = summarize(steps(), initial=state0, start_position=start_position)
    return CounterfactualReport(
        decisions=tuple(deltas),
        recorded_games=_canonical_counts(totals[0]),
        counterfactual_games=_canonical_counts(totals[1]),
        recorded_nodes=MappingProxyType({k: totals[2][k] for k in sorted(totals[2])}),
        counterfactual_nodes=MappingProxyType({k: totals[3][k] for k in sorted(totals[3])}),
        recorded_starvation=starvation_figures(recorded_seq, window_seconds),
        counterfactual_starvation=starvation_figures(other_seq, window_seconds),
        replay=report,
    )


def _canonical_counts(totals: Mapping[ConfigKey, int]) -> Mapping[ConfigKey, int]:
    return MappingProxyType({k: totals[k] for k in sorted(totals)})


def starvation_figures(
    decisions: Sequence[tuple[float, Mapping[ConfigKey, int]]], window_seconds: float = 3600.0
) -> StarvationFigures:
    """Starvation figures of a sequence of (at, games per config) decisions, in time order."""
    window = window_seconds if window_seconds > 0 and math.isfinite(window_seconds) else 3600.0
    if not decisions:
        empty_f: Mapping[ConfigKey, float] = MappingProxyType(dict.fromkeys(ALL_CONFIGS, 0.0))
        empty_i: Mapping[ConfigKey, int] = MappingProxyType(dict.fromkeys(ALL_CONFIGS, 0))
        return StarvationFigures(0.0, 0, empty_f, empty_i, (), window, (), empty_f)
    start = decisions[0][0]
    end = decisions[-1][0]
    last_fed = dict.fromkeys(ALL_CONFIGS, start)
    longest = dict.fromkeys(ALL_CONFIGS, 0.0)
    streak = dict.fromkeys(ALL_CONFIGS, 0)
    longest_streak = dict.fromkeys(ALL_CONFIGS, 0)
    fed: set[ConfigKey] = set()
    totals = dict.fromkeys(ALL_CONFIGS, 0)
    windows: list[tuple[float, dict[ConfigKey, int]]] = []
    for at, games in decisions:
        index = int((at - start) // window)
        while len(windows) <= index:
            windows.append((start + len(windows) * window, dict.fromkeys(ALL_CONFIGS, 0)))
        bucket = windows[index][1]
        for key in ALL_CONFIGS:
            n = games.get(key, 0)
            if n > 0:
                longest[key] = max(longest[key], at - last_fed[key])
                last_fed[key] = at
                streak[key] = 0
                fed.add(key)
                totals[key] += n
                bucket[key] += n
            else:
                streak[key] += 1
                longest_streak[key] = max(longest_streak[key], streak[key])
    for key in ALL_CONFIGS:
        longest[key] = max(longest[key], end - last_fed[key])
    grand = sum(totals.values())
    return StarvationFigures(
        span_seconds=end - start,
        decisions=len(decisions),
        longest_wait_seconds=MappingProxyType(longest),
        longest_wait_decisions=MappingProxyType(longest_streak),
        never_fed=tuple(key for key in ALL_CONFIGS if key not in fed),
        window_seconds=window,
        windows=tuple((s, MappingProxyType(g)) for s, g in windows),
        share=MappingProxyType(
            {key: (totals[key] / grand if grand else 0.0) for key in ALL_CONFIGS}
        ),
    )


# --- snapshots -------------------------------------------------------------------------------


@attrs.frozen
class Snapshot:
    """Where a replay stopped: the state, the policy it was replayed under, how many items of
    the log were consumed (`position`), and the id of the last envelope (a sanity check when
    resuming: the log must still hold it just before `position`)."""

    state: SchedulerState
    policy: SchedulerPolicy
    position: int
    last_envelope_id: str | None = None


def snapshot_of(
    report: ReplayReport, policy: SchedulerPolicy, last_envelope_id: str | None
) -> Snapshot:
    state = report.final_state if report.final_state is not None else SchedulerState.initial(policy)
    return Snapshot(state, policy, report.final_position, last_envelope_id)


def _encode_state(state: SchedulerState) -> dict[str, Any]:
    ledger = state.ledger
    return {
        "configs": {str(key): encode_value(cs) for key, cs in state.configs.items()},
        "cluster": encode_value(state.cluster),
        "books": encode_value(state.books),
        "ledger": {
            "size": ledger.size,
            "ids": list(ledger.ids),
            "applied": ledger.applied,
            "last_at": ledger.last_at,
            "next_expiry_at": ledger.next_expiry_at,
        },
    }


def encode_snapshot(snapshot: Snapshot) -> dict[str, Any]:
    """A snapshot as JSON-ready data (deterministic: equal snapshots encode to equal text)."""
    return {
        "format": SNAPSHOT_FORMAT,
        "version": SNAPSHOT_VERSION,
        "position": snapshot.position,
        "last_envelope_id": snapshot.last_envelope_id,
        "policy": encode_value(snapshot.policy),
        "state": _encode_state(snapshot.state),
    }


class _Bad(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.error = DecodeError("snapshot", path, INVALID, message)


def _field(raw: Mapping[str, Any], name: str, path: str) -> Any:
    if name not in raw:
        raise _Bad(f"{path}{name}", "missing")
    return raw[name]


def _decoded(value: object, cls: type[Any], path: str) -> Any:
    result = decode_value(value, cls)
    if isinstance(result, Failure):
        error: DecodeError = result.failure()
        inner = f"{path}.{error.path}" if error.path else path
        raise _Bad(inner, error.message)
    return result.unwrap()


def _int(value: object, path: str) -> int:
    if type(value) is not int or value < 0:
        raise _Bad(path, f"expected an integer ≥ 0, got {value!r}")
    return value


def _float(value: object, path: str) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):  # type: ignore[arg-type]
        raise _Bad(path, f"expected a finite number, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def _decode_reported(raw: object) -> Mapping[str, tuple[Any, ...]]:
    # What sources last reported, field → one JSON scalar per config (or None). Decoded by
    # hand: the values are not only numbers (the feedback flags are booleans).
    path = "state.books.sources.reported"
    if not isinstance(raw, Mapping):
        raise _Bad(path, "expected an object")
    out: dict[str, tuple[Any, ...]] = {}
    for field, values in raw.items():
        if not isinstance(values, list) or len(values) != len(ALL_CONFIGS):
            raise _Bad(f"{path}.{field}", f"expected a list of {len(ALL_CONFIGS)} values")
        for index, value in enumerate(values):
            number = type(value) in (int, float)
            if not (value is None or type(value) is bool or number):
                raise _Bad(f"{path}.{field}.{index}", f"expected a number, got {value!r}")
            if number and not math.isfinite(value):
                raise _Bad(f"{path}.{field}.{index}", f"not finite: {value!r}")
        out[str(field)] = tuple(values)
    return MappingProxyType(dict(sorted(out.items())))


def _decode_books(raw: object) -> Books:
    if not isinstance(raw, Mapping):
        raise _Bad("state.books", "expected an object")
    sources = raw.get("sources")
    if not isinstance(sources, Mapping):
        raise _Bad("state.books.sources", "expected an object")
    reported = _decode_reported(_field(sources, "reported", "state.books.sources."))
    rest = dict(raw, sources=dict(sources, reported={}))
    books: Books = _decoded(rest, Books, "state.books")
    return attrs.evolve(books, sources=attrs.evolve(books.sources, reported=reported))


def _decode_state(raw: object) -> SchedulerState:
    if not isinstance(raw, Mapping):
        raise _Bad("state", "expected an object")
    configs_raw = _field(raw, "configs", "state.")
    if not isinstance(configs_raw, Mapping):
        raise _Bad("state.configs", "expected an object")
    configs: dict[ConfigKey, ConfigState] = {}
    for text, value in configs_raw.items():
        try:
            key = ConfigKey.parse(text)
        except (ConfigKeyError, TypeError, ValueError) as exc:
            raise _Bad(f"state.configs.{text}", f"unknown config: {exc}") from None
        configs[key] = _decoded(value, ConfigState, f"state.configs.{text}")
    if tuple(configs) != ALL_CONFIGS:
        raise _Bad("state.configs", "must hold the 12 canonical configs in canonical order")
    cluster = _decoded(_field(raw, "cluster", "state."), ClusterFacts, "state.cluster")
    books = _decode_books(_field(raw, "books", "state."))
    ledger_raw = _field(raw, "ledger", "state.")
    if not isinstance(ledger_raw, Mapping):
        raise _Bad("state.ledger", "expected an object")
    ids = _field(ledger_raw, "ids", "state.ledger.")
    if not isinstance(ids, list) or not all(type(i) is str for i in ids):
        raise _Bad("state.ledger.ids", "expected a list of strings")
    ledger = Ledger.of(
        ids,
        _int(_field(ledger_raw, "size", "state.ledger."), "state.ledger.size"),
        _int(_field(ledger_raw, "applied", "state.ledger."), "state.ledger.applied"),
        _float(_field(ledger_raw, "last_at", "state.ledger."), "state.ledger.last_at"),
        _float(
            _field(ledger_raw, "next_expiry_at", "state.ledger."), "state.ledger.next_expiry_at"
        ),
    )
    return SchedulerState(MappingProxyType(configs), cluster, books, ledger)


def decode_snapshot(raw: object) -> Result[Snapshot, DecodeError]:
    """The inverse of `encode_snapshot`; never raises. Errors name the field path."""
    try:
        if not isinstance(raw, Mapping):
            raise _Bad("", "expected an object")
        if raw.get("format") != SNAPSHOT_FORMAT:
            raise _Bad("format", f"expected {SNAPSHOT_FORMAT!r}, got {raw.get('format')!r}")
        version = raw.get("version")
        if version != SNAPSHOT_VERSION:
            raise _Bad("version", f"expected {SNAPSHOT_VERSION}, got {version!r}")
        position = _int(_field(raw, "position", ""), "position")
        last_id = raw.get("last_envelope_id")
        if last_id is not None and type(last_id) is not str:
            raise _Bad("last_envelope_id", "expected a string or null")
        policy = _decoded(_field(raw, "policy", ""), SchedulerPolicy, "policy")
        state = _decode_state(_field(raw, "state", ""))
    except _Bad as bad:
        return Failure(bad.error)
    return Success(Snapshot(state, policy, position, last_id))
