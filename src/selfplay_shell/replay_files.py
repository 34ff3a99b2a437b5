"""The file side of replay: policies from TOML, snapshots on disk, a log as replay items.

`selfplay_core.replay` is the pure fold; this module only opens files and turns what is in
them into values (or into `ReplayInputError`s with a message a person can act on).
"""

from __future__ import annotations

import itertools
import json
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

from returns.result import Failure, Success

from selfplay_core.policy import PolicyError, SchedulerPolicy
from selfplay_core.replay import Item, Snapshot, decode_snapshot, encode_snapshot, items_after
from selfplay_core.state import SchedulerState
from selfplay_shell.eventlog import (
    LogProblem,
    LogRecord,
    ManifestError,
    ProblemKind,
    read_log,
    resolve_segments,
)
from selfplay_shell.eventlog.jsonline import checked_nesting

__all__ = [
    "SNAPSHOT_SUFFIX",
    "ReplayInputError",
    "StrictStop",
    "check_readable",
    "count_lines",
    "load_policy",
    "locate",
    "log_items",
    "read_snapshot",
    "sidecar_snapshot",
    "starting_point",
    "write_snapshot",
]

#: `<log>.snapshot.json` next to a log: where `simulate` leaves the policy and initial state.
SNAPSHOT_SUFFIX = ".snapshot.json"


class ReplayInputError(Exception):
    """A policy, snapshot or log that cannot be used, with a message that says why."""


class StrictStop(Exception):
    """`--strict` met a bad line: the problem, and how many items were replayed before it."""

    def __init__(self, problem: object, position: int) -> None:
        super().__init__(str(problem))
        self.problem = problem
        self.position = position


# --- policies --------------------------------------------------------------------------------


