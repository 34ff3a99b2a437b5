"""Snapshots: where a replay stopped, bound to the log it read, as plain data.

A `Snapshot` is the state, the policy, the position (how many items of the log were
consumed) and the log's identity (its first envelope, and the envelope just before the
position). `items_after(snapshot, items)` checks a log against that identity while it skips
the consumed items, and refuses, with the reason, a snapshot of another log or of another
position, past the log's end included. `encode_snapshot`/`decode_snapshot` turn snapshots
into JSON-ready data through the codec's converter (`encode_value`/`decode_value`), like
every other core value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

import attrs
from returns.result import Failure, Result, Success

from selfplay_core._validators import count
from selfplay_core.codec import INVALID, MISSING, DecodeError, decode_value, encode_value
from selfplay_core.configs import ALL_CONFIGS
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.replay.fold import Item, envelope_of
from selfplay_core.replay.identity import EnvelopeMark, LogIdentity
from selfplay_core.replay.report import ReplayReport
from selfplay_core.state import SchedulerState

__all__ = [
    "SNAPSHOT_FORMAT",
    "SNAPSHOT_VERSION",
    "Snapshot",
    "SnapshotMismatch",
    "decode_snapshot",
    "encode_snapshot",
    "items_after",
    "snapshot_of",
]

SNAPSHOT_FORMAT: Final = "selfplay-scheduler/snapshot"
#: 2: the snapshot records its log (`log`). 1 did not: read only at position 0.
SNAPSHOT_VERSION: Final = 2


@attrs.frozen
class Snapshot:
    """Where a replay stopped: the state, the policy it was replayed under, how many items of
    the log were consumed (`position`), and which log (`log`: its first envelope, and the
    one at `position - 1`). A snapshot at position 0 is a starting point (a state and a
    policy) and needs no log; past 0 it must record one."""

    state: SchedulerState
    policy: SchedulerPolicy
    position: int = attrs.field(validator=count)
    log: LogIdentity | None = attrs.field(default=None)

    @log.validator
    def _bound_to_its_position(self, _attribute: Any, log: LogIdentity | None) -> None:
        if log is None:
            if self.position > 0:
                raise ValueError(f"log: a snapshot at position {self.position} must record its log")
        elif log.last.position != self.position - 1:
            raise ValueError(
                f"log: its last envelope is at item {log.last.position}, "
                f"not just before position {self.position}"
            )

    @property
    def last_envelope_id(self) -> str | None:
        return None if self.log is None else self.log.last.id


def snapshot_of(
    report: ReplayReport, policy: SchedulerPolicy, *, resumed_from: Snapshot | None = None
) -> Snapshot:
    """A snapshot of where `report`'s replay stopped, under `policy`, bound to its log.

    `resumed_from` is the snapshot that replay started from (its log's first envelope is
    this one's too). The position is just after the last envelope: lines the reader
    rejected after it change no state and are read again (and reported again) on resume.
    """
    last = report.last_envelope
    if last is None:  # no envelope read: nothing moved since the start
        if resumed_from is not None:
            return attrs.evolve(resumed_from, policy=policy)
        return Snapshot(report.final_state or SchedulerState.initial(policy), policy, 0)
    first = resumed_from.log.first if resumed_from and resumed_from.log else report.first_envelope
    assert first is not None  # an envelope was read ...
    assert report.final_state is not None  # ... so a state came of it
    return Snapshot(report.final_state, policy, last.position + 1, LogIdentity(first, last))


# --- resuming ----------------------------------------------------------------------------------


@attrs.frozen
class SnapshotMismatch:
    """Why a snapshot does not belong to the log (or the position) it was given."""

    reason: str

    def __str__(self) -> str:
        return self.reason


def items_after(
    snapshot: Snapshot, items: Iterable[Item]
) -> Result[Iterator[Item], SnapshotMismatch]:
    """The items after the snapshot's position, once the first `position` items are checked
    to be the log the snapshot was taken from: its first envelope where the snapshot says,
    the same id and digest, and likewise the envelope at `position - 1`. Consumes the
    first `position` items of `items` (a log's reader reads them anyway)."""
    stream = iter(items)
    log = snapshot.log
    if log is None:
        return Success(stream)
    seen_first = False
    envelope = None
    for index in range(snapshot.position):
        item = next(stream, _END)
        if item is _END:
            return Failure(
                SnapshotMismatch(
                    f"the log has {index} item(s); the snapshot is at position "
                    f"{snapshot.position}, past its end"
                )
            )
        envelope = envelope_of(item)
        if envelope is None:
            continue
        if not seen_first:
            seen_first = True
            if index != log.first.position or not log.first.matches(envelope):
                return Failure(_other_log(log.first, index, envelope.id, "first"))
    if not seen_first or envelope is None or not log.last.matches(envelope):
        found = "no envelope" if envelope is None else f"{envelope.id!r}"
        return Failure(
            SnapshotMismatch(
                f"the snapshot's last envelope {log.last} is not in this log "
                f"(item {log.last.position} is {found}): another log, or another position"
            )
        )
    return Success(stream)


_END: Final = object()


def _other_log(mark: EnvelopeMark, index: int, found_id: str, which: str) -> SnapshotMismatch:
    if found_id == mark.id and index == mark.position:
        found = f"{found_id!r} with other content"
    else:
        found = f"{found_id!r} at item {index}"
    return SnapshotMismatch(
        f"the snapshot was taken from another log: its {which} envelope is {mark}, "
        f"this log's is {found}"
    )


# --- plain data --------------------------------------------------------------------------------


def encode_snapshot(snapshot: Snapshot) -> dict[str, Any]:
    """A snapshot as JSON-ready data (deterministic: equal snapshots encode to equal text):
    the header, then the position and log, then the policy and the state."""
    data = encode_value(snapshot)
    head = {"format": SNAPSHOT_FORMAT, "version": SNAPSHOT_VERSION}
    return head | {key: data[key] for key in ("position", "log", "policy", "state")}


def decode_snapshot(raw: object) -> Result[Snapshot, DecodeError]:
    """The inverse of `encode_snapshot`; never raises. Errors name the field path. A
    version-1 snapshot (which did not record its log) is read only at position 0."""
    if not isinstance(raw, Mapping):
        return _bad("", INVALID, "expected an object")
    if raw.get("format") != SNAPSHOT_FORMAT:
        return _bad("format", INVALID, f"expected {SNAPSHOT_FORMAT!r}, got {raw.get('format')!r}")
    body = {key: value for key, value in raw.items() if key not in ("format", "version")}
    version = raw.get("version")
    if version == 1:
        body.pop("last_envelope_id", None)
        if body.get("position") != 0:
            return _bad(
                "version",
                INVALID,
                "a version-1 snapshot does not record which log it was taken from, so only "
                "one at position 0 can be used: save a new snapshot",
            )
    elif version != SNAPSHOT_VERSION:
        return _bad("version", INVALID, f"expected {SNAPSHOT_VERSION}, got {version!r}")
    for required in ("position", "policy", "state"):
        if required not in body:
            return _bad(required, MISSING, "missing")
    result = decode_value(body, Snapshot)
    if isinstance(result, Failure):
        error: DecodeError = result.failure()
        return _bad(error.path, error.problem, error.message)
    snapshot: Snapshot = result.unwrap()
    if tuple(snapshot.state.configs) != ALL_CONFIGS:
        return _bad("state.configs", INVALID, "must hold the 12 canonical configs")
    return Success(snapshot)


def _bad(path: str, problem: str, message: str) -> Result[Snapshot, DecodeError]:
    return Failure(DecodeError("snapshot", path, problem, message))
