"""Torn-tail recovery: after a crash, move a torn or corrupt last line to quarantine.

Only the *last* line is examined: a crash can tear only what was being written. A
complete line that is valid JSON but fails decoding is not a crash artefact and stays
where it is (the reader reports it). Quarantined bytes are kept exactly (base64 in a JSON
Lines file next to the segment), fsynced before the log is truncated, so nothing is lost
even if we crash again half-way: at worst the fragment is quarantined twice.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from pathlib import Path
from typing import BinaryIO

import attrs

from selfplay_shell.eventlog.jsonline import NonFiniteNumberError, parse_line
from selfplay_shell.eventlog.lines import DEFAULT_MAX_LINE_BYTES

__all__ = [
    "QUARANTINE_SUFFIX",
    "Recovery",
    "quarantine_path_for",
    "recover_tail",
    "tail_damage",
]

QUARANTINE_SUFFIX = ".quarantine.jsonl"
_CHUNK = 1024 * 1024


@attrs.frozen
class Recovery:
    """What recovery did to one segment: the bytes it moved, where to, and why."""

    path: str
    quarantine_path: str
    line_no: int
    offset: int
    length: int
    reason: str

    def __str__(self) -> str:
        return (
            f"{self.path}:{self.line_no}: quarantined {self.length} bytes at offset "
            f"{self.offset} to {self.quarantine_path}: {self.reason}"
        )


def quarantine_path_for(segment: Path) -> Path:
    return segment.with_name(segment.name + QUARANTINE_SUFFIX)


def tail_damage(
    path: Path, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> tuple[int, str] | None:
    """(offset, reason) of a torn or corrupt last line of `path`, or None if it is sound."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None
    with handle:
        return _damage(handle, os.fstat(handle.fileno()).st_size, max_line_bytes)


def _damage(handle: BinaryIO, size: int, max_line_bytes: int) -> tuple[int, str] | None:
    if size == 0:
        return None
    handle.seek(size - 1)
    if handle.read(1) != b"\n":
        start = _line_start(handle, size)
        return start, f"torn last line: {size - start} bytes without a terminating newline"
    start = _line_start(handle, size - 1)
    if size - 1 - start > max_line_bytes:
        return None  # over-long, but complete: the reader reports it
    handle.seek(start)
    problem = _corruption(handle.read(size - start))
    return None if problem is None else (start, f"corrupt last line: {problem}")


def recover_tail(
    path: Path, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, durable: bool = True
) -> Recovery | None:
    """Check the last line of `path`; quarantine and truncate it if torn or corrupt.

    The quarantine copy is complete (and fsynced when `durable`) before the log is cut; if
    it cannot be written (disk full), the quarantine file is cut back to what it held, the
    log is left as it was, and the `OSError` is raised.
    """
    try:
        handle = path.open("r+b")
    except FileNotFoundError:
        return None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        damage = _damage(handle, size, max_line_bytes)
        if damage is None:
            return None
        start, reason = damage
        line_no = _count_newlines(handle, start) + 1
        quarantine = quarantine_path_for(path)
        _quarantine(handle, path, quarantine, start, size, line_no, reason, durable)
        handle.truncate(start)
        if durable:
            os.fsync(handle.fileno())
    return Recovery(
        path=str(path),
        quarantine_path=str(quarantine),
        line_no=line_no,
        offset=start,
        length=size - start,
        reason=reason,
    )


def _line_start(handle: BinaryIO, end: int) -> int:
    """Offset just after the last newline before `end` (0 if none), scanning backwards."""
    position = end
    while position > 0:
        step = min(_CHUNK, position)
        position -= step
        handle.seek(position)
        chunk: bytes = handle.read(step)
        index = chunk.rfind(b"\n")
        if index >= 0:
            return position + index + 1
    return 0


def _corruption(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"invalid UTF-8 at byte {error.start}"
    try:
        value = parse_line(text)
    except NonFiniteNumberError as error:
        return str(error)
    except json.JSONDecodeError as error:
        return f"invalid JSON: {error}"
    if not isinstance(value, dict):
        return f"not a JSON object but {type(value).__name__}"
    return None


def _count_newlines(handle: BinaryIO, end: int) -> int:
    handle.seek(0)
    count = 0
    remaining = end
    while remaining > 0:
        chunk: bytes = handle.read(min(_CHUNK, remaining))
        if not chunk:
            break
        count += chunk.count(b"\n")
        remaining -= len(chunk)
    return count


def _quarantine(
    handle: BinaryIO,
    path: Path,
    quarantine: Path,
    start: int,
    end: int,
    line_no: int,
    reason: str,
    durable: bool,
) -> None:
    chunks = max(1, -(-(end - start) // _CHUNK))
    detected = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    created = not quarantine.exists()
    fd = os.open(quarantine, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "ab", buffering=0) as out:  # unbuffered: nothing left to flush later
        kept = os.fstat(out.fileno()).st_size
        try:
            handle.seek(start)
            for index in range(chunks):
                data: bytes = handle.read(min(_CHUNK, end - start - index * _CHUNK))
                entry = {
                    "segment": path.name,
                    "line_no": line_no,
                    "offset": start,
                    "length": end - start,
                    "reason": reason,
                    "detected_at": detected,
                    "chunk": index,
                    "chunks": chunks,
                    "data_b64": base64.b64encode(data).decode("ascii"),
                }
                _write_all(out.fileno(), (json.dumps(entry, sort_keys=True) + "\n").encode())
            if durable:
                os.fsync(out.fileno())
        except OSError:
            # A half-written entry would sit in front of the next one: cut back to a whole
            # file, or remove the file this call created.
            with contextlib.suppress(OSError):
                if created:
                    quarantine.unlink()
                else:
                    os.ftruncate(out.fileno(), kept)
            raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
