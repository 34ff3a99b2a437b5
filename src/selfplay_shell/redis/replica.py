"""`Replica`: the state folded from the input stream, with its local event log.

Entries come in batches (one `XREAD` reply). `fold` reduces a batch without changing the
replica, in two passes (every entry decoded, then every envelope reduced: each pass keeps its
own code hot in the processor's caches): an entry that holds no acceptable envelope is set
aside as a dead letter; an envelope whose id was already applied changes nothing and is counted
as a duplicate, which is why a re-sent envelope is harmless. `commit` then appends the applied
envelopes to the local log (each as the line the publisher wrote into the entry: both are
`eventlog.encode_line`), forces them to disk once for the batch, and only then makes the new
state current: the caller records its new stream position after `commit`, so
no envelope before a recorded position is missing from the log, and the log replays to the
live state (`state_digest` compares them).

`Replica.resume` rebuilds the state from an existing local log (every line through the same
`reduce`), so a restarted replica continues where it stopped; reading resumes from its
recorded position, and the ids of a batch logged but not yet recorded drop out as duplicates.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import attrs
from returns.result import Failure, Success

from selfplay_core.events import AllocationDecided, Envelope
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.reducer import reduce
from selfplay_core.replay import Snapshot, canonical_json, encode_snapshot
from selfplay_core.state import SchedulerState
from selfplay_shell.eventlog import EventLog, LogProblem, ProblemKind, read_log
from selfplay_shell.redis.streams import EntryProblem, Fields, entry_envelope

__all__ = ["LOG_NAME", "DeadLetter", "Folded", "Progress", "Replica", "state_digest"]

#: The local log's file inside `--log DIR`.
LOG_NAME: Final = "events.jsonl"

Entry = tuple[bytes, Fields]


@attrs.frozen
class DeadLetter:
    stream_id: bytes
    fields: Fields
    problem: EntryProblem


@attrs.frozen
class Folded:
    """A batch reduced but not yet committed."""

    state: SchedulerState
    applied: tuple[Envelope, ...]
    dead: tuple[DeadLetter, ...]
    duplicates: int
    decisions: int
    last_stream_id: str


def state_digest(state: SchedulerState, policy: SchedulerPolicy) -> str:
    """SHA-256 of the canonical snapshot of `state` (equal on replicas that applied the same
    envelopes, whatever order of arrival the duplicates had)."""
    # as a starting-point snapshot (position 0: state and policy, no log); the state itself
    # carries how many envelopes it applied and the window of their ids
    snapshot = encode_snapshot(Snapshot(state, policy, 0))
    return hashlib.sha256(canonical_json(snapshot).encode()).hexdigest()


@attrs.frozen
class Progress:
    """Where a replica stands, as one immutable value replaced at each commit: a reader on
    another thread (the HTTP server) sees the state, its stream position and its counters
    from the same moment."""

    state: SchedulerState
    last_stream_id: str = "0-0"
    decisions: int = 0
    duplicates: int = 0
    rejected: int = 0
    last_envelope: Envelope | None = None

    @property
    def applied(self) -> int:
        return self.state.ledger.applied


class Replica:
    """The folded state of one replica (`progress`); the log is appended to on `commit`."""

    def __init__(
        self,
        policy: SchedulerPolicy,
        log: EventLog,
        state: SchedulerState | None = None,
        *,
        decisions: int = 0,
        last_envelope: Envelope | None = None,
    ) -> None:
        self.policy = policy
        self.log = log
        initial = state if state is not None else SchedulerState.initial(policy)
        self.progress = Progress(initial, decisions=decisions, last_envelope=last_envelope)

    @classmethod
    def resume(cls, policy: SchedulerPolicy, log_dir: Path) -> tuple[Replica, list[LogProblem]]:
        """Open (or create) the local log in `log_dir` and fold what it holds. Lines the log
        cannot give back as envelopes are returned as problems (a torn last line has been
        quarantined by `EventLog` already); they were never applied by anyone."""
        path = log_dir / LOG_NAME
        log = EventLog(path, fsync="interval")
        state = SchedulerState.initial(policy)
        decisions = 0
        problems: list[LogProblem] = []
        last: Envelope | None = None
        for record in read_log(path):
            if isinstance(record.result, Failure):
                problem = record.result.failure()
                if problem.kind is not ProblemKind.EMPTY_FILE:  # a log just created
                    problems.append(problem)
                continue
            envelope = record.result.unwrap()
            state = reduce(state, envelope, policy).state
            decisions += isinstance(envelope.event, AllocationDecided)
            last = envelope
        return cls(policy, log, state, decisions=decisions, last_envelope=last), problems

    # (each of these reads `progress` once: see `Progress`)
    @property
    def state(self) -> SchedulerState:
        return self.progress.state

    @property
    def applied(self) -> int:
        return self.progress.applied

    @property
    def decisions(self) -> int:
        return self.progress.decisions

    @property
    def last_stream_id(self) -> str:
        return self.progress.last_stream_id

    @property
    def rejected(self) -> int:
        return self.progress.rejected

    def digest(self) -> str:
        return state_digest(self.state, self.policy)

    def fold(self, entries: Sequence[Entry]) -> Folded:
        # Two passes, decode then reduce: each runs its own code over the whole batch, which
        # keeps it hot in the processor's caches (interleaved, they evict each other).
        decoded: list[Envelope] = []
        dead: list[DeadLetter] = []
        for stream_id, fields in entries:
            result = entry_envelope(fields)
            if type(result) is not Success and isinstance(result, Failure):  # cheap test first
                dead.append(DeadLetter(stream_id, fields, result.failure()))
                continue
            decoded.append(result.unwrap())
        state = self.state
        policy = self.policy
        applied: list[Envelope] = []
        duplicates = decisions = 0
        for envelope in decoded:
            after = reduce(state, envelope, policy).state
            if after is state:
                duplicates += 1
                continue
            state = after
            applied.append(envelope)
            decisions += isinstance(envelope.event, AllocationDecided)
        last = entries[-1][0].decode() if entries else self.progress.last_stream_id
        return Folded(state, tuple(applied), tuple(dead), duplicates, decisions, last)

    def commit(self, folded: Folded) -> None:
        """Log, sync, then advance (a failing log raises before anything advances)."""
        before = self.progress
        last_envelope = before.last_envelope
        if folded.applied:
            self.log.extend(folded.applied)
            self.log.sync()
            last_envelope = folded.applied[-1]
        self.progress = Progress(
            folded.state,
            folded.last_stream_id,
            before.decisions + folded.decisions,
            before.duplicates + folded.duplicates,
            before.rejected + len(folded.dead),
            last_envelope,
        )

    def close(self) -> None:
        self.log.close()