def load_policy(path: str | os.PathLike[str]) -> SchedulerPolicy:
    """A `SchedulerPolicy` from a TOML file: any subset of `SchedulerPolicy.to_mapping()`'s
    groups and fields; everything not given keeps the reference value."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            mapping = tomllib.load(handle)
    except FileNotFoundError:
        raise ReplayInputError(f"policy file {file} does not exist") from None
    except IsADirectoryError:
        raise ReplayInputError(f"policy file {file} is a directory") from None
    except tomllib.TOMLDecodeError as error:
        raise ReplayInputError(f"policy file {file} is not valid TOML: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ReplayInputError(f"policy file {file} cannot be read: {error}") from None
    except (ValueError, RecursionError) as error:  # an over-long integer, nesting too deep
        raise ReplayInputError(f"policy file {file} cannot be parsed: {_why(error)}") from None
    try:
        return SchedulerPolicy.from_mapping(mapping)
    except PolicyError as error:
        details = "; ".join(f"{p or '<policy>'}: {why}" for p, why in error.problems)
        raise ReplayInputError(f"policy file {file} is not a valid policy: {details}") from None


def _why(error: Exception) -> str:
    """What a parser's ValueError or RecursionError means, in the file's terms."""
    if isinstance(error, RecursionError):
        return "nesting too deep to parse"
    return "an integer too long to parse" if "digits" in str(error) else str(error)


# --- snapshots -------------------------------------------------------------------------------


def sidecar_snapshot(log: str | os.PathLike[str]) -> Path:
    return Path(f"{os.fspath(log)}{SNAPSHOT_SUFFIX}")


def read_snapshot(path: str | os.PathLike[str]) -> Snapshot:
    file = Path(path)
    try:
        raw = json.loads(checked_nesting(file.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise ReplayInputError(f"snapshot {file} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReplayInputError(f"snapshot {file} cannot be read: {error}") from None
    except (ValueError, RecursionError) as error:  # an over-long integer, nesting too deep
        raise ReplayInputError(f"snapshot {file} cannot be parsed: {_why(error)}") from None
    result = decode_snapshot(raw)
    if isinstance(result, Failure):
        raise ReplayInputError(f"snapshot {file} is not valid: {result.failure()}")
    return result.unwrap()


def write_snapshot(path: str | os.PathLike[str], snapshot: Snapshot) -> None:
    """Write atomically (a temporary file renamed over the target)."""
    file = Path(path)
    text = json.dumps(encode_snapshot(snapshot), separators=(",", ":"), allow_nan=False)
    temporary = file.with_name(f".{file.name}.tmp")
    temporary.write_text(text + "\n", encoding="utf-8")
    os.replace(temporary, file)


def starting_point(
    log: str | os.PathLike[str], snapshot: str | os.PathLike[str] | None
) -> tuple[Snapshot, str]:
    """Where a replay of `log` starts: the snapshot given, else the log's sidecar snapshot
    (`simulate` writes one with its policy), else the reference policy from the beginning.
    Also says which, for the report."""
    if snapshot is not None:
        return read_snapshot(snapshot), f"snapshot {snapshot}"
    sidecar = sidecar_snapshot(log)
    if sidecar.exists():
        return read_snapshot(sidecar), f"snapshot {sidecar}"
    policy = SchedulerPolicy()
    return Snapshot(SchedulerState.initial(policy), policy, 0), "reference policy"


# --- the log ---------------------------------------------------------------------------------


def _open_records(path: str | os.PathLike[str]) -> Iterator[LogRecord]:
    if Path(path).is_dir():
        raise ReplayInputError(f"{path} is a directory, not an event log")
    try:
        return read_log(path)
    except FileNotFoundError:
        raise ReplayInputError(f"no event log at {path}") from None
    except ManifestError as error:
        raise ReplayInputError(f"the manifest of {path} is unreadable: {error}") from None
    except OSError as error:
        raise ReplayInputError(f"cannot open {path}: {error}") from None


def check_readable(path: str | os.PathLike[str]) -> None:
    """Raise `ReplayInputError` unless `path` is an event log: it exists, is not a directory,
    and at least one of its lines is an envelope (an empty file, binary garbage or any other
    file is not). Reads up to the first envelope: one line, for a log."""
    lines = 0
    first_problem: LogProblem | None = None
    for record in _open_records(path):
        if isinstance(record.result, Success):
            return
        problem = record.result.failure()
        if problem.kind is ProblemKind.EMPTY_FILE:
            continue  # an empty segment: a rotated log may hold one beside others
        lines += 1
        first_problem = first_problem or problem
    if first_problem is None:
        raise ReplayInputError(f"{path} is empty: no lines at all, so not an event log")
    raise ReplayInputError(
        f"{path} is not an event log: none of its {lines} line(s) is an envelope "
        f"(line {first_problem.line_no}: {first_problem.reason})"
    )


def log_items(
    path: str | os.PathLike[str], *, start: int | Snapshot = 0, strict: bool = False
) -> Iterator[Item]:
    """The log's records as replay items (an envelope, or the reader's problem), after
    `start`: a number of records to skip, or a snapshot, whose log is checked against this
    one while its records are skipped (`items_after`). The log is located and checked now:
    a missing or unreadable log (`check_readable`) or a snapshot of another log or position
    raises `ReplayInputError` here; the rest is read lazily. Under `strict`, the first bad
    line after `start` raises `StrictStop`."""
    check_readable(path)
    results = (record.result for record in _open_records(path))
    if isinstance(start, Snapshot):
        after = items_after(start, results)
        if isinstance(after, Failure):
            raise ReplayInputError(f"the snapshot is not of {path}: {after.failure()}")
        rest, position = after.unwrap(), start.position
    else:
        rest, position = itertools.islice(results, start, None), start
    return _stop_at_first_error(rest, position) if strict else rest


def _stop_at_first_error(items: Iterator[Item], position: int) -> Iterator[Item]:
    for offset, item in enumerate(items):
        if isinstance(item, Failure):
            raise StrictStop(item.failure(), position + offset)
        yield item


def locate(path: str | os.PathLike[str], position: int) -> str | None:
    """`file:line` of the log's record number `position` (0-based), None when it has no such
    record or cannot be read. Reads the log up to it: for messages, not for loops."""
    try:
        records = _open_records(path)
    except ReplayInputError:
        return None
    for record in itertools.islice(records, position, position + 1):
        return f"{record.path}:{record.line_no}"
    return None


def count_lines(path: str | os.PathLike[str]) -> int | None:
    """Lines in a log (every segment of a rotated one), counted fast; None when unknown
    (gzip'd segments, a missing or unreadable log)."""
    try:
        segments = resolve_segments(path)
    except (OSError, ManifestError):
        return None
    count = 0
    for file, _ in segments:
        if file.suffix == ".gz":
            return None
        if not file.is_file():
            continue
        last = b"\n"
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                count += chunk.count(b"\n")
                last = chunk[-1:]
        count += 0 if last == b"\n" else 1
    return count
