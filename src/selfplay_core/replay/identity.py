"""Which log a replay read: envelopes pinned by position, id and digest.

A snapshot records the first envelope of its log and the last one before its position
(`LogIdentity`); resuming checks both against the log it is given. The digest is SHA-256 of
the envelope's canonical encoded JSON (`codec.encode`), so it follows what the envelope
*is*, not how its line was spelled: the same log gzip'd, or with its keys in another order,
is the same log; an envelope with any field changed is not.
"""

from __future__ import annotations

import hashlib

import attrs

from selfplay_core._validators import count
from selfplay_core.codec import encode
from selfplay_core.events import Envelope
from selfplay_core.replay.checking import canonical_json

__all__ = ["EnvelopeMark", "LogIdentity", "envelope_digest"]


def envelope_digest(envelope: Envelope) -> str:
    """`sha256:` and the hex digest of the envelope's canonical encoded JSON."""
    text = canonical_json(encode(envelope))
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@attrs.frozen
class EnvelopeMark:
    """One envelope of a log: its item position (0-based, counting every line the reader
    reported, good or bad), its id and its digest."""

    position: int = attrs.field(validator=count)
    id: str
    digest: str

    @classmethod
    def of(cls, position: int, envelope: Envelope) -> EnvelopeMark:
        return cls(position, envelope.id, envelope_digest(envelope))

    def matches(self, envelope: Envelope) -> bool:
        return envelope.id == self.id and envelope_digest(envelope) == self.digest

    def __str__(self) -> str:
        return f"{self.id!r} at item {self.position}"


@attrs.frozen
class LogIdentity:
    """The log a snapshot was taken from: its first envelope, and the last envelope before
    the snapshot's position (the same one when only one was read)."""

    first: EnvelopeMark
    last: EnvelopeMark = attrs.field()

    @last.validator
    def _after_first(self, _attribute: attrs.Attribute[EnvelopeMark], last: EnvelopeMark) -> None:
        if last.position < self.first.position:
            raise ValueError(
                f"last: at item {last.position}, before the first envelope "
                f"(item {self.first.position})"
            )
