"""Break each store for real and check the accessor keeps last good values and says what broke."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from accessor_http import StatusBehaviour, status_server
from accessor_stores import (
    build_all,
    build_momentum_db,
    build_optimizer_state,
    build_overrides,
    cluster_status_payload,
    write_games_db,
)
from returns.io import IOFailure, IOSuccess
from returns.unsafe import unsafe_perform_io
from test_accessor_values import local_config

from selfplay_core.configs import ConfigKey
from selfplay_shell import SelfplayDataAccessor, SourceError

K = ConfigKey.parse
FAST = {"sqlite_busy_timeout_seconds": 0.2, "source_timeout_seconds": 2.0}


def ok(result: object) -> object:
    assert isinstance(result, IOSuccess), result
    return unsafe_perform_io(result.unwrap())


def failed(result: object) -> SourceError:
    assert isinstance(result, IOFailure), result
    error = unsafe_perform_io(result.failure())
    assert isinstance(error, SourceError)
    return error


@pytest.fixture
def root(tmp_path: Path) -> Path:
    build_all(tmp_path)
    return tmp_path


@contextmanager
def locked_by_process(path: Path) -> Iterator[None]:
    """Another process holds an exclusive lock on `path` until the block ends."""
    code = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('BEGIN EXCLUSIVE')\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        yield
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)


@contextmanager
def locked_by_connection(path: Path) -> Iterator[None]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


# --- Elo database -----------------------------------------------------------------------------
async def test_elo_deleted_keeps_last_good(root: Path) -> None:
    async with SelfplayDataAccessor(root, config=local_config(**FAST)) as acc:
        assert ok(await acc.get_current_elos())[K("hex8_2p")] == 1720.5
        (root / "data" / "unified_elo.db").unlink()
        error = failed(await acc.get_current_elos(force=True))
        snap = await acc.snapshot()
        health = acc.status()["elo"]
    assert (error.source, error.kind, error.detail) == ("elo", "missing", "no Elo database")
    assert str(root / "data" / "unified_elo.db") in str(error)
    assert snap.current_elos is not None
    assert snap.current_elos[K("hex8_2p")] == 1720.5  # last good value
    assert snap.failures["elo"] == str(error)
    assert health.state == "degraded"
    assert health.serving_last_good
    assert health.consecutive_failures == 1  # the snapshot served the cached failure (TTL)
    assert health.last_success_at is not None
    assert health.last_success_at < health.last_attempt_at  # type: ignore[operator]


async def test_elo_locked_by_another_process(root: Path) -> None:
    async with SelfplayDataAccessor(root, config=local_config(**FAST)) as acc:
        await acc.snapshot()
        with locked_by_process(root / "data" / "unified_elo.db"):
            snap = await acc.refresh()
    # "locked", not "timeout": the 0.2 s busy wait gave up inside the 2 s source timeout
    # (the reference waited 10-30 s), and the error is the lock's own.
    assert snap.failures["elo"].startswith("locked: database is locked")
    assert set(snap.failures) == {"elo"}  # every other source refreshed
    assert snap.current_elos is not None
    assert snap.current_elos[K("square8_2p")] == 1650.0


async def test_elo_truncated_is_corrupt(root: Path) -> None:
    db = root / "data" / "unified_elo.db"
    async with SelfplayDataAccessor(root, config=local_config(**FAST)) as acc:
        await acc.get_current_elos()
        db.write_bytes(db.read_bytes()[:100])
        error = failed(await acc.get_current_elos(force=True))
        snap = await acc.snapshot()
    assert error.kind == "corrupt"
    assert "not a database" in error.detail or "malformed" in error.detail
    assert snap.current_elos is not None
    assert snap.current_elos[K("hex8_2p")] == 1720.5


async def test_elo_dropped_column_is_schema(root: Path) -> None:
    db = root / "data" / "unified_elo.db"
    async with SelfplayDataAccessor(root, config=local_config(**FAST)) as acc:
        await acc.get_current_elos()
        with sqlite3.connect(db) as conn:
            conn.execute("DROP INDEX idx_elo_config")
            conn.execute("ALTER TABLE elo_ratings RENAME COLUMN participant_id TO model_id")
        conn.close()
        error = failed(await acc.get_elo_velocities(force=True))
        elos = await acc.snapshot()
    assert (error.kind, error.detail) == (
        "schema",
        "table 'elo_ratings' lacks column(s) participant_id",
    )
    assert elos.current_elos is not None
    assert elos.current_elos[K("hex8_2p")] == 1720.5


# --- game databases ---------------------------------------------------------------------------
async def test_one_game_db_locked_keeps_its_last_count(root: Path) -> None:
    async with SelfplayDataAccessor(root, config=local_config(**FAST)) as acc:
        before = ok(await acc.get_game_counts())
        with locked_by_connection(root / "data" / "games" / "hex8_2p.db"):
            after = ok(await acc.get_game_counts(force=True))
            reason = acc.status()["games"].reason
    assert after == before
    assert reason is not None
    assert "data/games/hex8_2p.db: locked: database is locked; kept its last good count" in reason


async def test_game_db_corrupted_and_column_dropped(root: Path) -> None:
    games = root / "data" / "games"
    async with SelfplayDataAccessor(root, config=local_config(**FAST)) as acc:
        before = ok(await acc.get_game_counts())
        (games / "selfplay.db").write_bytes(b"\0" * 4096)
        with sqlite3.connect(games / "hex8_2p.db") as conn:
            conn.execute("ALTER TABLE games DROP COLUMN winner")
        conn.close()
        after = ok(await acc.get_game_counts(force=True))
        reason = acc.status()["games"].reason
    assert after == before
    assert reason is not None
    assert "data/games/selfplay.db: corrupt:" in reason
    assert "data/games/hex8_2p.db: schema: table 'games' lacks column(s) winner" in reason


async def test_new_corrupt_game_db_counts_zero(root: Path) -> None:
    async with SelfplayDataAccessor(root, config=local_config(**FAST)) as acc:
        before = ok(await acc.get_game_counts())
        (root / "data" / "games" / "square19_4p.db").write_bytes(b"garbage" * 100)
        after = ok(await acc.get_game_counts(force=True))
        reason = acc.status()["games"].reason
    assert after == before
    assert reason is not None
    assert "data/games/square19_4p.db: corrupt: file is not a database; counted as 0" in reason


async def test_all_game_dbs_gone_keeps_last_counts(root: Path) -> None:
    import shutil

    async with SelfplayDataAccessor(root, config=local_config(**FAST)) as acc:
        before = ok(await acc.get_game_counts())
        shutil.rmtree(root / "data" / "games")
        shutil.rmtree(root / "data" / "selfplay")
        error = failed(await acc.get_game_counts(force=True))
        snap = await acc.snapshot()
    assert (error.kind, error.detail) == ("missing", "no game databases found")
    assert snap.game_counts == before  # not "0 everywhere → ×10 emergency" as in the reference


async def test_slow_game_count_times_out(tmp_path: Path) -> None:
    rows = [(f"g{i}", "hex8", 2, 1, "2025-12-29T10:00:00", "completed") for i in range(200_000)]
    write_games_db(tmp_path / "data" / "games" / "selfplay.db", rows)
    config = local_config(source_timeouts={"games": 0.005})
    async with SelfplayDataAccessor(tmp_path, config=config) as acc:
        error = failed(await acc.get_game_counts())
        assert error.kind == "timeout"
    # The reader was interrupted at its deadline: its worker thread ends (no scan goes on in
    # the background), and a read with time enough counts every game.
    assert accessor_workers_end()
    fast = AccessorConfig_with_timeout(config, 60.0)
    async with SelfplayDataAccessor(tmp_path, config=fast) as acc:
        assert ok(await acc.get_game_counts())[K("hex8_2p")] == 200_000


def accessor_workers_end(bound: float = 30.0) -> bool:
    """Whether every accessor worker thread has ended (waiting at most `bound` seconds, a
    bound on a hang, not a measure of speed)."""
    import threading

    for thread in threading.enumerate():
        if thread.name.startswith("selfplay-accessor"):
            thread.join(bound)
    return not any(t.name.startswith("selfplay-accessor") for t in threading.enumerate())


def AccessorConfig_with_timeout(config: object, seconds: float):  # type: ignore[no-untyped-def]
    import attrs

    return attrs.evolve(config, source_timeouts={"games": seconds})  # type: ignore[misc]


# --- momentum, optimizer, overrides ---------------------------------------------------------------
async def test_momentum_unknown_enum_keeps_last_good(root: Path) -> None:
    async with SelfplayDataAccessor(root, config=local_config(**FAST)) as acc:
        assert ok(await acc.get_momentum_multipliers())[K("hex8_2p")] == 1.5
        (root / "data" / "feedback" / "accelerator_state.db").unlink()
        build_momentum_db(root, [("hex8_2p", "accelerating", 3, 0), ("square8_2p", "STABLE", 0, 0)])
        error = failed(await acc.get_momentum_multipliers(force=True))
        snap = await acc.snapshot()
    assert (error.kind, error.detail) == (
        "invalid",
        "config_momentum square8_2p: unknown momentum_state 'STABLE'",
    )
    assert snap.momentum_multipliers is not None
    assert snap.momentum_multipliers[K("square8_2p")] == pytest.approx(0.99)


async def test_momentum_db_deleted_after_read_keeps_last_good(root: Path) -> None:
    async with SelfplayDataAccessor(root, config=local_config(**FAST)) as acc:
        await acc.get_momentum_multipliers()
        (root / "data" / "feedback" / "accelerator_state.db").unlink()
        error = failed(await acc.get_momentum_multipliers(force=True))
        snap = await acc.snapshot()
    assert error.kind == "missing"
    assert snap.momentum_multipliers is not None
    assert snap.momentum_multipliers[K("hex8_2p")] == 1.5


async def test_momentum_locked(root: Path) -> None:
    db = root / "data" / "feedback" / "accelerator_state.db"
    async with SelfplayDataAccessor(root, config=local_config(**FAST)) as acc:
        await acc.get_momentum_multipliers()
        with locked_by_connection(db):
            error = failed(await acc.get_momentum_multipliers(force=True))
    assert error.kind == "locked"
    assert error.location == str(db)


async def test_optimizer_state_malformed_keeps_last_good(root: Path) -> None:
    async with SelfplayDataAccessor(root, config=local_config(**FAST)) as acc:
        await acc.get_improvement_boosts()
        build_optimizer_state(root, '{"consecutive_promotions": 2,')
        error = failed(await acc.get_improvement_boosts(force=True))
        build_optimizer_state(root, {"consecutive_promotions": "two"})
        wrong_type = failed(await acc.get_improvement_boosts(force=True))
        build_optimizer_state(root, "[" * 5000 + "]" * 5000)
        too_deep = failed(await acc.get_improvement_boosts(force=True))
        build_optimizer_state(root, '{"consecutive_promotions": ' + "9" * 5000 + "}")
        too_long = failed(await acc.get_improvement_boosts(force=True))
        snap = await acc.snapshot()
    assert error.kind == "invalid"
    assert error.detail.startswith("malformed JSON")
    assert (too_deep.kind, too_deep.detail) == ("invalid", "malformed JSON: nesting too deep")
    assert too_long.kind == "invalid"
    assert too_long.detail.startswith("malformed JSON: Exceeds the limit (4300 digits)")
    assert wrong_type.detail == "consecutive_promotions must be a number, got 'two'"
    assert snap.improvement_boosts is not None
    assert snap.improvement_boosts[K("hex8_2p")] == pytest.approx(0.15)


@pytest.mark.parametrize(
    "bad_yaml",
    [
        "selfplay: [unclosed\n",
        "selfplay: " + "[" * 5000 + "]" * 5000 + "\n",  # nesting too deep to compose
        "selfplay: " + "9" * 5000 + "\n",  # an integer past the interpreter's digit limit
    ],
)
async def test_overrides_skip_unparsable_candidate(
    root: Path, tmp_path_factory: pytest.TempPathFactory, bad_yaml: str
) -> None:
    cwd = tmp_path_factory.mktemp("cwd")
    build_overrides(root, bad_yaml)
    build_overrides(cwd, "selfplay:\n  board_priority_overrides:\n    hex8_4p: 1\n")
    # Composing 5,000 nested lists takes seconds on a busy host: a timeout is not the point here.
    config = local_config(**{**FAST, "source_timeout_seconds": 60.0})
    async with SelfplayDataAccessor(root, cwd=cwd, config=config) as acc:
        levels = ok(await acc.get_priority_overrides())
        reason = acc.status()["overrides"].reason
    assert levels[K("hex8_4p")] == 1
    assert levels[K("hexagonal_2p")] == 3
    assert reason is not None
    assert f"{root}/config/unified_loop.yaml: invalid: malformed YAML" in reason


async def test_overrides_null_section_everywhere_is_invalid(root: Path) -> None:
    build_overrides(root, "selfplay:\n")
    async with SelfplayDataAccessor(root, config=local_config(**FAST)) as acc:
        error = failed(await acc.get_priority_overrides())
    assert error.kind == "invalid"
    assert "'selfplay' is NoneType, not a mapping" in error.detail


# --- cluster status endpoint -------------------------------------------------------------------
async def test_status_endpoint_timeout_keeps_last_overlay(root: Path) -> None:
    behaviour = StatusBehaviour(payload=cluster_status_payload(time.time()), sleep_seconds=1.0)
    with status_server(behaviour) as url:
        config = local_config(cluster_status_url=url, source_timeouts={"cluster_status": 0.3})
        async with SelfplayDataAccessor(root, config=config) as acc:
            await acc.snapshot()
            behaviour.mode = "sleep"
            snap = await acc.refresh()
    assert snap.failures["cluster_status"].startswith("timeout:")
    assert set(snap.failures) == {"cluster_status"}  # the others were not held up
    assert snap.nodes is not None
    gh200 = next(n for n in snap.nodes if n.node_id == "lambda-gh200-a")
    assert (gh200.current_load, gh200.current_jobs) == (0.45, 3)  # last good status


async def test_status_endpoint_errors_are_named(root: Path) -> None:
    behaviour = StatusBehaviour(payload=cluster_status_payload(time.time()))
    with status_server(behaviour) as url:
        config = local_config(cluster_status_url=url)
        async with SelfplayDataAccessor(root, config=config) as acc:
            behaviour.mode = "error"
            await acc.snapshot()
            http_500 = acc.status()["cluster_status"]
            behaviour.mode = "junk"
            await acc.refresh()
            junk = acc.status()["cluster_status"]
            nodes = ok(await acc.get_node_capabilities())
    assert http_500.kind == "http"
    assert http_500.reason is not None
    assert http_500.reason.startswith("http: HTTP 500")
    assert junk.reason is not None
    assert junk.reason.startswith("http: response is not JSON")
    assert [n.current_load for n in nodes] == [0.0, 0.0, 0.0]  # never had a good status


async def test_status_endpoint_refused(root: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = local_config(cluster_status_url=f"http://127.0.0.1:{port}/api/cluster/status")
    async with SelfplayDataAccessor(root, config=config) as acc:
        snap = await acc.snapshot()
    assert snap.failures["cluster_status"].startswith("http: cannot connect")
    assert snap.nodes is not None
    assert len(snap.nodes) == 3


async def test_concurrent_callers_share_one_read(root: Path) -> None:
    import asyncio

    behaviour = StatusBehaviour(payload=cluster_status_payload(time.time()))
    with status_server(behaviour) as url:
        async with SelfplayDataAccessor(root, config=local_config(cluster_status_url=url)) as acc:
            await asyncio.gather(*(acc.get_node_capabilities() for _ in range(20)))
    assert behaviour.requests == 1


# --- training files -----------------------------------------------------------------------------
async def test_freshness_unreadable_directory_keeps_last_good(root: Path) -> None:
    import shutil

    training = root / "data" / "training"
    async with SelfplayDataAccessor(root, config=local_config(**FAST)) as acc:
        before = ok(await acc.get_data_freshness())
        shutil.rmtree(training)
        training.write_text("a file where the folder was")  # stat → NotADirectoryError
        error = failed(await acc.get_data_freshness(force=True))
        snap = await acc.snapshot()
    assert error.kind == "io"
    assert error.detail == "cannot stat: Not a directory"
    assert snap.staleness_hours == before


async def test_freshness_deleted_file_reads_as_24_hours(root: Path) -> None:
    async with SelfplayDataAccessor(root, config=local_config(**FAST)) as acc:
        assert ok(await acc.get_data_freshness())[K("hex8_2p")] == pytest.approx(2.0, abs=0.01)
        (root / "data" / "training" / "hex8_2p.npz").unlink()
        assert ok(await acc.get_data_freshness(force=True))[K("hex8_2p")] == 24.0
        assert acc.status()["freshness"].state == "ok"  # a missing export is data, not a fault


async def test_queue_monitor_unknown_level_keeps_last_good(root: Path) -> None:
    from accessor_stores import build_queue_monitor

    build_queue_monitor(root, depth=55)
    async with SelfplayDataAccessor(root, config=local_config(**FAST)) as acc:
        first = ok(await acc.get_backpressure())
        build_queue_monitor(root, depth=55, level="weird")
        error = failed(await acc.get_backpressure(force=True))
        snap = await acc.snapshot()
    assert (error.kind, error.detail) == (
        "invalid",
        "queue_status training_data: unknown backpressure 'weird'",
    )
    assert snap.backpressure == first


async def test_lock_wait_is_bounded_by_the_source_timeout(root: Path) -> None:
    config = local_config(sqlite_busy_timeout_seconds=30.0, source_timeouts={"momentum": 0.4})
    async with SelfplayDataAccessor(root, config=config) as acc:
        await acc.get_momentum_multipliers()
        with locked_by_connection(root / "data" / "feedback" / "accelerator_state.db"):
            error = failed(await acc.get_momentum_multipliers(force=True))
            # The busy wait is cut to what is left of the 0.4 s deadline (not 30 s): the read
            # has ended while the lock is still held, its thread with it.
            assert accessor_workers_end()
    assert error.kind in {"locked", "timeout"}


# --- the per-file change cache of the game counts ------------------------------------------------
async def test_unchanged_game_db_is_not_reopened_and_a_changed_one_is(root: Path) -> None:
    import os

    db = root / "data" / "games" / "hex8_2p.db"
    old = time.time() - 100
    for path in (root / "data").rglob("*.db"):
        os.utime(path, (old, old))
    async with SelfplayDataAccessor(root, config=local_config(**FAST)) as acc:
        assert ok(await acc.get_game_counts())[K("hex8_2p")] == 4
        with locked_by_connection(db):  # unchanged since the last read: its count is reused
            assert ok(await acc.get_game_counts(force=True))[K("hex8_2p")] == 4
            assert "hex8_2p.db" not in (acc.status()["games"].reason or "")
        write = sqlite3.connect(db)
        write.execute(
            "INSERT INTO games VALUES ('h4', 'hex8', 2, 1, '2025-12-30T10:00:00', 'completed')"
        )
        write.commit()
        write.close()
        assert ok(await acc.get_game_counts(force=True))[K("hex8_2p")] == 5
    no_cache = local_config(game_count_cache=False, **FAST)
    async with SelfplayDataAccessor(root, config=no_cache) as acc:
        await acc.get_game_counts()
        with locked_by_connection(db):
            await acc.get_game_counts(force=True)
            assert "hex8_2p.db: locked" in (acc.status()["games"].reason or "")


def test_count_query_uses_a_covering_index_when_there_is_one(tmp_path: Path) -> None:
    from selfplay_shell.sources.games import _COUNT_SQL, _has_covering_index

    db = write_games_db(tmp_path / "g.db", [])
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE INDEX idx_games_board_players ON games (board_type, num_players)")
        assert not _has_covering_index(conn)
        plan = conn.execute("EXPLAIN QUERY PLAN " + _COUNT_SQL.format(hint=" NOT INDEXED"))
        assert "SCAN games" in str(plan.fetchall())
        conn.execute("CREATE INDEX idx_cover ON games (board_type, num_players, winner)")
        assert _has_covering_index(conn)
        plan = conn.execute("EXPLAIN QUERY PLAN " + _COUNT_SQL.format(hint=""))
        assert "COVERING INDEX idx_cover" in str(plan.fetchall())
    conn.close()


async def test_event_from_a_degraded_snapshot_carries_none_for_failed_sources(root: Path) -> None:
    async with SelfplayDataAccessor(root, config=local_config(**FAST)) as acc:
        await acc.snapshot()
        (root / "data" / "unified_elo.db").unlink()
        (root / "data" / "feedback" / "accelerator_state.db").write_bytes(b"junk" * 100)
        snap = await acc.refresh()
    assert set(snap.failures) == {"elo", "momentum"}
    event = snap.to_event()
    assert event.current_elos is None
    assert event.elo_velocities is None
    assert event.momentum_multipliers is None
    assert event.game_counts == snap.game_counts  # fresh sources go through
    assert snap.current_elos is not None  # the snapshot itself keeps the last good values
    kept = snap.event_fields(include_last_good=True)
    assert kept["current_elos"] == snap.current_elos


def test_every_counting_plan_gives_the_same_counts(tmp_path: Path) -> None:
    from selfplay_shell.sources.games import _NO_WINNER_SQL, completed_by_group

    rows = [
        (
            f"g{i}",
            ("hex8", "square8", "hex")[i % 3],
            2 + i % 3,
            None if i % 7 == 0 else 1,
            "2025-12-29T10:00:00",
            "completed",
        )
        for i in range(500)
    ]
    layouts = {
        "scan": (),
        "v15": (
            "CREATE INDEX idx_games_board_players ON games (board_type, num_players)",
            "CREATE INDEX idx_games_winner ON games (winner)",
        ),
        "covering": ("CREATE INDEX idx_cover ON games (board_type, num_players, winner)",),
        "partial": (  # a partial index sees only some rows: never used for the grouping
            "CREATE INDEX idx_part ON games (board_type, num_players) WHERE winner = 1",
            "CREATE INDEX idx_games_winner ON games (winner)",
        ),
    }
    results = {}
    for name, statements in layouts.items():
        db = write_games_db(tmp_path / f"{name}.db", rows)
        with sqlite3.connect(db) as conn:
            for statement in statements:
                conn.execute(statement)
        conn.close()
        ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
        results[name] = completed_by_group(ro)
        if name == "v15":
            plan = str(ro.execute("EXPLAIN QUERY PLAN " + _NO_WINNER_SQL).fetchall())
            assert "idx_games_winner" in plan
        ro.close()
    assert results["scan"] == results["v15"] == results["covering"] == results["partial"]
    assert sum(results["scan"].values()) == sum(1 for r in rows if r[3] is not None)


def test_yaml_flow_nesting_counts_brackets_outside_quotes_and_comments() -> None:
    from selfplay_shell.sources._files import MAX_YAML_FLOW_NESTING, flow_nesting

    assert flow_nesting("a: [1, [2, {b: 3}]]\n") == 3
    assert flow_nesting("a: '[[[' # [[[[\nb: \"{{\"\n") == 0
    assert flow_nesting("[" * (MAX_YAML_FLOW_NESTING + 1)) > MAX_YAML_FLOW_NESTING
