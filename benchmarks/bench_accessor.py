"""Accessor: a full refresh over 20 game databases holding 1,000,000 games, and event-loop stalls.

Targets (issue 5): refresh ≤ 1 s; the event loop never blocked longer than 50 ms meanwhile,
measured by a heartbeat task that sleeps 1 ms and records the largest gap between wake-ups.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "shell"))  # the reference's store fixtures

from accessor_stores import build_all  # noqa: E402

from selfplay_core.configs import ALL_CONFIGS  # noqa: E402
from selfplay_shell import AccessorConfig, SelfplayDataAccessor  # noqa: E402

DATABASES = 20
GAMES = 1_000_000
REPEAT = 3
# The v15 columns and indexes the scheduler's query could use (§sources).
_SCHEMA = (
    "CREATE TABLE games (game_id TEXT PRIMARY KEY, board_type TEXT NOT NULL,"
    " num_players INTEGER NOT NULL, rng_seed INTEGER, created_at TEXT NOT NULL,"
    " completed_at TEXT, game_status TEXT NOT NULL, winner INTEGER, termination_reason TEXT,"
    " total_moves INTEGER NOT NULL, total_turns INTEGER NOT NULL, duration_ms INTEGER,"
    " source TEXT, schema_version INTEGER NOT NULL)",
    "CREATE INDEX idx_games_board_players ON games (board_type, num_players)",
    "CREATE INDEX idx_games_winner ON games (winner)",
    "CREATE INDEX idx_games_config ON games (board_type, num_players, game_status)",
)


def _build_games(root: Path) -> None:
    per_db = GAMES // DATABASES
    configs = [(k.board, k.players) for k in ALL_CONFIGS]
    games_dir = root / "data" / "games"
    games_dir.mkdir(parents=True, exist_ok=True)
    for i in range(DATABASES):
        board, players = configs[i % len(configs)]
        name = f"{board}_{players}p.db" if i < len(configs) else f"canonical_extra{i}.db"
        conn = sqlite3.connect(games_dir / name, isolation_level=None)
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        for statement in _SCHEMA:
            conn.execute(statement)
        rows = (
            (
                f"{i}-{j}",
                configs[(i + j) % len(configs)][0],
                configs[(i + j) % len(configs)][1],
                "2025-12-29T10:00:00",
                "completed" if j % 10 else "active",
                (j % 4) + 1 if j % 10 else None,
            )
            for j in range(per_db)
        )
        conn.executemany(
            "INSERT INTO games (game_id, board_type, num_players, created_at, game_status, winner,"
            " total_moves, total_turns, schema_version) VALUES (?, ?, ?, ?, ?, ?, 60, 30, 15)",
            rows,
        )
        conn.execute("COMMIT")
        conn.close()


async def _measure(root: Path) -> dict[str, object]:
    config = AccessorConfig(
        elo_db_candidates=("{root}/data/unified_elo.db",),
        game_root_candidates=("{root}",),
        queue_monitor_db="{root}/coordination/queue_monitor.db",
    )
    gaps: list[float] = []
    stop = asyncio.Event()

    async def heartbeat() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async def timed_refresh(accessor: SelfplayDataAccessor) -> tuple[float, int]:
        started = time.perf_counter()
        snapshot = await accessor.refresh()
        elapsed = time.perf_counter() - started
        assert not snapshot.failures, snapshot.failures
        assert snapshot.game_counts is not None
        return elapsed, sum(snapshot.game_counts.values())

    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0.01)
    # Cold: a new accessor each time, so every database is opened and scanned.
    cold: list[float] = []
    total_games = 0
    for _ in range(REPEAT):
        async with SelfplayDataAccessor(root, config=config) as accessor:
            elapsed, total_games = await timed_refresh(accessor)
            cold.append(elapsed)
    # Warm: the same accessor again; unchanged databases are not re-scanned.
    warm: list[float] = []
    async with SelfplayDataAccessor(root, config=config) as accessor:
        await timed_refresh(accessor)
        for _ in range(REPEAT):
            warm.append((await timed_refresh(accessor))[0])
    stop.set()
    await beat
    return {
        "cold": cold,
        "warm": warm,
        "max_gap": max(gaps),
        "p99_gap": statistics.quantiles(gaps, n=100)[98],
        "total_games_counted": total_games,
    }


def run() -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="bench_accessor_"))
    try:
        started = time.perf_counter()
        build_all(tmp)
        shutil.rmtree(tmp / "data" / "games")
        shutil.rmtree(tmp / "data" / "selfplay")
        _build_games(tmp)
        build_seconds = time.perf_counter() - started
        time.sleep(2.1)  # let the files settle past the change cache's racy window
        figures = asyncio.run(_measure(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    cold, warm = figures["cold"], figures["warm"]
    assert isinstance(cold, list)
    assert isinstance(warm, list)
    return {
        "databases": DATABASES,
        "games": GAMES,
        "completed_games_counted": figures["total_games_counted"],
        "build_seconds": round(build_seconds, 2),
        "full_refresh_cold_median_s": round(statistics.median(cold), 4),
        "full_refresh_cold_max_s": round(max(cold), 4),
        "full_refresh_warm_median_s": round(statistics.median(warm), 4),
        "refresh_target_s": 1.0,
        "event_loop_max_block_ms": round(float(figures["max_gap"]) * 1000, 2),  # type: ignore[arg-type]
        "event_loop_p99_gap_ms": round(float(figures["p99_gap"]) * 1000, 2),  # type: ignore[arg-type]
        "event_loop_target_ms": 50.0,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
