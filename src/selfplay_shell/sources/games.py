"""Game counts: completed games per config over every discovered game database (sources.md §4).

Reproduces the reference's discovery (root detection, 16 patterns in order, size > 0) and counting
(``winner IS NOT NULL`` grouped by board and players), with two fixes (docs/deviations.md):
a file reached twice (symlink, hard link) counts once, and legacy board names are folded.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
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
    "SELECT board_type, num_players, COUNT(*) FROM games "
    "WHERE winner IS NOT NULL GROUP BY board_type, num_players"
)


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
        rows = conn.execute(_COUNT_SQL).fetchall()
    for board, players, n in rows:
        if not board or not players or not isinstance(n, int) or n <= 0:
            continue
        key = parse_canonical(f"{fold_board(str(board), ctx.config.board_aliases)}_{players}p")
        if key is not None:
            counts[key] = counts.get(key, 0) + n
    return counts


class GameCountReader:
    """Sums counts over the databases; a database that fails keeps its last good count."""

    def __init__(self) -> None:
        self._last_good: dict[tuple[int, int], dict[ConfigKey, int]] = {}
        self._lock = threading.Lock()

    def __call__(self, ctx: ReadContext) -> Reading[Mapping[ConfigKey, int]]:
        root = find_game_root(ctx)
        databases = discover_game_databases(root, ctx.config.game_db_patterns)
        if not databases:
            raise SourceFailure("missing", "no game databases found", str(root / "data"))
        # SQLite releases the GIL while it scans, so a few threads overlap the databases.
        workers = max(1, min(ctx.config.game_db_workers, len(databases)))
        with concurrent.futures.ThreadPoolExecutor(workers, "selfplay-games") as pool:
            outcomes = list(pool.map(lambda db: _try_count(db, ctx), databases))
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
                    kept = self._last_good.get(db.identity)
                    suffix = "; kept its last good count" if kept is not None else "; counted as 0"
                    problems.append(
                        f"{_rel(db.path, root)}: {outcome.kind}: {outcome.detail}{suffix}"
                    )
                    if kept is None:
                        continue
                    counts = kept
                else:
                    counts = outcome
                    self._last_good[db.identity] = counts
                contributed += 1
                for key, n in counts.items():
                    totals[key] = totals.get(key, 0) + n
        if contributed == 0:  # every database failed and none had a count before
            raise SourceFailure(failure_kind(kinds[0]), "; ".join(problems), str(root))
        return Reading(per_config(totals, 0), tuple(problems))


def _try_count(db: GameDatabase, ctx: ReadContext) -> dict[ConfigKey, int] | SourceFailure:
    try:
        return count_database(db, ctx)
    except SourceFailure as failure:
        return failure


def failure_kind(text: str) -> FailureKind:
    return cast(FailureKind, text)


def _rel(path: Path, root: Path) -> str:
    try:
        return os.path.relpath(path, root)
    except ValueError:
        return str(path)
