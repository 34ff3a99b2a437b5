"""Game counts: completed games per config over every discovered game database (§sources).

Reproduces the reference's discovery (root detection, 16 patterns in order, size > 0) and counting
(``winner IS NOT NULL`` grouped by board and players), with two fixes (docs/deviations.md):
a file reached twice (symlink, hard link) counts once, and legacy board names are folded.
"""

from __future__ import annotations

import concurrent.futures
import os
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import attrs

from selfplay_core.configs import ConfigKey
from selfplay_shell.sources._base import ReadContext, Reading, parse_canonical, per_config
from selfplay_shell.sources._sqlite import open_readonly, require_columns
from selfplay_shell.sources.errors import FailureKind, SourceFailure

# The reference expands placeholders in this board order (game_discovery.py:54-57).
_PATTERN_BOARDS = ("square8", "square19", "hexagonal", "hex8")
_PATTERN_PLAYERS = (2, 3, 4)
_REQUIRED = ("winner", "board_type", "num_players")
_COUNT_SQL = (
    "SELECT board_type, num_players, COUNT(*) FROM games{hint} "
    "WHERE winner IS NOT NULL GROUP BY board_type, num_players"
)
_ALL_SQL = "SELECT board_type, num_players, COUNT(*) FROM games GROUP BY board_type, num_players"
_NO_WINNER_SQL = (
    "SELECT board_type, num_players, COUNT(*) FROM games "
    "WHERE winner IS NULL GROUP BY board_type, num_players"
)
# A file unchanged for this long before a read can be trusted not to change within the same
# mtime tick afterwards (the "racy" guard: coarse-mtime filesystems tick once a second).
_RACY_NS = 2_000_000_000

Stamp = tuple[int, int, int, int]


def change_stamp(path: Path) -> Stamp | None:
    """Size and mtime of the database and its WAL; None if it cannot be read."""
    try:
        main = os.stat(path)
    except OSError:
        return None
    try:
        wal = os.stat(f"{path}-wal")
        wal_part = (wal.st_size, wal.st_mtime_ns)
    except OSError:
        wal_part = (-1, -1)
    return (main.st_size, main.st_mtime_ns, *wal_part)


@attrs.frozen
class GameDatabase:
    """One discovered file: the path as found, and its identity on disk (device, inode)."""

    path: Path
    identity: tuple[int, int]


def find_game_root(ctx: ReadContext) -> Path:
    """The first candidate that has a ``data/`` folder; the working directory otherwise."""
    for candidate in ctx.anchors.expand_all(ctx.config.game_root_candidates):
        if (candidate / "data").is_dir():
            return candidate
    return ctx.anchors.cwd


def _expand(pattern: str) -> list[str]:
    if "{board}" not in pattern and "{n}" not in pattern:
        return [pattern]
    out: list[str] = []
    for board in _PATTERN_BOARDS:
        for n in _PATTERN_PLAYERS:
            text = pattern.format(board=board, n=n)
            if text not in out:
                out.append(text)
    return out


def discover_game_databases(root: Path, patterns: tuple[str, ...]) -> tuple[GameDatabase, ...]:
    """Every non-empty regular file the patterns match, in pattern order, each file once."""
    found: list[GameDatabase] = []
    seen_paths: set[Path] = set()
    seen_files: set[tuple[int, int]] = set()
    for pattern in patterns:
        for relative in _expand(pattern):
            if any(char in relative for char in "*?["):
                matches = sorted(root.glob(relative))
            else:
                matches = [root / relative]
            for path in matches:
                if path in seen_paths:
                    continue
                seen_paths.add(path)
                try:
                    info = path.stat()  # follows symlinks, as the reference does
                except OSError:
                    continue
                if not path.is_file() or info.st_size <= 0:
                    continue
                identity = (info.st_dev, info.st_ino)
                if identity in seen_files:  # same file through a symlink or hard link
                    continue
                seen_files.add(identity)
                found.append(GameDatabase(path, identity))
    return tuple(found)


def fold_board(board: str, aliases: Mapping[str, str]) -> str:
    return aliases.get(board, board)


def count_database(db: GameDatabase, ctx: ReadContext) -> dict[ConfigKey, int]:
    """Completed games per canonical config in one database; raises `SourceFailure`."""
    location = str(db.path)
    counts: dict[ConfigKey, int] = {}
    with open_readonly(
        db.path, deadline=ctx.deadline, busy_timeout_s=ctx.config.sqlite_busy_timeout_seconds
    ) as conn:
        require_columns(conn, "games", _REQUIRED, location)
        rows = completed_by_group(conn)
    for (board, players), n in rows.items():
        if not board or not players or n <= 0:
            continue
        key = parse_canonical(f"{fold_board(str(board), ctx.config.board_aliases)}_{players}p")
        if key is not None:
            counts[key] = counts.get(key, 0) + n
    return counts


