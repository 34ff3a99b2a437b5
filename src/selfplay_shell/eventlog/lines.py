"""Bounded line reading from plain or gzip'd files.

A line is never held whole beyond `max_line_bytes`: an over-long line is skipped to its
newline in chunks, so a 50 MB line costs one bounded buffer, not 50 MB.
"""

from __future__ import annotations

import contextlib
import enum
import gzip
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import attrs

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "GZIP_MAGIC",
    "PREVIEW_BYTES",
    "FlawedLine",
    "LineFlaw",
    "LineSource",
    "finish_line",
    "iter_lines",
    "iter_raw_lines",
    "opened",
    "read_sizes",
]

DEFAULT_MAX_LINE_BYTES = 8 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
_SKIP_CHUNK = 1024 * 1024
PREVIEW_BYTES = 256
_FIRST_READ = 64 * 1024  # most lines fit: one readline call each


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


@attrs.frozen
class FlawedLine:
    """A line that is not a plain complete line: too long, or the unterminated last one.

    `data` excludes any newline; for `TOO_LONG` it is only a short preview (the first
    `PREVIEW_BYTES`), and `length` is always the full length.
    """

    flaw: LineFlaw
    data: bytes
    length: int


def read_sizes(max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> tuple[int, int]:
    """(size of the first `readline` of a line, the cap on a whole line with its newline)."""
    limit = max_line_bytes + 1  # room for the newline
    return min(_FIRST_READ, limit), limit


def iter_lines(
    stream: LineSource, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[bytes | FlawedLine]:
    """Yield every line: complete ones as `bytes` *with* their newline (JSON ignores it, so
    the hot path copies nothing), the others as a `FlawedLine`. Callers count lines.
    """
    readline = stream.readline
    first, limit = read_sizes(max_line_bytes)
    while True:
        line = readline(first)
        if line[-1:] == b"\n":  # the hot path: one short line, one call
            yield line
            continue
        if not line:
            return
        item, more = finish_line(readline, line, first, limit)
        yield item
        if not more:
            return


def finish_line(
    readline: Callable[[int], bytes], line: bytes, first: int, limit: int
) -> tuple[bytes | FlawedLine, bool]:
    """The whole of a line whose first `readline(first)` gave `line`, non-empty and without a
    newline: (the line, or why it is flawed; whether more lines may follow)."""
    if len(line) < first:
        return FlawedLine(LineFlaw.NO_NEWLINE, line, len(line)), False
    # A long line: grow one buffer up to the cap (a list of chunks joined at the end
    # would need twice the memory).
    buffer = bytearray(line)
    del line
    ended = at_eof = False
    while len(buffer) < limit:
        chunk = readline(min(_SKIP_CHUNK, limit - len(buffer)))
        if not chunk:
            at_eof = True
            break
        buffer += chunk
        if chunk[-1:] == b"\n":
            ended = True
            break
    if ended:
        return bytes(buffer), True
    if at_eof:
        return FlawedLine(LineFlaw.NO_NEWLINE, bytes(buffer), len(buffer)), False
    # Over the cap: skip to the next newline without keeping what we skip.
    length = len(buffer)
    preview = bytes(buffer[:PREVIEW_BYTES])
    del buffer
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
    return FlawedLine(LineFlaw.TOO_LONG, preview, length), ended


def iter_raw_lines(
    stream: LineSource, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[tuple[int, bytes, LineFlaw | None, int]]:
    """`iter_lines` as `(line_no, data, flaw, length)` tuples, 1-based, newline stripped."""
    for line_no, item in enumerate(iter_lines(stream, max_line_bytes), start=1):
        if type(item) is FlawedLine:
            yield line_no, item.data, item.flaw, item.length
        else:
            assert isinstance(item, bytes)
            yield line_no, item[:-1], None, len(item) - 1
