"""What the reader yields: one `LogRecord` per line, and the problems it can report."""

from __future__ import annotations

import enum
from typing import Literal, NamedTuple

import attrs
from returns.result import Result

from selfplay_core.events import Envelope

__all__ = ["LogError", "LogProblem", "LogRecord", "ProblemKind"]


class ProblemKind(enum.StrEnum):
    """Every problem the reader reports; the value is the stable, machine-readable code."""

    EMPTY_FILE = "empty_file"
    BLANK_LINE = "blank_line"
    TRUNCATED_LINE = "truncated_line"  # last line without newline, and not a valid record
    MISSING_NEWLINE = "missing_newline"  # warning: last line valid but unterminated
    LINE_TOO_LONG = "line_too_long"
    INVALID_UTF8 = "invalid_utf8"
    INVALID_JSON = "invalid_json"
    NON_FINITE_NUMBER = "non_finite_number"
    NOT_AN_OBJECT = "not_an_object"
    FUTURE_SCHEMA_VERSION = "future_schema_version"
    DECODE_ERROR = "decode_error"
    DUPLICATE_ID = "duplicate_id"
    OUT_OF_ORDER = "out_of_order"  # warning: `at` earlier than the previous envelope's
    UNREADABLE = "unreadable"  # I/O error, corrupt gzip stream, missing segment


Severity = Literal["error", "warning"]


@attrs.frozen
class LogProblem:
    """One problem: which file, which line (0 = the file as a whole), which field, why."""

    path: str
    line_no: int
    field_path: str
    reason: str
    kind: ProblemKind
    severity: Severity = "error"
    detail: str = ""  # the codec's problem code for decode errors (e.g. "unknown_config")

    def __str__(self) -> str:
        where = f"{self.path}:{self.line_no}"
        field = f" [{self.field_path}]" if self.field_path else ""
        return f"{where}{field}: {self.severity}: {self.reason} ({self.kind.value})"


class LogRecord(NamedTuple):
    """One line of a log: the decoded envelope, or the problem that stopped it.

    `warnings` (e.g. out-of-order timestamps) accompany an envelope that is still good.
    An immutable named tuple rather than an attrs class: one is built per line, and the
    reader's hot path is measured in microseconds.
    """

    path: str
    line_no: int
    result: Result[Envelope, LogProblem]
    warnings: tuple[LogProblem, ...] = ()


class LogError(Exception):
    """Raised by `read_log(..., strict=True)` at the first error."""

    def __init__(self, problem: LogProblem) -> None:
        super().__init__(str(problem))
        self.problem = problem
