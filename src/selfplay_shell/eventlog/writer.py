"""`EventLog`: the append-only writer, and the scheduler's recorder.

Each `append` is one `os.write` of one whole line to a file opened with O_APPEND, so a
line is in the operating system once `append` returns (it survives the process being
killed); the fsync policy decides when it also survives the machine going down.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import attrs

from selfplay_core.codec import encode
from selfplay_core.events import Envelope
from selfplay_shell.eventlog.jsonline import dumps_line, parse_line
from selfplay_shell.eventlog.lines import DEFAULT_MAX_LINE_BYTES, iter_raw_lines, opened
from selfplay_shell.eventlog.manifest import (
    Manifest,
    SegmentInfo,
    fsync_directory,
    manifest_path_for,
    read_manifest,
    segment_path,
    write_manifest,
)
from selfplay_shell.eventlog.recovery import Recovery, recover_tail

__all__ = ["EventLog", "FsyncPolicy", "LogBusyError", "LogWriteError"]

_log = logging.getLogger(__name__)

FsyncMode = Literal["always", "interval", "never"]


class LogBusyError(RuntimeError):
    """Another `EventLog` (in this or another process) has the log open for writing."""


class LogWriteError(Exception):
    """An envelope could not be written (not encodable, or longer than a line may be)."""


def _positive_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, int | float) or value <= 0):
        raise ValueError(f"{attribute.name} must be positive or None, got {value!r}")


@attrs.frozen
class FsyncPolicy:
    """When appended lines are forced to disk.

    `always`: after every append. `interval`: once `every_seconds` have passed or
    `every_records` appends have accumulated since the last sync, checked at append time
    (there is no background timer), and at close. `never`: leave it to the OS.
    """

    mode: FsyncMode = attrs.field(
        default="interval",
        validator=attrs.validators.in_(("always", "interval", "never")),
    )
    every_seconds: float | None = attrs.field(default=1.0, validator=_positive_or_none)
    every_records: int | None = attrs.field(default=None, validator=_positive_or_none)

    def __attrs_post_init__(self) -> None:
        if self.mode == "interval" and self.every_seconds is None and self.every_records is None:
            raise ValueError("an interval fsync policy needs every_seconds or every_records")

    @classmethod
    def always(cls) -> FsyncPolicy:
        return cls("always", None, None)

    @classmethod
    def never(cls) -> FsyncPolicy:
        return cls("never", None, None)

    @classmethod
    def interval(cls, seconds: float | None = 1.0, records: int | None = None) -> FsyncPolicy:
        return cls("interval", seconds, records)

    @classmethod
    def coerce(cls, value: FsyncPolicy | str) -> FsyncPolicy:
        if isinstance(value, FsyncPolicy):
            return value
        if value == "always":
            return cls.always()
        if value == "never":
            return cls.never()
        if value == "interval":
            return cls.interval()
        raise ValueError(f"unknown fsync policy {value!r}: use always, interval or never")


def _sync(fd: int) -> None:
    # fdatasync is enough for appends (it flushes the size too) and cheaper where it exists.
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # pragma: no cover - macOS, Windows
        os.fsync(fd)


class EventLog:
    """Append-only JSON Lines log of envelopes, with fsync policy and size-based rotation.

    Opening an existing log first recovers it: a torn or corrupt last line is moved to a
    quarantine file and described in `recovery` (never dropped silently, never fatal).
    With `max_segment_bytes`, the log rotates into numbered segments listed, in order, by
    a manifest (`<path>.manifest.json`); `read_log(path)` follows it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: FsyncPolicy | str = "interval",
        max_segment_bytes: int | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        clock: Callable[[], float] = time.monotonic,
        encoder: Callable[[Envelope], Mapping[str, Any]] = encode,
    ) -> None:
        if max_segment_bytes is not None and max_segment_bytes <= 0:
            raise ValueError("max_segment_bytes must be positive or None")
        self._base = Path(path)
        self._policy = FsyncPolicy.coerce(fsync)
        self._max_segment_bytes = max_segment_bytes
        self._max_line_bytes = max_line_bytes
        self._clock = clock
        self._encoder = encoder
        self._durable = self._policy.mode != "never"
        self._manifest_path = manifest_path_for(self._base)
        self._fd: int | None = None
        self._lock_fd = -1
        self._syncs = 0
        self._appended = 0
        self._unsynced = 0
        self._last_sync = clock()
        # The closed segments, and counters for the active one (index = len(closed)).
        self._closed: list[SegmentInfo] = []
        self._first_line = 1
        self._records = 0
        self._size = 0
        self._first: tuple[str | None, float | None] = (None, None)
        self._last: tuple[str | None, float | None] = (None, None)
        self._rotating = max_segment_bytes is not None or self._manifest_path.exists()
        self._recovery: tuple[Recovery, ...] = ()
        self._open()

    # -- public -----------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The base path: what `read_log` is given."""
        return self._base

    @property
    def recovery(self) -> tuple[Recovery, ...]:
        """What opening this log had to quarantine (empty if it was clean)."""
        return self._recovery

    @property
    def policy(self) -> FsyncPolicy:
        return self._policy

    @property
    def syncs(self) -> int:
        """How many times data was forced to disk so far."""
        return self._syncs

    @property
    def appended(self) -> int:
        """How many envelopes this writer appended."""
        return self._appended

    @property
    def segments(self) -> tuple[Path, ...]:
        """Every segment file, oldest first (just the base path when not rotating)."""
        count = len(self._closed) + 1
        return tuple(segment_path(self._base, index) for index in range(count))

    @property
    def closed(self) -> bool:
        return self._fd is None

    def append(self, envelope: Envelope) -> None:
        """Write one envelope as one line; it is in the OS when this returns."""
        self._append_lines([self._line(envelope)], [envelope])

    def extend(self, envelopes: Iterable[Envelope]) -> None:
        """Append several envelopes (one write per segment, one sync at most)."""
        batch = list(envelopes)
        if batch:
            self._append_lines([self._line(envelope) for envelope in batch], batch)

    def sync(self) -> None:
        """Force everything appended so far to disk now, whatever the policy."""
        if self._fd is None:
            raise ValueError("the event log is closed")
        self._do_sync()

    def close(self) -> None:
        """Sync (unless the policy is `never`), record the manifest, close. Idempotent."""
        if self._fd is None:
            return
        try:
            if self._durable and self._unsynced:
                self._do_sync()
            if self._rotating:
                write_manifest(self._manifest_path, self._manifest(), durable=self._durable)
        finally:
            os.close(self._fd)
            self._fd = None
            os.close(self._lock_fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"EventLog({str(self._base)!r}, {state}, appended={self._appended})"

    # -- opening ----------------------------------------------------------------------

    def _open(self) -> None:
        self._base.parent.mkdir(parents=True, exist_ok=True)
        # One writer at a time: a second one would interleave lines, and its recovery
        # would "repair" the first one's line in flight. The lock dies with the process.
        created = not self._base.exists()
        self._lock_fd = _lock(self._base)
        try:
            if created and self._durable:
                fsync_directory(self._base.parent)
            self._open_locked()
        except BaseException:
            os.close(self._lock_fd)
            raise

    def _open_locked(self) -> None:
        if self._manifest_path.exists():
            segments = read_manifest(self._manifest_path).segments
            if not segments:
                segments = (SegmentInfo(self._base.name, 1, 0),)
            self._closed = [attrs.evolve(s, closed=True) for s in segments[:-1]]
            self._first_line = segments[-1].first_line
        active = self._active_path()
        recovered = recover_tail(active, max_line_bytes=self._max_line_bytes, durable=True)
        if recovered is not None:
            _log.warning("event log recovery: %s", recovered)
            self._recovery = (recovered,)
        if self._rotating:
            self._scan_active(active)
        self._fd = self._open_segment(active)
        self._size = os.fstat(self._fd).st_size
        if self._rotating:
            write_manifest(self._manifest_path, self._manifest(), durable=self._durable)

    def _active_path(self) -> Path:
        return segment_path(self._base, len(self._closed))

    def _open_segment(self, path: Path) -> int:
        existed = path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if not existed and self._durable:
            fsync_directory(path.parent)
        return fd

    def _scan_active(self, path: Path) -> None:
        """Re-count the active segment: the manifest may predate a crash."""
        self._records, self._size = 0, 0
        self._first = self._last = (None, None)
        if not path.exists():
            return
        first_line = last_line = b""
        with opened(path) as stream:
            for _, data, _, _ in iter_raw_lines(stream, self._max_line_bytes):
                if not self._records:
                    first_line = data
                last_line = data
                self._records += 1
        self._size = path.stat().st_size
        self._first = _id_and_at(first_line)
        self._last = _id_and_at(last_line)

    # -- appending --------------------------------------------------------------------

    def _line(self, envelope: Envelope) -> bytes:
        try:
            line = dumps_line(self._encoder(envelope))
        except (TypeError, ValueError) as error:
            raise LogWriteError(f"envelope {envelope.id!r} cannot be encoded: {error}") from error
        if len(line) - 1 > self._max_line_bytes:
            raise LogWriteError(
                f"envelope {envelope.id!r} encodes to {len(line) - 1} bytes, "
                f"over the {self._max_line_bytes}-byte line limit"
            )
        return line

    def _append_lines(self, lines: list[bytes], envelopes: list[Envelope]) -> None:
        if self._fd is None:
            raise ValueError("the event log is closed")
        limit = self._max_segment_bytes
        start = 0
        pending_size = 0
        for index, line in enumerate(lines):
            if (
                limit is not None
                and self._size + pending_size > 0
                and self._size + pending_size + len(line) > limit
            ):
                self._write(lines[start:index], envelopes[start:index], pending_size)
                start, pending_size = index, 0
                self._rotate()
            pending_size += len(line)
        self._write(lines[start:], envelopes[start:], pending_size)
        self._maybe_sync()

    def _write(self, lines: list[bytes], envelopes: list[Envelope], size: int) -> None:
        """One write of whole lines; on failure the segment is cut back to where it was.

        A short write (disk full) must not leave half a line in the middle of the log,
        where the next append would bury it.
        """
        if not lines:
            return
        assert self._fd is not None
        view = memoryview(b"".join(lines))
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as error:
            # If even this fails, the torn tail is quarantined at the next open.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise LogWriteError(f"appending to {self._active_path()} failed: {error}") from error
        self._size += size
        if self._records == 0:
            self._first = (envelopes[0].id, envelopes[0].at)
        self._records += len(lines)
        self._last = (envelopes[-1].id, envelopes[-1].at)
        self._appended += len(lines)
        self._unsynced += len(lines)

    def _maybe_sync(self) -> None:
        policy = self._policy
        if policy.mode == "always":
            self._do_sync()
        elif policy.mode == "interval":
            records = policy.every_records
            due_records = records is not None and self._unsynced >= records
            due_time = (
                policy.every_seconds is not None
                and self._clock() - self._last_sync >= policy.every_seconds
            )
            if due_records or due_time:
                self._do_sync()

    def _do_sync(self) -> None:
        assert self._fd is not None
        _sync(self._fd)
        self._syncs += 1
        self._unsynced = 0
        self._last_sync = self._clock()

    def _rotate(self) -> None:
        """Close the active segment and list a new, empty one before creating it."""
        assert self._fd is not None
        if self._durable:
            self._do_sync()
        os.close(self._fd)
        self._fd = None
        self._closed.append(attrs.evolve(self._active_info(), closed=True))
        self._first_line += self._records
        self._records, self._size = 0, 0
        self._first = self._last = (None, None)
        write_manifest(self._manifest_path, self._manifest(), durable=self._durable)
        self._fd = self._open_segment(self._active_path())
        self._size = os.fstat(self._fd).st_size

    # -- manifest ---------------------------------------------------------------------

    def _active_info(self) -> SegmentInfo:
        return SegmentInfo(
            file=self._active_path().name,
            first_line=self._first_line,
            last_line=self._first_line + self._records - 1,
            bytes=self._size,
            first_id=self._first[0],
            first_at=self._first[1],
            last_id=self._last[0],
            last_at=self._last[1],
        )

    def _manifest(self) -> Manifest:
        return Manifest((*self._closed, self._active_info()))


def _lock(base: Path) -> int:
    """An exclusive, non-blocking advisory lock on the base file (created if missing)."""
    fd = os.open(base, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LogBusyError(f"{base} is already open for writing by another EventLog") from None
    return fd


def _id_and_at(line: bytes) -> tuple[str | None, float | None]:
    """The raw `id` and `at` of an encoded line, or Nones if it does not parse."""
    try:
        value = parse_line(line.decode("utf-8"))
    except ValueError:
        return None, None
    if not isinstance(value, dict):
        return None, None
    ident, at = value.get("id"), value.get("at")
    return (
        ident if isinstance(ident, str) else None,
        float(at) if isinstance(at, int | float) and not isinstance(at, bool) else None,
    )
