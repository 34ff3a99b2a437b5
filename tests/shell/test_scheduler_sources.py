"""The scheduler over the real accessor and real stores (§sources fixtures): values flow
into decisions; broken stores leave decisions on last good values, and health and status say
exactly what is wrong."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from accessor_http import StatusBehaviour, status_server
from accessor_stores import build_all, build_overrides, build_queue_monitor, cluster_status_payload
from test_accessor_failures import locked_by_process
from test_accessor_values import local_config

from selfplay_core import ConfigKey
from selfplay_core.status import HealthStatus
from selfplay_shell import EventBus, SelfplayDataAccessor, SelfplayScheduler

K = ConfigKey.parse
FAST = {"sqlite_busy_timeout_seconds": 0.2, "source_timeout_seconds": 2.0}
CLEAN_OVERRIDES = """\
selfplay:
  board_priority_overrides:
    hexagonal_2p: 0
    square19_3p: 1
"""
GAME_COUNTS = {
    "hex8_2p": 4,
    "square8_3p": 1,
    "square8_4p": 1,
    "square19_2p": 1,
    "hexagonal_2p": 1,
    "hexagonal_4p": 1,
}


class FakeClock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The §sources stores without their deliberate faults (a corrupt and a winnerless game
    database, an override level "0"), so the baseline is healthy."""
    build_all(tmp_path)
    (tmp_path / "data" / "games" / "canonical_corrupt.db").unlink()
    (tmp_path / "data" / "games" / "canonical_nowinner.db").unlink()
    build_overrides(tmp_path, CLEAN_OVERRIDES)
    build_queue_monitor(tmp_path)
    return tmp_path


@pytest.fixture
async def status_url() -> AsyncIterator[tuple[str, StatusBehaviour]]:
    behaviour = StatusBehaviour(payload=cluster_status_payload(time.time()))
    with status_server(behaviour) as url:
        yield url, behaviour


def make(
    root: Path, url: str, **config: object
) -> tuple[SelfplayScheduler, SelfplayDataAccessor, FakeClock]:
    accessor = SelfplayDataAccessor(
        root,
        config=local_config(
            cluster_status_url=url, ttl_seconds=0.001, node_ttl_seconds=0.001, **FAST, **config
        ),
    )
    clock = FakeClock()
    scheduler = SelfplayScheduler(accessor=accessor, clock=clock)
    scheduler.subscribe_to_events(EventBus())
    return scheduler, accessor, clock


def nonzero_counts(scheduler: SelfplayScheduler) -> dict[str, int]:
    return {str(k): cs.game_count for k, cs in scheduler.state.configs.items() if cs.game_count}


async def refresh(scheduler: SelfplayScheduler) -> None:
    await scheduler.refresh_sources()
    await scheduler.refresh_nodes()


async def test_real_stores_flow_into_state_status_and_decisions(
    root: Path, status_url: tuple[str, StatusBehaviour]
) -> None:
    scheduler, accessor, clock = make(root, status_url[0])
    try:
        await refresh(scheduler)
        state = scheduler.state
        assert nonzero_counts(scheduler) == GAME_COUNTS
        assert state.configs[K("hex8_2p")].current_elo == 1720.5
        assert state.configs[K("square8_2p")].current_elo == 1650.0
        assert state.configs[K("hexagonal_2p")].priority_override == 0
        assert state.configs[K("hex8_2p")].staleness_hours == pytest.approx(2.0, abs=0.01)
        gh200 = next(n for n in state.nodes if n.node_id == "lambda-gh200-a")
        assert (gh200.current_load, gh200.current_jobs) == (0.45, 3)
        assert [n.node_id for n in state.nodes] == ["cpu-box", "lambda-gh200-a", "vast-4090-b"]

        report = scheduler.health_check()
        assert report.reasons == ()
        assert report.status is HealthStatus.HEALTHY
        status = scheduler.get_status()
        assert status["node_count"] == 3
        assert status["last_priority_update"] == clock.t
        assert status["failing_sources"] == {}

        placed = await scheduler.allocate_selfplay_batch()
        assert placed
        assert {n for per in placed.values() for n in per} <= {
            "cpu-box",
            "lambda-gh200-a",
            "vast-4090-b",
        }
        # the most starved configs (0 games) come first in the batch
        assert scheduler.get_metrics()["games_allocated_total"] > 0
    finally:
        accessor.close()


