"""Which files the writer may open: only its own logs, recognised before anything is changed.

The writer appends to a file and may truncate its torn tail. Done to a file that is not a
log (a gzip'd log, a CSV, a symlink to somebody's data) either damages it, so every check
here runs before the first byte is written, and a refusal leaves the file byte-identical.

A file is recognised as a log when it is a regular file (never a symlink: the writer opens
only the log itself), not compressed, and either empty, or its first line is an envelope
line (a JSON object with a string `id` and a string `type`), or its only content is the
torn start of one (the first write cut short: it starts like the writer's lines, `{"at":`).
Torn-tail recovery is applied only when every line before the tail is an envelope line:
otherwise the file is refused, since a tail it cannot place is not ours to cut.

`scan_segment` reads a segment once and gives what the writer needs from it: the lines
above, the line count, the first and last envelope's id and time, and every envelope id
with its line (the writer keeps the last `window` of them to refuse a repeated id).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import attrs

from selfplay_shell.eventlog.jsonline import parse_line_bytes
from selfplay_shell.eventlog.lines import (
    DEFAULT_MAX_LINE_BYTES,
    FlawedLine,
    LineFlaw,
    LineSource,
    iter_lines,
    opened,
)

__all__ = [
    "COMPRESSED_MAGIC",
    "NotAnEventLogError",
    "SegmentScan",
    "check_plain_path",
    "compression_of",
    "highest_number",
    "scan_segment",
]

#: Leading bytes of the compressed formats a log might be stored in (the reader gunzips).
COMPRESSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"PK\x03\x04", "zip"),
)
# Every line the writer writes starts so: keys are sorted, and `at` sorts first.
_LINE_START = b'{"at":'


class NotAnEventLogError(Exception):
    """The writer refused a path: it is not (recognisably) its own log. Nothing was changed."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: not an event log the writer may open: {reason}")
        self.path = path
        self.reason = reason


def check_plain_path(path: Path) -> bool:
    """Refuse a symlink or anything but a regular file at `path`; whether it exists."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(path)
        raise NotAnEventLogError(
            path, f"it is a symbolic link (to {target}); open the log file itself"
        )
    if not stat.S_ISREG(info.st_mode):
        raise NotAnEventLogError(path, "it is not a regular file")
    return True


def compression_of(head: bytes) -> str | None:
    """The compressed format `head` (a file's first bytes) starts with, or None."""
    return next((name for magic, name in COMPRESSED_MAGIC if head.startswith(magic)), None)


@attrs.define
class SegmentScan:
    """What one pass over a segment found (`lines` counts complete lines only)."""

    lines: int = 0
    first_foreign: tuple[int, str] | None = None  # (line, why) of the first non-envelope line
    first: tuple[str | None, float | None] = (None, None)
    last: tuple[str | None, float | None] = (None, None)
    torn_tail: bool = False  # the last line has no newline
    ids: list[tuple[str, int]] = attrs.field(factory=list)  # (id, line) of every envelope line


def scan_segment(
    path: Path,
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    keep: int | None = None,
    own: bool = True,
) -> SegmentScan:
    """One pass over `path`; `keep` bounds how many trailing ids are kept.

    `own=True` (the segment the writer will append to): opened without following a
    symlink, and `NotAnEventLogError` if it is not one of the writer's segments (see the
    module docstring). `own=False` (a closed segment, only read): gunzipped if compressed,
    never refused.
    """
    scan = SegmentScan()
    if not own:
        with opened(path) as stream:
            _scan_lines(scan, path, stream, max_line_bytes, keep, own=False)
        return scan
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as stream:
        compressed = compression_of(stream.read(8))
        if compressed is not None:
            raise NotAnEventLogError(
                path,
                f"it is {compressed}-compressed; the writer appends only to plain logs "
                "(decompress it, or start a new log)",
            )
        stream.seek(0)
        _scan_lines(scan, path, stream, max_line_bytes, keep, own=True)
    return scan


def _scan_lines(
    scan: SegmentScan,
    path: Path,
    stream: LineSource,
    max_line_bytes: int,
    keep: int | None,
    *,
    own: bool,
) -> None:
    for item in iter_lines(stream, max_line_bytes):
        if isinstance(item, FlawedLine) and item.flaw is LineFlaw.NO_NEWLINE:
            scan.torn_tail = True
            if own and scan.lines == 0 and not _starts_like_a_line(item.data):
                raise NotAnEventLogError(
                    path, "its only line is neither an envelope nor the torn start of one"
                )
            break
        scan.lines += 1
        _scan_line(scan, item, scan.lines)
        if own and scan.first_foreign is not None and scan.first_foreign[0] == 1:
            raise NotAnEventLogError(path, f"line 1 is not an envelope ({scan.first_foreign[1]})")
        if keep is not None and len(scan.ids) > 2 * keep:
            del scan.ids[: len(scan.ids) - keep]
    if keep is not None and len(scan.ids) > keep:
        del scan.ids[: len(scan.ids) - keep]


def highest_number(path: Path, prefix: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> int:
    """The largest n of the ids `"<prefix>-<n>"` (n a decimal integer) in one segment."""
    head = prefix + "-"
    highest = 0
    with opened(path) as stream:
        for item in iter_lines(stream, max_line_bytes):
            found = envelope_id_and_at(item)
            if isinstance(found, str) or not found[0].startswith(head):
                continue
            number = found[0][len(head) :]
            if number.isascii() and number.isdecimal() and len(number) <= 19:  # a counter
                highest = max(highest, int(number))
    return highest


def _starts_like_a_line(data: bytes) -> bool:
    head = data[: len(_LINE_START)]
    return _LINE_START.startswith(head) if len(head) < len(_LINE_START) else head == _LINE_START


def _scan_line(scan: SegmentScan, item: bytes | FlawedLine, line_no: int) -> None:
    found = envelope_id_and_at(item)
    if isinstance(found, str):
        if scan.first_foreign is None:
            scan.first_foreign = (line_no, found)
        return
    if scan.first == (None, None):
        scan.first = found
    scan.last = found
    scan.ids.append((found[0], line_no))


def envelope_id_and_at(item: bytes | FlawedLine) -> tuple[str, float | None] | str:
    """(id, at) of an envelope line, or why the line is not one."""
    if isinstance(item, FlawedLine):  # too long: the writer never writes such a line
        return f"{item.length} bytes, over the line limit"
    try:
        value: Any = parse_line_bytes(item)
    except ValueError as error:  # bad UTF-8 or JSON
        return f"not JSON: {_first_line(str(error))}"
    ident = value.get("id") if isinstance(value, dict) else None
    if not isinstance(ident, str) or not isinstance(value.get("type"), str):
        return "not a JSON object with a string id and type"
    at = value.get("at")
    return ident, float(at) if isinstance(at, int | float) and not isinstance(at, bool) else None


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else text