def completed_by_group(conn: sqlite3.Connection) -> dict[tuple[object, object], int]:
    """Rows with a winner per (board_type, num_players): the reference's query, planned well.

    Three equivalent plans, chosen from the indexes the file has (§sources lists them):
    - an index holding all three columns answers the query alone;
    - an index led by (board_type, num_players) plus one led by winner: all rows per group from
      the first (index only, no sort) minus the rows without a winner found through the second
      (few, in practice) — both in one read transaction, so they see the same data;
    - otherwise one sequential scan (walking an index without winner means random lookups).
    """
    indexes = _index_columns(conn)
    if any(set(_REQUIRED) <= set(columns) for columns in indexes):
        return _grouped(conn.execute(_COUNT_SQL.format(hint="")).fetchall())
    by_group = any(columns[:2] == ("board_type", "num_players") for columns in indexes)
    by_winner = any(columns[:1] == ("winner",) for columns in indexes)
    if not (by_group and by_winner):
        return _grouped(conn.execute(_COUNT_SQL.format(hint=" NOT INDEXED")).fetchall())
    conn.execute("BEGIN")
    try:
        every = _grouped(conn.execute(_ALL_SQL).fetchall())
        without = _grouped(conn.execute(_NO_WINNER_SQL).fetchall())
    finally:
        conn.execute("COMMIT")
    return {group: n - without.get(group, 0) for group, n in every.items()}


def _grouped(rows: list[tuple[object, object, object]]) -> dict[tuple[object, object], int]:
    return {(board, players): n for board, players, n in rows if isinstance(n, int)}


def _index_columns(conn: sqlite3.Connection) -> list[tuple[str, ...]]:
    """The columns of each full (non-partial) index on games, in index order."""
    found: list[tuple[str, ...]] = []
    for row in conn.execute("PRAGMA index_list(games)").fetchall():
        if len(row) > 4 and row[4]:  # a partial index does not see every row
            continue
        name = str(row[1]).replace('"', '""')
        info = sorted(conn.execute(f'PRAGMA index_info("{name}")').fetchall())
        found.append(tuple(str(column[2]) for column in info))
    return found


def _has_covering_index(conn: sqlite3.Connection) -> bool:
    return any(set(_REQUIRED) <= set(columns) for columns in _index_columns(conn))


@attrs.frozen
class _Counted:
    counts: dict[ConfigKey, int]
    stamp: Stamp | None
    read_at_ns: int

    def still_valid(self, stamp: Stamp | None) -> bool:
        if self.stamp is None or stamp != self.stamp:
            return False
        return max(stamp[1], stamp[3]) + _RACY_NS < self.read_at_ns


class GameCountReader:
    """Sums counts over the databases; a database that fails keeps its last good count."""

    def __init__(self) -> None:
        self._last_good: dict[tuple[int, int], _Counted] = {}
        self._lock = threading.Lock()

    def _count_or_reuse(self, db: GameDatabase, ctx: ReadContext) -> _Counted | SourceFailure:
        """The file's counts, re-read unless it is provably unchanged since the last read."""
        stamp = change_stamp(db.path)
        with self._lock:
            previous = self._last_good.get(db.identity)
        if ctx.config.game_count_cache and previous is not None and previous.still_valid(stamp):
            return previous
        read_at_ns = time.time_ns()
        try:
            return _Counted(count_database(db, ctx), stamp, read_at_ns)
        except SourceFailure as failure:
            return failure

    def __call__(self, ctx: ReadContext) -> Reading[Mapping[ConfigKey, int]]:
        root = find_game_root(ctx)
        databases = discover_game_databases(root, ctx.config.game_db_patterns)
        if not databases:
            raise SourceFailure("missing", "no game databases found", str(root / "data"))
        # SQLite releases the GIL while it scans, so a few threads overlap the databases.
        workers = max(1, min(ctx.config.game_db_workers, len(databases)))
        with concurrent.futures.ThreadPoolExecutor(workers, "selfplay-games") as pool:
            outcomes = list(pool.map(lambda db: self._count_or_reuse(db, ctx), databases))
        totals: dict[ConfigKey, int] = {}
        problems: list[str] = []
        kinds: list[str] = []
        contributed = 0
        with self._lock:
            for db, outcome in zip(databases, outcomes, strict=True):
                if isinstance(outcome, SourceFailure):
                    if outcome.kind == "timeout":
                        raise outcome
                    kinds.append(outcome.kind)
                    previous = self._last_good.get(db.identity)
                    kept = previous.counts if previous is not None else None
                    suffix = "; kept its last good count" if kept is not None else "; counted as 0"
                    problems.append(
                        f"{_rel(db.path, root)}: {outcome.kind}: {outcome.detail}{suffix}"
                    )
                    if kept is None:
                        continue
                    counts = kept
                else:
                    counts = outcome.counts
                    self._last_good[db.identity] = outcome
                contributed += 1
                for key, n in counts.items():
                    totals[key] = totals.get(key, 0) + n
        if contributed == 0:  # every database failed and none had a count before
            raise SourceFailure(failure_kind(kinds[0]), "; ".join(problems), str(root))
        return Reading(per_config(totals, 0), tuple(problems))


def failure_kind(text: str) -> FailureKind:
    return cast(FailureKind, text)


def _rel(path: Path, root: Path) -> str:
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return str(path)
