"""`Ledger`: what changes with every envelope, as one persistent value.

The ledger holds the dedup window of recent envelope ids (the last `size` ids seen, oldest
first; our answer to the reference's double delivery, events.md §8 items 1–2), how many
envelopes were applied, the latest envelope time (`last_at`) and the earliest pending boost or
backoff expiry (`next_expiry_at`, 0.0 = none, so most envelopes skip the expiry scan).

The window is a persistent structure: successive ledgers share one append-only log of ids
(`_IdLog`), each ledger seeing the log's prefix up to its own `end`, so appending to the newest
ledger is O(1) and no ledger ever changes. Appending to an older ledger (a branch) copies its
window first; the log is compacted when it reaches twice the window size. Equality is by
content. Not for use from several threads at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

__all__ = ["Ledger"]


class _IdLog:
    """The append-only list of ids shared by successive `Ledger` values (their one mutable
    part, never visible outside this module).

    `index` maps the ids appended to this log to their sequence numbers; `older` is the index
    of the log this one succeeded, so a compaction copies only the list of ids, never rebuilds
    an index. A succeeded log is never appended to again (its newest window is due for
    compaction, so it always gets a successor), which keeps the shared `older` unchanged.
    `size` is the window size of every ledger on this log (a resize starts a new log), so the
    ledger built for every envelope need not carry it."""

    __slots__ = ("base", "ids", "index", "older", "size", "top")

    def __init__(
        self, size: int, base: int, ids: list[str], older: dict[str, int] | None = None
    ) -> None:
        self.size = size
        self.base = base
        self.ids = ids
        self.index = {id_: base + i for i, id_ in enumerate(ids)} if older is None else {}
        self.older: dict[str, int] = {} if older is None else older
        self.top = base + len(ids)  # the end of the newest window

    def appended(self, end: int, id_: str) -> _IdLog:
        """`id_` appended to the window ending at `end` (the window then ends at `end + 1`):
        the log holding it. The log is this one; a successor holding the last `size` ids
        (indexed by this log's index) when it is long enough to compact; or a copy of the
        window when `end` is not this log's newest (a branch)."""
        log = self
        size = self.size
        if end != self.top:
            start = max(end - size, self.base)
            log = _IdLog(size, start, self.ids[start - self.base : end - self.base])
        elif end - self.base >= 2 * size:
            start = max(end - size, self.base)
            log = _IdLog(size, start, self.ids[start - self.base :], older=self.index)
        log.ids.append(id_)
        log.index[id_] = end
        log.top = end + 1
        return log


@attrs.frozen(eq=False, repr=False)
class Ledger:
    """The dedup window of recent envelope ids, `applied` (envelopes applied: duplicates and
    unknown events excluded), `last_at` and `next_expiry_at` (see the module's docstring)."""

    _log: _IdLog
    _end: int
    applied: int = 0
    last_at: float = 0.0
    next_expiry_at: float = 0.0

    @classmethod
    def of(
        cls,
        ids: Iterable[str] = (),
        size: int = 10_000,
        applied: int = 0,
        last_at: float = 0.0,
        next_expiry_at: float = 0.0,
    ) -> Ledger:
        """A ledger whose window holds the last `size` of `ids` (oldest first)."""
        kept = list(ids)[-size:] if size > 0 else []
        return cls(_IdLog(size, 0, kept), len(kept), applied, last_at, next_expiry_at)

    @property
    def size(self) -> int:
        """How many recent ids the window holds."""
        return self._log.size

    @property
    def ids(self) -> tuple[str, ...]:
        """The window, oldest first."""
        log = self._log
        start = max(self._end - log.size, log.base)
        return tuple(log.ids[start - log.base : self._end - log.base])

    def __contains__(self, id_: object) -> bool:
        end = self._end
        log = self._log
        if end == log.top:  # the newest window: look the id up (latest sequence number)
            seq = log.index.get(id_)  # type: ignore[call-overload]
            if seq is None:
                seq = log.older.get(id_)  # type: ignore[call-overload]
            return seq is not None and seq >= end - log.size
        return id_ in self.ids

    def __len__(self) -> int:
        return min(self._log.size, self._end - self._log.base)

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def remembered(self, id_: str) -> Ledger:
        """`id_` seen (appended to the window, the oldest id dropped when full), nothing else:
        an envelope that is not applied (an unknown or emit-only event)."""
        log = self._log.appended(self._end, id_)
        return Ledger(log, self._end + 1, self.applied, self.last_at, self.next_expiry_at)

    def applied_at(self, id_: str, at: float, next_expiry_at: float | None = None) -> Ledger:
        """`id_` seen and applied at `at` (the reducer's clock: never before `last_at`), the
        earliest expiry then `next_expiry_at` (None: unchanged)."""
        log = self._log.appended(self._end, id_)
        if next_expiry_at is None:
            next_expiry_at = self.next_expiry_at
        return Ledger(log, self._end + 1, self.applied + 1, at, next_expiry_at)

    def with_next_expiry(self, next_expiry_at: float) -> Ledger:
        if next_expiry_at == self.next_expiry_at:
            return self
        return Ledger(self._log, self._end, self.applied, self.last_at, next_expiry_at)

    def resized(self, size: int) -> Ledger:
        """This ledger with a window of `size` ids (the policy's `events.dedup_window`)."""
        if size == self.size:
            return self
        return Ledger.of(self.ids, size, self.applied, self.last_at, self.next_expiry_at)

    def _key(self) -> tuple[object, ...]:
        return (self.size, self.ids, self.applied, self.last_at, self.next_expiry_at)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ledger):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Ledger(size={self.size}, ids={self.ids!r}, applied={self.applied}, "
            f"last_at={self.last_at!r}, next_expiry_at={self.next_expiry_at!r})"
        )

    def __to_data__(self) -> dict[str, Any]:
        """Plain data for snapshots (the codec's protocol for hand-written values)."""
        return {
            "size": self.size,
            "ids": list(self.ids),
            "applied": self.applied,
            "last_at": self.last_at,
            "next_expiry_at": self.next_expiry_at,
        }

    @classmethod
    def __from_data__(cls, data: object) -> Ledger:
        """The inverse of `__to_data__`; TypeError/ValueError name the field on bad data."""
        if not isinstance(data, Mapping):
            raise TypeError(f"ledger: expected an object, got {type(data).__name__}")
        missing = {"size", "ids", "applied", "last_at", "next_expiry_at"} - set(data)
        if missing:
            raise ValueError(f"ledger.{sorted(missing)[0]}: missing")
        size, ids, applied = data["size"], data["ids"], data["applied"]
        if type(size) is not int or size < 1:
            raise ValueError(f"ledger.size: expected an integer >= 1, got {size!r}")
        if not isinstance(ids, list | tuple) or not all(type(i) is str for i in ids):
            raise TypeError("ledger.ids: expected a list of strings")
        if type(applied) is not int or applied < 0:
            raise ValueError(f"ledger.applied: expected an integer >= 0, got {applied!r}")
        times = {name: data[name] for name in ("last_at", "next_expiry_at")}
        for name, value in times.items():
            number = type(value) in (int, float)
            if not number or not math.isfinite(value) or value < 0:
                raise ValueError(f"ledger.{name}: expected a finite time >= 0, got {value!r}")
        return cls.of(ids, size, applied, float(times["last_at"]), float(times["next_expiry_at"]))
