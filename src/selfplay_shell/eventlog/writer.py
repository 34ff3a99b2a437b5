"""`EventLog`: the append-only writer, and the scheduler's recorder.

Each `append` is one `os.write` of one whole line to a file opened with O_APPEND, so a
line is in the operating system once `append` returns (it survives the process being
killed); the fsync policy decides when it also survives the machine going down.

What it refuses, and why (docs/eventlog.md, "Writing"): a file that is not its own log
(`NotAnEventLogError`, see `ownership`), an id already in its window of the last ids
(replay would skip the line), a line it cannot encode, and every failure of the disk
(`LogWriteError` with the reason; nothing accepted is lost and the writer stays usable).
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
from typing import Any, Self

import attrs

from selfplay_core.codec import encode
from selfplay_core.events import Envelope
from selfplay_shell.eventlog.fsync import FsyncPolicy, sync_data
from selfplay_shell.eventlog.idwindow import IdWindow
from selfplay_shell.eventlog.jsonline import dumps_line
from selfplay_shell.eventlog.lines import DEFAULT_MAX_LINE_BYTES
from selfplay_shell.eventlog.manifest import (
    Manifest,
    SegmentInfo,
    fsync_directory,
    manifest_path_for,
    read_manifest,
    segment_path,
    write_manifest,
)
from selfplay_shell.eventlog.ownership import (
    NotAnEventLogError,
    SegmentScan,
    check_plain_path,
    highest_number,
    scan_segment,
)
from selfplay_shell.eventlog.reader import DEFAULT_DEDUP_WINDOW, resolve_segments
from selfplay_shell.eventlog.recovery import (
    Recovery,
    quarantine_path_for,
    recover_tail,
    tail_damage,
)

__all__ = [
    "EventLog",
    "FsyncPolicy",
    "LogBusyError",
    "LogWriteError",
    "NotAnEventLogError",
    "encode_line",
]

_log = logging.getLogger(__name__)


class LogBusyError(RuntimeError):
    """Another `EventLog` (in this or another process) has the log open for writing."""


class LogWriteError(Exception):
    """Envelopes were not written: not encodable, too long, an id already in the log, or the
    disk failed (full, I/O error). `written` counts the envelopes of the failing `extend`
    that were written before the failure (they are in the log; the rest are not)."""

    def __init__(self, message: str, *, written: int = 0) -> None:
        super().__init__(message)
        self.written = written


def encode_line(
    envelope: Envelope,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    encoder: Callable[[Envelope], Mapping[str, Any]] = encode,
) -> bytes:
    """The log line of `envelope`, newline included; `LogWriteError` if it cannot be one (a
    string that is not valid Unicode, such as a lone surrogate; a line over the limit)."""
    try:
        line = dumps_line(encoder(envelope))
    except (TypeError, ValueError) as error:  # UnicodeEncodeError is a ValueError
        raise LogWriteError(f"envelope {envelope.id!r} cannot be encoded: {error}") from error
    if len(line) - 1 > max_line_bytes:
        raise LogWriteError(
            f"envelope {envelope.id!r} encodes to {len(line) - 1} bytes, "
            f"over the {max_line_bytes}-byte line limit"
        )
    return line


class EventLog:
    """Append-only JSON Lines log of envelopes, with fsync policy and size-based rotation.

    Opening refuses a path that is not recognisably its own log (`NotAnEventLogError`:
    a symlink, a compressed file, content that is not envelopes), changing nothing. Opening
    an existing log then recovers it: a torn or corrupt last line is moved to a quarantine
    file and described in `recovery` (never dropped silently). With `max_segment_bytes`,
    the log rotates into numbered segments listed, in order, by a manifest
    (`<path>.manifest.json`); `read_log(path)` follows it. The last `id_window` ids (the
    reader's duplicate window) are remembered, and an envelope repeating one is refused.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fsync: FsyncPolicy | str = "interval",
        max_segment_bytes: int | None = None,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        id_window: int | None = DEFAULT_DEDUP_WINDOW,
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
        self._ids = IdWindow(id_window)
        self._id_window = id_window
        self._is_open = False
        self._fd: int | None = None  # None while open only after a rotation could not create
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
        return not self._is_open

    def highest_id_number(self, prefix: str) -> int:
        """The largest n of the ids `"<prefix>-<n>"` in the whole log (0 if none): where a
        scheduler resuming this log continues its numbering (one pass over the log)."""
        files = [file for file, _ in resolve_segments(self._base) if file.exists()]
        return max(
            (highest_number(file, prefix, self._max_line_bytes) for file in files), default=0
        )

    def append(self, envelope: Envelope) -> None:
        """Write one envelope as one line; it is in the OS when this returns."""
        self._append_lines([self._line(envelope)], [envelope])

    def extend(self, envelopes: Iterable[Envelope]) -> None:
        """Append several envelopes (one write per segment, one sync at most). Every line is
        checked before the first is written: a bad one fails the batch with nothing written."""
        batch = list(envelopes)
        if batch:
            self._append_lines([self._line(envelope) for envelope in batch], batch)

    def sync(self) -> None:
        """Force everything appended so far to disk now, whatever the policy."""
        if not self._is_open:
            raise ValueError("the event log is closed")
        if self._fd is not None:
            self._do_sync()

    def close(self) -> None:
        """Sync (unless the policy is `never`), record the manifest, close. Idempotent.

        The lock is released whatever happens; a failing sync or manifest write (disk full)
        is then raised as `LogWriteError` (the lines written are in the log either way).
        """
        if not self._is_open:
            return
        self._is_open = False
        try:
            if self._durable and self._unsynced and self._fd is not None:
                self._do_sync()
            if self._rotating:
                self._write_manifest(self._manifest())
        finally:
            if self._fd is not None:
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
        """Check, lock, recover, open; on any failure nothing of the caller's is changed
        and the lock is released (a base file created here, still empty, is removed)."""
        self._base.parent.mkdir(parents=True, exist_ok=True)
        existed = check_plain_path(self._base)
        if check_plain_path(self._manifest_path):
            read_manifest(self._manifest_path)  # a foreign manifest: refuse before creating
        # One writer at a time: a second one would interleave lines, and its recovery
        # would "repair" the first one's line in flight. The lock dies with the process.
        self._lock_fd = _lock(self._base)
        try:
            if not existed and self._durable:
                fsync_directory(self._base.parent)
            self._open_locked()
        except BaseException:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if not existed and os.fstat(self._lock_fd).st_size == 0:
                with contextlib.suppress(OSError):
                    self._base.unlink()
            os.close(self._lock_fd)
            raise
        self._is_open = True

    def _open_locked(self) -> None:
        if self._manifest_path.exists():
            segments = read_manifest(self._manifest_path).segments
            if not segments:
                segments = (SegmentInfo(self._base.name, 1, 0),)
            self._closed = [attrs.evolve(s, closed=True) for s in segments[:-1]]
            self._first_line = segments[-1].first_line
        active = self._active_path()
        check_plain_path(active)
        check_plain_path(quarantine_path_for(active))
        scan = self._scan(active)
        damage = tail_damage(active, max_line_bytes=self._max_line_bytes)
        if damage is not None:
            damaged_line = scan.lines + 1 if scan.torn_tail else scan.lines
            if scan.first_foreign is not None and scan.first_foreign[0] < damaged_line:
                line_no, why = scan.first_foreign
                raise NotAnEventLogError(
                    active,
                    f"line {line_no} is not an envelope ({why}), so its damaged last line "
                    f"({damage[1]}) is not cut as a torn tail: repair it by hand",
                )
            try:
                recovered = recover_tail(active, max_line_bytes=self._max_line_bytes, durable=True)
            except OSError as error:
                raise LogWriteError(f"recovering the tail of {active} failed: {error}") from error
            if recovered is not None:
                _log.warning("event log recovery: %s", recovered)
                self._recovery = (recovered,)
                scan = self._scan(active)
        self._remember_earlier_ids(scan)
        self._records = scan.lines
        self._first, self._last = scan.first, scan.last
        self._fd = self._open_segment(active)
        self._size = os.fstat(self._fd).st_size
        if self._rotating:
            self._write_manifest(self._manifest())

    def _scan(self, active: Path) -> SegmentScan:
        if not active.exists():
            return SegmentScan()
        return scan_segment(active, max_line_bytes=self._max_line_bytes, keep=self._id_window)

    def _remember_earlier_ids(self, active: SegmentScan) -> None:
        """Fill the id window: the closed segments' last ids (newest segments first, only as
        many as the window needs), then the active segment's."""
        wanted = self._id_window
        earlier: list[tuple[str, list[tuple[str, int]]]] = []
        have = len(active.ids)
        for info in reversed(self._closed):
            if wanted is not None and have >= wanted:
                break
            file = self._base.with_name(info.file)
            if not file.exists() and file.with_name(file.name + ".gz").exists():
                file = file.with_name(file.name + ".gz")
            if not file.exists():
                continue
            found = scan_segment(file, max_line_bytes=self._max_line_bytes, keep=wanted, own=False)
            earlier.append((info.file, [(i, info.first_line + n - 1) for i, n in found.ids]))
            have += len(found.ids)
        for name, ids in reversed(earlier):
            for ident, line_no in ids:
                self._remember(ident, name, line_no)
        name = self._active_path().name
        for ident, line_no in active.ids:
            self._remember(ident, name, self._first_line + line_no - 1)

    def _remember(self, ident: str, file: str, line_no: int) -> None:
        if ident not in self._ids:  # a duplicate already in the log: keep its first place
            self._ids.add(ident, (file, line_no))

    def _active_path(self) -> Path:
        return segment_path(self._base, len(self._closed))

    def _open_segment(self, path: Path) -> int:
        existed = path.exists()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            if not existed and self._durable:
                fsync_directory(path.parent)
        except OSError as error:
            raise LogWriteError(f"cannot open segment {path}: {error}") from error
        return fd

    # -- appending --------------------------------------------------------------------

    def _line(self, envelope: Envelope) -> bytes:
        return encode_line(envelope, max_line_bytes=self._max_line_bytes, encoder=self._encoder)

    def _check_ids(self, envelopes: list[Envelope]) -> None:
        """Refuse an id already in the window (or twice in the batch): replay would skip it."""
        batch: set[str] = set()
        for envelope in envelopes:
            ident = envelope.id
            where = self._ids.get(ident)
            if where is not None or ident in batch:
                place = f"{where[0]}:{where[1]}" if where is not None else "this batch"
                raise LogWriteError(
                    f"id {ident!r} is already in the log ({place}); a second line with it "
                    "would be skipped on replay, so it is not written"
                )
            batch.add(ident)

    def _append_lines(self, lines: list[bytes], envelopes: list[Envelope]) -> None:
        if not self._is_open:
            raise ValueError("the event log is closed")
        self._check_ids(envelopes)
        limit = self._max_segment_bytes
        start = 0
        pending_size = 0
        try:
            if self._fd is None:  # a rotation listed the segment but could not create it
                self._fd = self._open_segment(self._active_path())
                self._size = os.fstat(self._fd).st_size
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
        except LogWriteError as error:
            error.written = start if error.written == 0 and start else error.written
            raise

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
        name = self._active_path().name
        first_line = self._first_line + self._records
        for offset, envelope in enumerate(envelopes):
            self._ids.add(envelope.id, (name, first_line + offset))
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
        try:
            sync_data(self._fd)
        except OSError as error:
            raise LogWriteError(
                f"forcing {self._active_path()} to disk failed: {error} (the lines are written)"
            ) from error
        self._syncs += 1
        self._unsynced = 0
        self._last_sync = self._clock()

    def _rotate(self) -> None:
        """List a new, empty segment in the manifest, then switch to it.

        If the manifest cannot be written, nothing changed (the active segment goes on); if
        the new segment cannot be created after that, the next append creates it.
        """
        assert self._fd is not None
        if self._durable:
            self._do_sync()
        finished = attrs.evolve(self._active_info(), closed=True)
        first_line = self._first_line + self._records
        fresh = SegmentInfo(
            segment_path(self._base, len(self._closed) + 1).name, first_line, first_line - 1
        )
        self._write_manifest(Manifest((*self._closed, finished, fresh)))
        os.close(self._fd)
        self._fd = None
        self._closed.append(finished)
        self._first_line = first_line
        self._records, self._size = 0, 0
        self._first = self._last = (None, None)
        self._fd = self._open_segment(self._active_path())
        self._size = os.fstat(self._fd).st_size

    # -- manifest ---------------------------------------------------------------------

    def _write_manifest(self, manifest: Manifest) -> None:
        try:
            write_manifest(self._manifest_path, manifest, durable=self._durable)
        except OSError as error:
            raise LogWriteError(
                f"writing the manifest {self._manifest_path} failed: {error}"
            ) from error

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
    fd = os.open(base, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LogBusyError(f"{base} is already open for writing by another EventLog") from None
    return fd
