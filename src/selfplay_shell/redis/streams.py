"""Stream entries ⇄ envelopes, and the names of the keys one service uses.

An entry of the input stream has one field, `envelope`: the envelope in the codec's wire
format (`selfplay_core.codec.encode`, as JSON text). Entries the leader wrote also carry
`fence`: the fencing token the write was checked against. Nothing else is read.

A scheduler-own event (tick, sources refreshed, allocation decided, facade calls) is accepted
only from the leader's fenced script (an entry with `fence`): a publisher cannot inject time or
a decision. An entry that fails any of this is a dead letter, described by `EntryProblem`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs
import orjson
from returns.result import Failure, Result, Success

from selfplay_core.codec import decode_json, encode
from selfplay_core.events import SCHEDULER_EVENTS, Envelope

__all__ = [
    "ENVELOPE_FIELD",
    "FENCE_FIELD",
    "EntryProblem",
    "StreamNames",
    "dead_letter_fields",
    "entry_envelope",
    "wire_text",
]

ENVELOPE_FIELD: Final = "envelope"
FENCE_FIELD: Final = "fence"

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


def wire_text(envelope: Envelope) -> bytes:
    """The envelope as the stream holds it: the codec's wire format as compact JSON."""
    return orjson.dumps(encode(envelope))


def entry_envelope(fields: Fields) -> Result[Envelope, EntryProblem]:
    """The envelope an entry holds, or why it holds none."""
    raw = fields.get(ENVELOPE_FIELD.encode())
    if raw is None:
        return Failure(EntryProblem(ENVELOPE_FIELD, "missing"))
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        return Failure(EntryProblem(ENVELOPE_FIELD, f"not JSON: {error}"))
    decoded = decode_json(data)
    if isinstance(decoded, Failure):
        return Failure(EntryProblem(ENVELOPE_FIELD, str(decoded.failure())))
    envelope = decoded.unwrap()
    if type(envelope.event) in SCHEDULER_EVENTS and FENCE_FIELD.encode() not in fields:
        return Failure(
            EntryProblem(
                ENVELOPE_FIELD,
                f"{envelope.type} is a scheduler-own event: only the fenced leader writes it",
            )
        )
    return Success(envelope)


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
