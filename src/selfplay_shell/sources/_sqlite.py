"""Read-only SQLite access with a bounded busy wait and a deadline (runs in worker threads)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from selfplay_shell.sources.errors import FailureKind, SourceFailure, classify_sqlite_error

# How many SQLite VM steps between deadline checks: cheap, and a few ms apart at most.
_PROGRESS_STEPS = 20_000
# Leave the caller a moment to collect the error before its own timeout fires.
_MARGIN_S = 0.05


@contextmanager
def open_readonly(
    path: Path, *, deadline: float, busy_timeout_s: float
) -> Iterator[sqlite3.Connection]:
    """Open `path` with ``mode=ro`` (never creates it); abort queries once `deadline` passes.

    `deadline` is a `time.monotonic()` value. SQLite errors leave as `SourceFailure`.
    """
    if not path.exists():
        raise SourceFailure("missing", "no such file", str(path))
    remaining = deadline - time.monotonic() - _MARGIN_S
    busy_s = max(0.0, min(busy_timeout_s, remaining))
    uri = f"file:{quote(str(path))}?mode=ro"
    try:
        conn = sqlite3.connect(
            uri, uri=True, timeout=busy_s, check_same_thread=False, isolation_level=None
        )
    except sqlite3.Error as exc:
        raise SourceFailure(_kind(exc, path), str(exc), str(path)) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_s * 1000)}")
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_STEPS)
        yield conn
    except sqlite3.Error as exc:
        raise SourceFailure(_kind(exc, path), str(exc), str(path)) from exc
    finally:
        conn.close()


def _kind(exc: sqlite3.Error, path: Path) -> FailureKind:
    kind = classify_sqlite_error(exc)
    # "unable to open" on a file that exists: permissions, a WAL without -shm on read-only media.
    return "io" if kind == "missing" and path.exists() else kind


def table_columns(conn: sqlite3.Connection, table: str) -> frozenset[str]:
    """The column names of `table` (empty if there is no such table)."""
    rows = conn.execute(f"PRAGMA table_info({table})").fetchall()
    return frozenset(str(row[1]) for row in rows)


def require_columns(
    conn: sqlite3.Connection, table: str, needed: tuple[str, ...], location: str
) -> frozenset[str]:
    """Fail with kind ``schema`` naming exactly what is missing; return the columns present."""
    present = table_columns(conn, table)
    if not present:
        raise SourceFailure("schema", f"no table {table!r}", location)
    missing = [name for name in needed if name not in present]
    if missing:
        raise SourceFailure(
            "schema", f"table {table!r} lacks column(s) {', '.join(missing)}", location
        )
    return present
