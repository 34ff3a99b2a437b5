"""Current Elo and Elo velocity from ``unified_elo.db`` (§sources).

Current Elo: for each config the highest live rating in ``elo_ratings`` (the queue
populator's query). Both writers' layouts are read: with ``archived_at`` (EloDatabase) archived
rows are skipped; without it (EloService only) every row is live. Velocity (Elo/day): the
least-squares slope over the last 7 days of ``elo_history`` for the configured participant
when that table has at least 2 points, else of the current Elo values this accessor has
observed (the populator's in-memory history, §sources) — 0.0 until the Elo moves, as in the
reference.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_shell.sources._base import ReadContext, Reading, parse_canonical, per_config
from selfplay_shell.sources._sqlite import open_readonly, require_columns, table_columns
from selfplay_shell.sources.errors import SourceFailure

INITIAL_ELO = 1500.0
_RATING_COLUMNS = ("participant_id", "board_type", "num_players", "rating")
_HISTORY_COLUMNS = ("participant_id", "board_type", "num_players", "rating", "timestamp")
_RETAIN_SECONDS = 30 * 86400.0  # the populator drops points older than 30 days
_RESAMPLE_SECONDS = 3600.0  # an unchanged Elo is re-recorded hourly, so a flat line reads as 0


@attrs.frozen
class EloReading:
    current: Mapping[ConfigKey, float]
    velocities: Mapping[ConfigKey, float]


def slope_per_day(points: Sequence[tuple[float, float]]) -> float:
    """OLS slope of elo on time (s), ×86400; 0.0 with < 2 points or no time spread.

    Times are centred first: the reference's raw epoch sums lose ~1e-4 relative precision.
    """
    if len(points) < 2:
        return 0.0
    n = float(len(points))
    mean_t = math.fsum(t for t, _ in points) / n
    mean_e = math.fsum(e for _, e in points) / n
    sxx = math.fsum((t - mean_t) ** 2 for t, _ in points)
    if sxx < 1e-10:
        return 0.0
    sxy = math.fsum((t - mean_t) * (e - mean_e) for t, e in points)
    return sxy / sxx * 86400.0


def find_elo_db(ctx: ReadContext) -> Path:
    candidates = ctx.anchors.expand_all(ctx.config.elo_db_candidates)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise SourceFailure("missing", "no Elo database", " | ".join(str(c) for c in candidates))


def _best_ratings(
    conn: sqlite3.Connection, location: str
) -> tuple[dict[ConfigKey, float], list[str]]:
    columns = require_columns(conn, "elo_ratings", _RATING_COLUMNS, location)
    live = " WHERE archived_at IS NULL" if "archived_at" in columns else ""
    rows = conn.execute(
        "SELECT board_type, num_players, MAX(rating) FROM elo_ratings"
        f"{live} GROUP BY board_type, num_players"
    ).fetchall()
    best: dict[ConfigKey, float] = {}
    problems: list[str] = []
    for board, players, rating in rows:
        key = parse_canonical(f"{board}_{players}p")
        if key is None or rating is None:
            continue
        if (
            isinstance(rating, bool)
            or not isinstance(rating, int | float)
            or not math.isfinite(rating)
        ):
            problems.append(f"elo_ratings {key}: rating {rating!r} is not a finite number; ignored")
            continue
        best[key] = float(rating)
    return best, problems


def _history(
    conn: sqlite3.Connection, ctx: ReadContext
) -> tuple[dict[ConfigKey, list[tuple[float, float]]], list[str]]:
    columns = table_columns(conn, "elo_history")
    if not columns:
        return {}, []
    missing = [name for name in _HISTORY_COLUMNS if name not in columns]
    if missing:
        return {}, [f"elo_history lacks column(s) {', '.join(missing)}; velocity from observed Elo"]
    since = ctx.now - ctx.config.velocity_window_seconds
    series: dict[ConfigKey, list[tuple[float, float]]] = {}
    for key in ALL_CONFIGS:
        participant = ctx.config.elo_history_participant.format(config=str(key))
        rows = conn.execute(
            "SELECT timestamp, rating FROM elo_history WHERE participant_id = ? AND board_type = ?"
            " AND num_players = ? AND timestamp >= ? ORDER BY timestamp",
            (participant, key.board, key.players, since),
        ).fetchall()
        points = [
            (float(t), float(r))
            for t, r in rows
            if isinstance(t, int | float)
            and isinstance(r, int | float)
            and math.isfinite(t)
            and math.isfinite(r)
        ]
        if len(points) >= 2:
            series[key] = points
    return series, []


class EloReader:
    """Reads the Elo database; remembers observed best Elo per config for the fallback velocity."""

    def __init__(self) -> None:
        self._observed: dict[ConfigKey, list[tuple[float, float]]] = {}
        self._lock = threading.Lock()

    def __call__(self, ctx: ReadContext) -> Reading[EloReading]:
        path = find_elo_db(ctx)
        location = str(path)
        with open_readonly(
            path, deadline=ctx.deadline, busy_timeout_s=ctx.config.sqlite_busy_timeout_seconds
        ) as conn:
            best, problems = _best_ratings(conn, location)
            history, history_problems = _history(conn, ctx)
        problems.extend(history_problems)
        current = per_config(best, INITIAL_ELO)
        with self._lock:
            self._observe(current, ctx.now)
            velocities = {
                key: slope_per_day(history[key])
                if key in history
                else self._observed_slope(key, ctx)
                for key in ALL_CONFIGS
            }
        return Reading(EloReading(current, per_config(velocities, 0.0)), tuple(problems))

    def _observe(self, current: Mapping[ConfigKey, float], now: float) -> None:
        for key, elo in current.items():
            points = self._observed.setdefault(key, [])
            if points and points[-1][1] == elo and now - points[-1][0] < _RESAMPLE_SECONDS:
                continue
            points.append((now, elo))
            while points and points[0][0] < now - _RETAIN_SECONDS:
                points.pop(0)

    def _observed_slope(self, key: ConfigKey, ctx: ReadContext) -> float:
        since = ctx.now - ctx.config.velocity_window_seconds
        return slope_per_day([p for p in self._observed.get(key, []) if p[0] >= since])
