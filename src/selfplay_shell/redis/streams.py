"""Stream entries ⇄ envelopes, and the names of the keys one service uses.

An entry of the input stream has one field, `envelope`: the envelope in the codec's wire
format (`selfplay_core.codec.encode`), as the JSON text of its event-log line (compact, keys
sorted: `eventlog.encode_line` without the newline). Entries the leader wrote also carry
`fence`: the fencing token the write was checked against. Nothing else is read.

An entry is decoded exactly as the event log reads a line (`eventlog.decode_line`), and a
replica logs the envelope it decoded, as `eventlog.encode_line` writes it: the same bytes as
the entry when a `RedisPublisher` wrote it, and a replay of the log decodes what the replica
applied.

A scheduler-own event (tick, sources refreshed, allocation decided, facade calls) is accepted
only from the leader's fenced script (an entry with `fence`): a publisher cannot inject time or
a decision. An entry that fails any of this is a dead letter, described by `EntryProblem`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, cast

import attrs
from returns.result import Failure, Result, Success

from selfplay_core.events import SCHEDULER_EVENTS, Envelope
from selfplay_shell.eventlog import DEFAULT_MAX_LINE_BYTES, LogWriteError, encode_line
from selfplay_shell.eventlog.reader import decode_line

__all__ = [
    "ENVELOPE_FIELD",
    "FENCE_FIELD",
    "EntryProblem",
    "StreamNames",
    "dead_letter_fields",
    "entry_envelope",
    "reply_text",
    "wire_text",
]

ENVELOPE_FIELD: Final = "envelope"
FENCE_FIELD: Final = "fence"
_ENVELOPE_KEY: Final = ENVELOPE_FIELD.encode()
_FENCE_KEY: Final = FENCE_FIELD.encode()
#: `SCHEDULER_EVENTS` as a set: one hash lookup per entry instead of a scan of the tuple.
_SCHEDULER_TYPES: Final = frozenset(SCHEDULER_EVENTS)

#: Entry fields as redis-py returns them without `decode_responses`.
Fields = Mapping[bytes, bytes]


@attrs.frozen
class StreamNames:
    """The keys of one service, all derived from the stream's name. (On Redis Cluster, give the
    stream a hash tag, e.g. `{selfplay}:events`, so the keys share a slot: one script touches
    the stream and the fence together.)"""

    stream: str = "selfplay:events"

    @property
    def dead_letters(self) -> str:
        return self.stream + ":dead"

    @property
    def lease(self) -> str:
        return self.stream + ":lease"

    @property
    def fence(self) -> str:
        return self.stream + ":fence"

    def group(self, replica: str) -> str:
        """The consumer group of one replica (one group per replica; see docs/redis.md)."""
        return f"replica:{replica}"


@attrs.frozen
class EntryProblem:
    """Why an entry was not applied: the field concerned and what was wrong with it."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


def reply_text(value: Any) -> str:
    """A value of a Redis reply as text (redis-py gives bytes without `decode_responses`)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def wire_text(envelope: Envelope) -> bytes:
    """The envelope as the stream holds it: its event-log line without the newline.
    `ValueError` if it cannot be one (a lone surrogate in a string, over the line limit)."""
    try:
        return encode_line(envelope)[:-1]
    except LogWriteError as error:
        raise ValueError(str(error)) from error


def entry_envelope(fields: Fields) -> Result[Envelope, EntryProblem]:
    """The envelope an entry holds, or why it holds none."""
    raw = fields.get(_ENVELOPE_KEY)
    if raw is None:
        return Failure(EntryProblem(ENVELOPE_FIELD, "missing"))
    if len(raw) > DEFAULT_MAX_LINE_BYTES:  # a replica's log could not hold it
        return Failure(
            EntryProblem(
                ENVELOPE_FIELD,
                f"{len(raw)} bytes, over the event log's {DEFAULT_MAX_LINE_BYTES}-byte line limit",
            )
        )
    try:
        decoded = decode_line(raw)
    except ValueError as error:
        return Failure(EntryProblem(ENVELOPE_FIELD, f"not JSON: {error}"))
    if type(decoded) is not Success and isinstance(decoded, Failure):  # the cheap test first
        return Failure(EntryProblem(ENVELOPE_FIELD, str(decoded.failure())))
    envelope: Envelope = decoded.unwrap()
    if type(envelope.event) in _SCHEDULER_TYPES and _FENCE_KEY not in fields:
        return Failure(
            EntryProblem(
                ENVELOPE_FIELD,
                f"{envelope.type} is a scheduler-own event: only the fenced leader writes it",
            )
        )
    # The decoder's own Success is passed on (no re-wrapping: this runs per entry); typed as
    # Any because its failure type parameter is the codec's.
    good: Any = decoded
    return cast(Result[Envelope, EntryProblem], good)


def dead_letter_fields(
    fields: Fields, problem: EntryProblem, stream_id: bytes, replica: str
) -> dict[bytes, bytes]:
    """A dead letter: the decode error, where the entry was, who saw it first, and every
    original field under `original.<name>` (so no original name can clash with ours)."""
    letter: dict[bytes, bytes] = {
        b"error": str(problem).encode(),
        b"stream_id": stream_id,
        b"replica": replica.encode(),
    }
    for name, value in fields.items():
        letter[b"original." + name] = value
    return letter
