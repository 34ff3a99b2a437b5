"""What went wrong with a data source: a value (for `IOFailure`) and the exception readers raise."""

from __future__ import annotations

import sqlite3
from typing import Literal

import attrs

FailureKind = Literal[
    "missing",  # the file or database is not there
    "locked",  # SQLite said busy/locked past the busy timeout
    "corrupt",  # not a database / malformed image / truncated
    "schema",  # a table or column the reader needs is absent
    "invalid",  # the store parses but holds values we cannot use (bad JSON, enum text)
    "timeout",  # the source did not answer within its timeout
    "http",  # the status endpoint refused, errored or sent something that is not JSON
    "io",  # any other OS-level error
    "unexpected",  # a bug in a reader: caught so that one source never breaks the others
]


@attrs.frozen
class SourceError:
    """Why one source failed this time. `str()` is the one-line reason shown in status."""

    source: str
    kind: FailureKind
    detail: str
    location: str | None = None

    def __str__(self) -> str:
        where = f" ({self.location})" if self.location else ""
        return f"{self.kind}: {self.detail}{where}"


class SourceFailure(Exception):
    """Raised inside a reader (in a worker thread); the accessor turns it into a `SourceError`."""

    def __init__(self, kind: FailureKind, detail: str, location: str | None = None) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind: FailureKind = kind
        self.detail = detail
        self.location = location


def classify_sqlite_error(exc: sqlite3.Error) -> FailureKind:
    """Map SQLite's messages to a failure kind (the messages are stable across versions)."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return "locked"
    if "interrupted" in text:
        return "timeout"
    if "no such table" in text or "no such column" in text:
        return "schema"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return "corrupt"
    if "unable to open" in text:
        return "missing"
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
        return "corrupt"
    return "io"