async def test_broken_stores_keep_last_good_values_and_say_what_is_wrong(
    root: Path, status_url: tuple[str, StatusBehaviour]
) -> None:
    url, behaviour = status_url
    scheduler, accessor, clock = make(root, url, source_timeouts={"cluster_status": 0.3})
    try:
        await refresh(scheduler)
        good = scheduler.state
        good_batch = scheduler.decide_batch()
        assert good_batch.placed_games > 0

        # 1. the Elo database disappears
        (root / "data" / "unified_elo.db").unlink()
        clock.t += 20.0
        await refresh(scheduler)
        elo = accessor.status()["elo"]
        assert elo.kind == "missing"
        report = scheduler.health_check()
        assert report.status is HealthStatus.DEGRADED
        assert report.reasons == (
            f"Source elo failing (serving its last good value): {elo.reason}",
        )
        assert scheduler.state.configs[K("hex8_2p")].current_elo == 1720.5  # last good
        refreshed = scheduler.state.last_refresh
        assert refreshed["current_elos"] == good.last_refresh["current_elos"]  # not refreshed
        assert refreshed["game_counts"] == clock.t  # the others were
        assert scheduler.get_status()["failing_sources"] == {"elo": elo.reason}
        assert scheduler.decide_batch().games_by_config == good_batch.games_by_config

        # 2. another process locks a game database; the momentum database is truncated
        momentum = root / "data" / "feedback" / "accelerator_state.db"
        momentum.write_bytes(momentum.read_bytes()[:100])
        with locked_by_process(root / "data" / "games" / "hex8_2p.db"):
            clock.t += 20.0
            await refresh(scheduler)
            status = accessor.status()
        assert status["games"].state == "degraded"
        assert status["games"].kind is None  # partial: the other databases were counted
        assert "data/games/hex8_2p.db: locked" in (status["games"].reason or "")
        assert status["momentum"].kind == "corrupt"
        reasons = scheduler.health_check().reasons
        assert reasons == (
            f"Source elo failing (serving its last good value): {status['elo'].reason}",
            f"Source momentum failing (serving its last good value): {status['momentum'].reason}",
            f"Source games partial: {status['games'].reason}",
        )
        assert nonzero_counts(scheduler) == GAME_COUNTS  # hex8_2p.db kept its last good count
        assert scheduler.get_status()["partial_sources"] == {"games": status["games"].reason}
        assert scheduler.state.configs[K("hex8_2p")].momentum_multiplier == (
            good.configs[K("hex8_2p")].momentum_multiplier
        )

        # 3. the cluster-status endpoint answers 500, then hangs past its timeout
        behaviour.mode = "error"
        clock.t += 20.0
        await refresh(scheduler)
        assert accessor.status()["cluster_status"].kind == "http"
        behaviour.mode = "sleep"
        clock.t += 20.0
        await refresh(scheduler)
        cluster = accessor.status()["cluster_status"]
        assert cluster.kind == "timeout"
        report = scheduler.health_check()
        assert f"Source cluster_status failing (serving its last good value): {cluster.reason}" in (
            report.reasons
        )
        gh200 = next(n for n in scheduler.state.nodes if n.node_id == "lambda-gh200-a")
        assert (gh200.current_load, gh200.current_jobs) == (0.45, 3)  # last good overlay
        assert report.status is HealthStatus.DEGRADED
        assert scheduler.decide_batch().placed_games > 0  # still deciding

        # 4. nothing refreshes for over 5 minutes: unhealthy, and it says why
        clock.t += 301.0
        report = scheduler.health_check()
        assert report.status is HealthStatus.UNHEALTHY
        assert report.reasons[0] == "Priority data stale (>5 min): last refresh 301 s ago"
        assert scheduler.decide_batch().placed_games > 0  # last good values still serve

        # 5. the stores come back: healthy again
        behaviour.mode = "ok"
        build_all_again(root)
        await refresh(scheduler)
        assert scheduler.health_check().status is HealthStatus.HEALTHY
        assert scheduler.state.configs[K("hex8_2p")].current_elo == 1720.5
    finally:
        accessor.close()


def build_all_again(root: Path) -> None:
    from accessor_stores import build_elo_db, build_momentum_db

    build_elo_db(root)
    (root / "data" / "feedback" / "accelerator_state.db").unlink()
    build_momentum_db(root)


async def test_a_dropped_column_is_reported_as_a_schema_fault(
    root: Path, status_url: tuple[str, StatusBehaviour]
) -> None:
    scheduler, accessor, _ = make(root, status_url[0])
    try:
        await refresh(scheduler)
        db = root / "data" / "unified_elo.db"
        with sqlite3.connect(db) as conn:
            conn.execute("DROP INDEX idx_elo_config")
            conn.execute("ALTER TABLE elo_ratings DROP COLUMN rating")
        conn.close()
        await refresh(scheduler)
        elo = accessor.status()["elo"]
        assert elo.kind == "schema"
        assert scheduler.health_check().reasons == (
            f"Source elo failing (serving its last good value): {elo.reason}",
        )
        assert scheduler.state.configs[K("square8_2p")].current_elo == 1650.0
    finally:
        accessor.close()


async def test_timers_refresh_from_the_real_accessor_and_stop_cleanly(
    root: Path, status_url: tuple[str, StatusBehaviour]
) -> None:
    import asyncio

    accessor = SelfplayDataAccessor(
        root, config=local_config(cluster_status_url=status_url[0], ttl_seconds=0.001)
    )
    scheduler = SelfplayScheduler(
        accessor=accessor, refresh_interval=0.02, node_refresh_interval=0.05, tick_interval=0.01
    )
    scheduler.subscribe_to_events(EventBus())
    try:
        async with scheduler:
            for _ in range(500):
                if scheduler.state.nodes and scheduler.state.configs[K("hex8_2p")].game_count:
                    break
                await asyncio.sleep(0.01)
            assert scheduler.get_status()["timers_running"] is True
        assert not scheduler.running
        assert [t for t in asyncio.all_tasks() if t.get_name().startswith("selfplay-")] == []
        assert scheduler.state.configs[K("hex8_2p")].game_count == 4
        assert len(scheduler.state.nodes) == 3
        assert scheduler.health_check().status is HealthStatus.HEALTHY
    finally:
        accessor.close()
