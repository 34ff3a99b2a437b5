"""Bounded line reading from plain or gzip'd files.

A line is never held whole beyond `max_line_bytes`: an over-long line is skipped to its
newline in chunks, so a 50 MB line costs one bounded buffer, not 50 MB.
"""

from __future__ import annotations

import contextlib
import enum
import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "GZIP_MAGIC",
    "LineFlaw",
    "LineSource",
    "iter_raw_lines",
    "opened",
]

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
_SKIP_CHUNK = 1024 * 1024


class LineSource(Protocol):
    """What line reading needs: a plain binary file or a `gzip.GzipFile`."""

    def readline(self, size: int = -1, /) -> bytes: ...


class LineFlaw(enum.Enum):
    """What is wrong with a raw line before it is even parsed."""

    TOO_LONG = "too_long"
    NO_NEWLINE = "no_newline"


@contextlib.contextmanager
def opened(path: Path) -> Iterator[LineSource]:
    """Open `path` for binary reading, transparently gunzipping by magic number."""
    with path.open("rb") as raw:
        if raw.read(2) == GZIP_MAGIC:
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield unzipped
        else:
            raw.seek(0)
            yield raw


def iter_raw_lines(
    stream: LineSource, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes, LineFlaw | None, int]]:
    """Yield `(line_no, data, flaw, length)` for every line, 1-based.

    `data` excludes the newline. For `TOO_LONG` it is only the first `max_line_bytes`
    bytes and `length` is the full length; `NO_NEWLINE` marks a last line without its
    terminating newline (a torn write, or a hand-edited file).
    """
    readline = stream.readline
    limit = max_line_bytes + 1  # room for the newline
    line_no = 0
    while True:
        line = readline(limit)
        if not line:
            return
        line_no += 1
        if line[-1:] == b"\n":
            yield line_no, line[:-1], None, len(line) - 1
            continue
        if len(line) < limit:
            yield line_no, line, LineFlaw.NO_NEWLINE, len(line)
            return
        # Over-long: skip to the next newline without keeping what we skip.
        length = len(line)
        head = line[:max_line_bytes]
        del line
        ended = False
        while True:
            chunk = readline(_SKIP_CHUNK)
            if not chunk:
                break
            length += len(chunk)
            if chunk[-1:] == b"\n":
                length -= 1
                ended = True
                break
        yield line_no, head, LineFlaw.TOO_LONG, length
        if not ended:
            return
