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
from typing import Any

from returns.result import Failure

from selfplay_core.policy import PolicyError, SchedulerPolicy
from selfplay_core.replay import Item, Snapshot, decode_snapshot, encode_snapshot
from selfplay_core.state import SchedulerState
from selfplay_shell.eventlog import LogError, ManifestError, read_log, resolve_segments
from selfplay_shell.eventlog.jsonline import checked_nesting

__all__ = [
    "SNAPSHOT_SUFFIX",
    "ReplayInputError",
    "StrictStop",
    "count_lines",
    "load_policy",
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


def _open_records(path: str | os.PathLike[str], strict: bool) -> Iterator[Any]:
    try:
        return read_log(path, strict=strict)
    except FileNotFoundError:
        raise ReplayInputError(f"no event log at {path}") from None
    except ManifestError as error:
        raise ReplayInputError(f"the manifest of {path} is unreadable: {error}") from None
    except OSError as error:
        raise ReplayInputError(f"cannot open {path}: {error}") from None


def log_items(
    path: str | os.PathLike[str], *, start: int = 0, strict: bool = False
) -> Iterator[Item]:
    """The log's records as replay items (an envelope, or the reader's problem), from record
    number `start` on. The log is located now (a missing log raises `ReplayInputError` here);
    lines are read lazily. Under `strict`, the first bad line raises `StrictStop`."""
    records = _open_records(path, strict)

    def items() -> Iterator[Item]:
        position = start
        try:
            for record in itertools.islice(records, start, None):
                yield record.result
                position += 1
        except LogError as error:
            raise StrictStop(error.problem, position) from None

    return items()


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
