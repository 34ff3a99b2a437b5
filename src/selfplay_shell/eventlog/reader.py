"""`read_log`: stream a log's envelopes with line numbers, reporting every bad line.

Memory does not grow with the log: lines are read one at a time (each capped at
`max_line_bytes`), and duplicate ids are remembered only for the last `dedup_window`
envelopes (the same bounded-window idea the reducer uses). Problems are reported with
file, line, field path and reason, and reading goes on; `strict=True` raises `LogError`
at the first error (warnings never stop it).
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from returns.result import Failure, Result, Success

from selfplay_core.codec import FUTURE_VERSION, DecodeError, decode_json
from selfplay_core.events import Envelope
from selfplay_shell.eventlog.idwindow import IdWindow
from selfplay_shell.eventlog.jsonline import (
    NonFiniteNumberError,
    find_non_finite,
    parse_line,
    parse_line_bytes,
)
from selfplay_shell.eventlog.lines import (
    DEFAULT_MAX_LINE_BYTES,
    FlawedLine,
    LineFlaw,
    finish_line,
    opened,
    read_sizes,
)
from selfplay_shell.eventlog.manifest import (
    MANIFEST_SUFFIX,
    manifest_path_for,
    read_manifest,
)
from selfplay_shell.eventlog.problems import LogError, LogProblem, LogRecord, ProblemKind

__all__ = ["DEFAULT_DEDUP_WINDOW", "Segment", "decode_line", "read_log", "resolve_segments"]

DEFAULT_DEDUP_WINDOW = 65_536

# The codec's own problem codes that deserve a kind of their own; the rest are DECODE_ERROR
# with the code in `LogProblem.detail`.
_KIND_BY_CODEC_PROBLEM = {FUTURE_VERSION: ProblemKind.FUTURE_SCHEMA_VERSION}

Decoder = Callable[[object], Result[Envelope, DecodeError]]

# (file to read, whether it may be absent: the newest segment, listed but never written)
Segment = tuple[Path, bool]


def decode_line(line: bytes, decoder: Decoder = decode_json) -> Result[Envelope, DecodeError]:
    """The envelope one line of JSON holds, decoded as `read_log` decodes every line of a log
    (so whatever else reads a line this way, such as a replica reading a stream entry, gets
    the envelope a replay of its log will get). Raises `ValueError` when the line is not a
    JSON object (invalid UTF-8 included); an object that is not an envelope is the decoder's
    failure."""
    value = parse_line_bytes(line)
    if type(value) is not dict:
        raise ValueError(f"expected a JSON object, got {_json_type(value)}")
    return decoder(value)


def resolve_segments(path: str | os.PathLike[str]) -> list[Segment]:
    """The files a log consists of, in order: from its manifest if it has one.

    `path` may be the base file, the manifest, or a plain (possibly gzip'd) JSONL file.
    Raises `FileNotFoundError` when there is no such log and `ManifestError` when its
    manifest is unreadable.
    """
    path = Path(path)
    if path.name.endswith(MANIFEST_SUFFIX):
        manifest_file = path
    else:
        manifest_file = manifest_path_for(path)
        if not manifest_file.exists():
            if not path.exists():
                raise FileNotFoundError(f"no event log at {path}")
            return [(path, False)]
    segments = read_manifest(manifest_file).segments
    directory = manifest_file.parent
    resolved: list[Segment] = []
    for index, info in enumerate(segments):
        file = directory / info.file
        if not file.exists() and file.with_name(file.name + ".gz").exists():
            file = file.with_name(file.name + ".gz")  # an old segment compressed in place
        newest_and_empty = index == len(segments) - 1 and info.records == 0
        resolved.append((file, newest_and_empty))
    return resolved


def read_log(
    path: str | os.PathLike[str],
    *,
    strict: bool = False,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    dedup_window: int | None = DEFAULT_DEDUP_WINDOW,
    decoder: Decoder = decode_json,
) -> Iterator[LogRecord]:
    """Yield one `LogRecord` per line of the log at `path` (rotated segments in order).

    The log is located eagerly (so a missing file raises `FileNotFoundError` here); lines
    are read lazily. A log still being written may show a half-written last line: it is
    reported as `truncated_line`, like a torn tail.
    """
    segments = resolve_segments(path)
    reader = _Reader(max_line_bytes, dedup_window, decoder)
    records = reader.read(segments)
    return _raise_at_first_error(records) if strict else records


def _raise_at_first_error(records: Iterator[LogRecord]) -> Iterator[LogRecord]:
    for record in records:
        if isinstance(record.result, Failure):
            raise LogError(record.result.failure())
        yield record


class _Reader:
    """Cross-segment state: the id window and the previous timestamp."""

    def __init__(self, max_line_bytes: int, dedup_window: int | None, decoder: Decoder) -> None:
        if max_line_bytes <= 0:
            raise ValueError("max_line_bytes must be positive")
        if dedup_window is not None and dedup_window <= 0:
            raise ValueError("dedup_window must be positive or None")
        self._ids = IdWindow(dedup_window)  # the writer refuses what this would report
        self._max_line_bytes = max_line_bytes
        self._decoder = decoder
        self._previous_at: tuple[float, str, int] | None = None

    def read(self, segments: list[Segment]) -> Iterator[LogRecord]:
        for file, may_be_absent in segments:
            if not file.exists():
                if not may_be_absent:
                    yield _problem(
                        str(file),
                        0,
                        "",
                        "segment listed in the manifest is missing",
                        ProblemKind.UNREADABLE,
                    )
                continue
            yield from self._read_file(file)

    def _read_file(self, file: Path) -> Iterator[LogRecord]:
        """Every line of one file. The usual line (complete, one JSON object, a new id, in
        time order) is handled inline; any other goes through `_check`/`_flawed`, which
        handle every case and give the same record the inline code would."""
        path = str(file)
        line_no = 0
        check = self._check
        decoder = self._decoder
        ids = self._ids
        remember = ids.add
        first, limit = read_sizes(self._max_line_bytes)
        record = tuple.__new__
        decode = decode_line
        try:
            with opened(file) as stream:
                readline = stream.readline
                while True:
                    line = readline(first)
                    if line[-1:] != b"\n":
                        if not line:
                            break
                        whole, more = finish_line(readline, line, first, limit)
                        line_no += 1
                        if type(whole) is bytes:
                            yield check(path, line_no, whole)
                        else:
                            assert isinstance(whole, FlawedLine)
                            yield self._flawed(path, line_no, whole)
                        if more:
                            continue
                        break
                    line_no += 1
                    # Any line that does not parse or decode goes through `check`, whose
                    # stdlib parse gives the value and the error reported.
                    try:
                        result = decode(line, decoder)
                    except ValueError:
                        yield check(path, line_no, line)
                        continue
                    if type(result) is not Success:
                        yield check(path, line_no, line)
                        continue
                    envelope: Envelope = result.unwrap()
                    ident = envelope.id
                    previous = self._previous_at
                    if ident in ids or (previous is not None and envelope.at < previous[0]):
                        yield self._accept(path, line_no, result)
                        continue
                    remember(ident, (path, line_no))
                    self._previous_at = (envelope.at, path, line_no)
                    # `LogRecord(path, line_no, result)` without the named tuple's __new__
                    yield record(LogRecord, (path, line_no, result, ()))
        except (OSError, EOFError, zlib.error) as error:
            yield _problem(
                path,
                line_no + 1,
                "",
                f"cannot read past line {line_no}: {error}",
                ProblemKind.UNREADABLE,
            )
            return
        if line_no == 0:
            yield _problem(path, 0, "", "empty log: no lines at all", ProblemKind.EMPTY_FILE)

    def _check(self, path: str, line_no: int, line: bytes) -> LogRecord:
        """One line through every check."""
        try:
            raw = parse_line(line.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError, JSONDecodeError, NonFiniteNumberError
            return LogRecord(path, line_no, Failure(_line_problem(path, line_no, line)))
        if type(raw) is not dict:
            return LogRecord(path, line_no, Failure(_line_problem(path, line_no, line)))
        return self._accept(path, line_no, self._decoder(raw))

    def _accept(self, path: str, line_no: int, result: Result[Envelope, DecodeError]) -> LogRecord:
        """A decoded line: a decode error, a duplicate id, or an envelope (with a warning when
        it is earlier than the one before)."""
        if type(result) is not Success and isinstance(result, Failure):  # the cheap test first
            problem = _decode_problem(path, line_no, result.failure())
            return LogRecord(path, line_no, Failure(problem))
        envelope: Envelope = result.unwrap()
        # The decoder's own Success is passed on (no re-wrapping: this runs per line);
        # typed as Any because its failure type parameter is the codec's, never used here.
        good: Any = result
        ident = envelope.id
        first = self._ids.get(ident)
        if first is not None:
            return _problem(
                path,
                line_no,
                "id",
                f"duplicate id {ident!r}, first seen at {first[0]}:{first[1]}; not applied twice",
                ProblemKind.DUPLICATE_ID,
            )
        self._ids.add(ident, (path, line_no))
        at = envelope.at
        previous = self._previous_at
        self._previous_at = (at, path, line_no)
        if previous is not None and at < previous[0]:
            warning = LogProblem(
                path,
                line_no,
                "at",
                f"at {at!r} is earlier than {previous[0]!r} at {previous[1]}:{previous[2]}",
                ProblemKind.OUT_OF_ORDER,
                "warning",
            )
            return LogRecord(path, line_no, good, (warning,))
        return LogRecord(path, line_no, good)

    def _flawed(self, path: str, line_no: int, line: FlawedLine) -> LogRecord:
        """Too long; or the unterminated last line, accepted with a warning if it is whole."""
        if line.flaw is LineFlaw.TOO_LONG:
            return _problem(
                path,
                line_no,
                "",
                f"line too long: {line.length} bytes, over the {self._max_line_bytes}-byte limit",
                ProblemKind.LINE_TOO_LONG,
            )
        record = self._check(path, line_no, line.data)
        if isinstance(record.result, Failure):
            problem: LogProblem = record.result.failure()
            if problem.kind is ProblemKind.DUPLICATE_ID:
                return record
            return _problem(
                path,
                line_no,
                problem.field_path,
                f"truncated last line (no newline at end of file): {problem.reason}",
                ProblemKind.TRUNCATED_LINE,
            )
        warning = LogProblem(
            path,
            line_no,
            "",
            "last line has no terminating newline",
            ProblemKind.MISSING_NEWLINE,
            "warning",
        )
        return record._replace(warnings=(*record.warnings, warning))


def _line_problem(path: str, line_no: int, line: bytes) -> LogProblem:
    """Why a line is not a JSON object (the slow path: only for bad lines)."""
    line = line.removesuffix(b"\n")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        bad = line[error.start : error.start + 8]
        return LogProblem(
            path,
            line_no,
            "",
            f"invalid UTF-8 at byte {error.start}: {bad!r}",
            ProblemKind.INVALID_UTF8,
        )
    try:
        raw = parse_line(text)
    except NonFiniteNumberError as error:
        found = find_non_finite(text)
        field = found[0] if found else ""
        return LogProblem(path, line_no, field, str(error), ProblemKind.NON_FINITE_NUMBER)
    except json.JSONDecodeError as error:
        if not text.strip():
            return LogProblem(path, line_no, "", "blank line", ProblemKind.BLANK_LINE)
        return LogProblem(
            path,
            line_no,
            "",
            f"invalid JSON at column {error.colno}: {error.msg}",
            ProblemKind.INVALID_JSON,
        )
    return LogProblem(
        path,
        line_no,
        "",
        f"expected a JSON object, got {_json_type(raw)}",
        ProblemKind.NOT_AN_OBJECT,
    )


def _decode_problem(path: str, line_no: int, error: DecodeError) -> LogProblem:
    return LogProblem(
        path,
        line_no,
        error.path,
        error.message,
        _KIND_BY_CODEC_PROBLEM.get(error.problem, ProblemKind.DECODE_ERROR),
        detail=error.problem,
    )


def _problem(path: str, line_no: int, field_path: str, reason: str, kind: ProblemKind) -> LogRecord:
    return LogRecord(path, line_no, Failure(LogProblem(path, line_no, field_path, reason, kind)))


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
