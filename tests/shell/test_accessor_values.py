"""Each getter against the numbers of §sources, on real stores built in tmp_path."""

from __future__ import annotations

import os
import time
from pathlib import Path

import attrs
import pytest
from accessor_http import StatusBehaviour, status_server
from accessor_stores import (
    build_all,
    build_elo_db,
    build_game_dbs,
    build_optimizer_state,
    cluster_status_payload,
)
from returns.io import IOSuccess
from returns.unsafe import unsafe_perform_io

from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.events import SOURCE_PARTS, SourcesRefreshed
from selfplay_core.signals import FeedbackSignal
from selfplay_shell import AccessorConfig, AccessorSnapshot, SelfplayDataAccessor
from selfplay_shell.sources.config import AccessorConfigError
from selfplay_shell.sources.games import discover_game_databases

K = ConfigKey.parse


def local_config(**changes: object) -> AccessorConfig:
    """The reference layout, minus the machine-wide fallbacks outside the test root."""
    base = AccessorConfig(
        elo_db_candidates=("{root}/data/unified_elo.db",),
        game_root_candidates=("{root}", "{cwd}"),
        overrides_yaml_candidates=(
            "{root}/config/unified_loop.yaml",
            "{cwd}/config/unified_loop.yaml",
        ),
        queue_monitor_db="{root}/coordination/queue_monitor.db",
    )
    return AccessorConfig.from_mapping({**_as_mapping(base), **changes})


def _as_mapping(config: AccessorConfig) -> dict[str, object]:
    import attrs

    return attrs.asdict(config, recurse=False)


def value(result: object) -> object:
    assert isinstance(result, IOSuccess), result
    return unsafe_perform_io(result.unwrap())


def expect_all_configs(mapping: object) -> dict[str, object]:
    assert isinstance(mapping, os.sys.modules["types"].MappingProxyType)  # read-only
    assert list(mapping) == list(ALL_CONFIGS)
    return {str(k): v for k, v in mapping.items()}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    build_all(tmp_path)
    return tmp_path


@pytest.fixture
async def accessor(root: Path):  # type: ignore[no-untyped-def]
    async with SelfplayDataAccessor(root, config=local_config()) as acc:
        yield acc


GAMES_EXPECTED = {
    "hex8_2p": 4,
    "square8_3p": 1,
    "hexagonal_4p": 1,
    "square19_2p": 1,
    "square8_4p": 1,
    "hexagonal_2p": 1,  # the legacy `hex` row, folded (deviation; the reference drops it)
}


async def test_game_counts_match_fixture_with_alias_folded(accessor: SelfplayDataAccessor) -> None:
    counts = expect_all_configs(value(await accessor.get_game_counts()))
    assert counts == {str(k): GAMES_EXPECTED.get(str(k), 0) for k in ALL_CONFIGS}
    health = accessor.status()["games"]
    assert health.state == "degraded"  # the two negative fixtures are reported, not hidden
    assert "canonical_nowinner.db: schema: table 'games' lacks column(s) winner" in health.reason
    assert "canonical_corrupt.db: corrupt: file is not a database" in health.reason
    assert "canonical_empty.db" not in health.reason


async def test_symlinked_database_counts_once(tmp_path: Path) -> None:
    build_game_dbs(tmp_path, symlink=True)
    async with SelfplayDataAccessor(tmp_path, config=local_config()) as acc:
        counts = expect_all_configs(value(await acc.get_game_counts()))
    # The reference gives hex8_2p 6 and square19_2p 2 here (the symlink counted twice).
    assert counts["hex8_2p"] == 4
    assert counts["square19_2p"] == 1


def test_discovery_order_follows_the_reference_patterns(tmp_path: Path) -> None:
    build_game_dbs(tmp_path, symlink=True)
    found = discover_game_databases(tmp_path, AccessorConfig().game_db_patterns)
    names = [str(db.path.relative_to(tmp_path)) for db in found]
    assert names == [
        "data/games/selfplay.db",
        "data/games/hex8_2p.db",
        "data/selfplay/canonical_square8_4p.db",
        "data/games/canonical_corrupt.db",
        "data/games/canonical_nowinner.db",
    ]  # hex8_2.db is the same file as hex8_2p.db; the 0-byte file is skipped


async def test_current_elos_layer_one(accessor: SelfplayDataAccessor) -> None:
    elos = expect_all_configs(value(await accessor.get_current_elos()))
    expected = {str(k): 1500.0 for k in ALL_CONFIGS}
    expected.update(hex8_2p=1720.5, square8_2p=1650.0, square19_3p=1490.0)
    assert elos == expected
    velocities = expect_all_configs(value(await accessor.get_elo_velocities()))
    assert set(velocities.values()) == {0.0}


async def test_elo_service_layout_without_archive_reads_every_row(tmp_path: Path) -> None:
    build_elo_db(tmp_path, with_archive=False)
    async with SelfplayDataAccessor(tmp_path, config=local_config()) as acc:
        elos = expect_all_configs(value(await acc.get_current_elos()))
    # Reference: "no such column: archived_at" → 1500 everywhere. Without the column no row
    # is archived, so the best rating stands (deviation).
    assert elos["hex8_2p"] == 1810.0
    assert elos["square8_2p"] == 1650.0
    assert elos["square19_3p"] == 1490.0
    assert elos["hex8_3p"] == 1500.0


async def test_velocity_from_elo_history_table(tmp_path: Path) -> None:
    t0 = time.time() - 4 * 3600
    build_elo_db(tmp_path, history=[(t0, 1500.0), (t0 + 1800, 1520.0), (t0 + 3600, 1530.0)])
    async with SelfplayDataAccessor(tmp_path, config=local_config()) as acc:
        velocities = expect_all_configs(value(await acc.get_elo_velocities()))
    assert velocities["hex8_2p"] == pytest.approx(720.0, rel=1e-9)  # 30 Elo/h, centred exactly
    assert velocities["hex8_3p"] == 0.0


async def test_velocity_from_history_ignores_points_older_than_seven_days(tmp_path: Path) -> None:
    now = time.time()
    old = now - 8 * 86400
    build_elo_db(tmp_path, history=[(old, 1000.0), (now - 7200, 1500.0), (now - 3600, 1510.0)])
    async with SelfplayDataAccessor(tmp_path, config=local_config()) as acc:
        velocities = expect_all_configs(value(await acc.get_elo_velocities()))
    assert velocities["hex8_2p"] == pytest.approx(240.0, rel=1e-9)


async def test_velocity_from_observed_elo_when_no_history(tmp_path: Path) -> None:
    import sqlite3

    db = build_elo_db(tmp_path)
    clock = [1_767_000_000.0]
    async with SelfplayDataAccessor(tmp_path, config=local_config(), clock=lambda: clock[0]) as acc:
        assert expect_all_configs(value(await acc.get_elo_velocities()))["hex8_2p"] == 0.0
        with sqlite3.connect(db) as conn:
            conn.execute(
                "UPDATE elo_ratings SET rating = 1740.5 WHERE participant_id = 'canonical_hex8_2p'"
            )
        conn.close()
        clock[0] += 3600
        velocities = expect_all_configs(value(await acc.get_elo_velocities(force=True)))
    assert velocities["hex8_2p"] == pytest.approx(480.0, rel=1e-9)  # 20 Elo in 1 h
    assert velocities["square8_2p"] == 0.0


async def test_freshness_from_npz_mtimes(accessor: SelfplayDataAccessor) -> None:
    hours = expect_all_configs(value(await accessor.get_data_freshness()))
    assert hours["hex8_2p"] == pytest.approx(2.0, abs=0.01)
    assert hours["square8_2p"] == pytest.approx(0.5, abs=0.01)
    assert hours["hex8_3p"] == 24.0  # hex8_3p_v2.npz does not count
    assert all(v == 24.0 for k, v in hours.items() if k not in {"hex8_2p", "square8_2p"})


async def test_freshness_uses_cwd_not_root(
    root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    elsewhere = tmp_path_factory.mktemp("cwd")
    async with SelfplayDataAccessor(root, cwd=elsewhere, config=local_config()) as acc:
        hours = expect_all_configs(value(await acc.get_data_freshness()))
    assert set(hours.values()) == {24.0}


async def test_momentum_multipliers(accessor: SelfplayDataAccessor) -> None:
    got = expect_all_configs(value(await accessor.get_momentum_multipliers()))
    expected = {str(k): 1.0 for k in ALL_CONFIGS}
    expected.update(hex8_2p=1.5, hex8_3p=1.375, square8_2p=0.99, hexagonal_4p=0.75)
    assert got == pytest.approx(expected)


async def test_improvement_boosts(accessor: SelfplayDataAccessor, root: Path) -> None:
    boosts = expect_all_configs(value(await accessor.get_improvement_boosts()))
    # hex8_2p: 0.10 (2 promotions) + 0.10 (own boost 0.72 < 0.8) + 0.05 (gain 64) → clamp 0.15
    assert boosts == pytest.approx({str(k): 0.15 for k in ALL_CONFIGS})
    build_optimizer_state(root, {"parity_success_rate": 0.7})
    boosts = expect_all_configs(value(await accessor.get_improvement_boosts(force=True)))
    assert boosts == pytest.approx({str(k): -0.10 for k in ALL_CONFIGS})


async def test_improvement_boost_back_to_zero_is_reported(
    accessor: SelfplayDataAccessor, root: Path
) -> None:
    assert value(await accessor.get_improvement_boosts())[K("hex8_2p")] == pytest.approx(0.15)
    build_optimizer_state(root, {"consecutive_promotions": 0})
    # The reference drops zero boosts, so the old 0.15 would stay in its state (deviation).
    assert value(await accessor.get_improvement_boosts(force=True))[K("hex8_2p")] == 0.0


async def test_priority_overrides(accessor: SelfplayDataAccessor) -> None:
    levels = expect_all_configs(value(await accessor.get_priority_overrides()))
    expected = {str(k): 3 for k in ALL_CONFIGS}
    expected.update(hexagonal_2p=0, square19_3p=1, square8_3p=2)
    assert levels == expected  # square8_2p: "0" is a string → ×1.0 as in the reference
    assert "square8_2p: level '0' is not 0-3; treated as 3" in accessor.status()["overrides"].reason


async def test_nodes_from_inventory_and_cluster_status(root: Path) -> None:
    now = time.time()
    with status_server(StatusBehaviour(payload=cluster_status_payload(now))) as url:
        async with SelfplayDataAccessor(root, config=local_config(cluster_status_url=url)) as acc:
            nodes = value(await acc.get_node_capabilities())
    assert [n.node_id for n in nodes] == ["cpu-box", "lambda-gh200-a", "vast-4090-b"]
    cpu, gh200, vast = nodes
    assert (gh200.gpu_type, gh200.gpu_memory_gb, gh200.current_load, gh200.current_jobs) == (
        "GH200 (96 GB)",
        80.0,
        0.45,
        3,
    )
    assert not gh200.is_ephemeral
    assert vast.is_ephemeral
    assert vast.current_load == 0.0
    assert vast.current_jobs == 0
    assert (cpu.gpu_type, cpu.gpu_memory_gb, cpu.current_load) == ("none", 0.0, 0.0)


async def test_nodes_without_endpoint_come_from_inventory(accessor: SelfplayDataAccessor) -> None:
    nodes = value(await accessor.get_node_capabilities())
    assert [(n.node_id, n.current_load) for n in nodes] == [
        ("cpu-box", 0.0),
        ("lambda-gh200-a", 0.0),
        ("vast-4090-b", 0.0),
    ]
    assert "cluster_status" not in accessor.status()  # not configured, so not a source


async def test_curriculum_json_mode(root: Path) -> None:
    import json

    path = root / "data" / "curriculum_weights.json"
    path.write_text(json.dumps({"weights": {"hex8_2p": 2.0}, "updated_at": time.time() - 60}))
    config = local_config(curriculum_source="json")
    async with SelfplayDataAccessor(root, config=config) as acc:
        weights = expect_all_configs(value(await acc.get_curriculum_weights()))
        assert weights["hex8_2p"] == pytest.approx(1.846154, abs=1e-6)
        assert weights["square8_2p"] == pytest.approx(0.923077, abs=1e-6)
        path.write_text(json.dumps({"weights": {"hex8_2p": 2.0}, "updated_at": time.time() - 7201}))
        stale = expect_all_configs(value(await acc.get_curriculum_weights(force=True)))
        assert set(stale.values()) == {1.0}
        assert "stale" in acc.status()["curriculum"].reason
        path.write_text(
            json.dumps({"timestamp": "2025-12-29T10:00:00", "weights": {"hex8_2p": 2.0}})
        )
        assert set(value(await acc.get_curriculum_weights(force=True)).values()) == {1.0}


async def test_in_process_sources_report_reference_defaults(accessor: SelfplayDataAccessor) -> None:
    assert set(value(await accessor.get_curriculum_weights()).values()) == {1.0}
    assert set(value(await accessor.get_feedback_signals()).values()) == {
        FeedbackSignal(1.0, False)
    }
    assert set(value(await accessor.get_quality_scores()).values()) == {0.7}
    assert set(value(await accessor.get_cascade_multipliers()).values()) == {1.0}


async def test_quality_json_and_cascade_bootstrap(root: Path) -> None:
    import json

    path = root / "data" / "coordination" / "quality_monitor_state.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"last_quality": 0.55, "config_quality": {"hex8_2p": 0.9}}))
    config = local_config(quality_source="json", cascade_source="bootstrap")
    async with SelfplayDataAccessor(root, config=config) as acc:
        quality = expect_all_configs(value(await acc.get_quality_scores()))
        cascade = expect_all_configs(value(await acc.get_cascade_multipliers()))
        snap = await acc.snapshot()
    assert quality["hex8_2p"] == 0.9
    assert quality["square8_2p"] == 0.55
    assert cascade == {str(k): 1.5 if k.players == 2 else 1.0 for k in ALL_CONFIGS}
    assert snap.quality_scores is not None
    assert snap.cascade_multipliers is not None


async def test_snapshot_has_every_sources_refreshed_field(accessor: SelfplayDataAccessor) -> None:
    snap = await accessor.snapshot()
    assert isinstance(snap, AccessorSnapshot)
    # one field per part of the event, the same list the reducer walks
    assert tuple(snap.event_fields()) == SOURCE_PARTS
    assert tuple(f.name for f in attrs.fields(SourcesRefreshed)) == SOURCE_PARTS
    assert len(SOURCE_PARTS) == 14
    assert snap.failures == {}
    assert set(snap.warnings) == {"games", "overrides"}  # the negative fixtures, named
    assert snap.current_elos[K("hex8_2p")] == 1720.5
    assert snap.game_counts[K("hex8_2p")] == 4
    assert snap.feedback is None
    assert snap.curriculum_weights is None
    assert [n.node_id for n in snap.nodes] == ["cpu-box", "lambda-gh200-a", "vast-4090-b"]


async def test_cache_serves_within_ttl_and_force_rereads(
    accessor: SelfplayDataAccessor, root: Path
) -> None:
    assert value(await accessor.get_improvement_boosts())[K("hex8_2p")] == pytest.approx(0.15)
    build_optimizer_state(root, {"parity_success_rate": 0.7})
    assert value(await accessor.get_improvement_boosts())[K("hex8_2p")] == pytest.approx(0.15)
    assert value(await accessor.get_improvement_boosts(force=True))[K("hex8_2p")] == pytest.approx(
        -0.1
    )


async def test_absent_optional_stores_are_reference_defaults(tmp_path: Path) -> None:
    build_game_dbs(tmp_path)
    async with SelfplayDataAccessor(tmp_path, config=local_config()) as acc:
        snap = await acc.snapshot()
        status = acc.status()
    assert set(snap.improvement_boosts.values()) == {0.0}
    assert set(snap.momentum_multipliers.values()) == {1.0}
    assert set(snap.priority_overrides.values()) == {3}
    assert snap.nodes == ()
    for name in ("improvement", "momentum", "overrides", "nodes"):
        assert status[name].state == "ok", status[name]
        assert status[name].note is not None
        assert status[name].note.startswith("absent, reference defaults: missing:")
    assert status["elo"].state == "degraded"
    assert status["elo"].kind == "missing"
    assert snap.current_elos is None  # never read: the state's 1500 default stands


def test_config_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "accessor.toml"
    path.write_text(
        '[accessor]\ncluster_status_url = "http://127.0.0.1:8770/api/cluster/status"\n'
        'elo_db_candidates = ["{root}/elo/unified_elo.db"]\nsource_timeout_seconds = 1.5\n'
        "[accessor.source_timeouts]\ngames = 3.0\n"
    )
    config = AccessorConfig.from_toml(path)
    assert config.cluster_status_url == "http://127.0.0.1:8770/api/cluster/status"
    assert config.elo_db_candidates == ("{root}/elo/unified_elo.db",)
    assert config.timeout_for("games") == 3.0
    assert config.timeout_for("elo") == 1.5
    assert config.momentum_db == AccessorConfig().momentum_db
    path.write_text("[accessor]\nelo_db = 'x'\n")
    with pytest.raises(AccessorConfigError, match=r"unknown accessor setting.*elo_db"):
        AccessorConfig.from_toml(path)
    path.write_text("[accessor]\nttl_seconds = -1\n")
    with pytest.raises(AccessorConfigError, match="ttl_seconds"):
        AccessorConfig.from_toml(path)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (None, "cannot read"),
        ("[accessor\n", "not valid TOML"),
        ("a = " + "[" * 5000 + "]" * 5000 + "\n", "not valid TOML: nesting too deep"),
        ("a = " + "9" * 5000 + "\n", "not valid TOML"),
        (b"\xff\xfe = 1\n", "not valid TOML"),
    ],
)
def test_an_unreadable_config_file_is_an_accessor_config_error(
    tmp_path: Path, text: str | bytes | None, needle: str
) -> None:
    path = tmp_path / "accessor.toml"
    if isinstance(text, str):
        path.write_text(text)
    elif isinstance(text, bytes):
        path.write_bytes(text)
    with pytest.raises(AccessorConfigError, match=needle):
        AccessorConfig.from_toml(path)


async def test_backpressure_from_queue_monitor_and_p2p_disk(root: Path) -> None:
    from accessor_stores import build_queue_monitor

    from selfplay_core.cluster import Backpressure

    build_queue_monitor(root, depth=55)
    now = time.time()
    with status_server(StatusBehaviour(payload=cluster_status_payload(now))) as url:
        parity = local_config(cluster_status_url=url)
        async with SelfplayDataAccessor(root, config=parity) as acc:
            # §weights row 1: depth 55 → queue pressure 0.5; the reference's disk key is absent → 0
            assert value(await acc.get_backpressure()) == Backpressure(queue_pressure=0.5)
        corrected = local_config(cluster_status_url=url, disk_pressure_source="p2p")
        async with SelfplayDataAccessor(root, config=corrected) as acc:
            bp = value(await acc.get_backpressure())
            snap = await acc.snapshot()
    # §weights: disk_percent 70 and 90 → mean 0.8 → normalize(0.8, 0.5, 0.9) = 0.75
    assert bp.queue_pressure == 0.5
    assert bp.disk_pressure == pytest.approx(0.75)
    assert snap.backpressure == bp
    build_queue_monitor(root, depth=150_000, level="soft")
    async with SelfplayDataAccessor(root, config=local_config()) as acc:
        assert value(await acc.get_backpressure()) == Backpressure(queue_pressure=1.0)


async def test_backpressure_without_monitor_or_row_is_zero(root: Path) -> None:
    from accessor_stores import build_queue_monitor

    from selfplay_core.cluster import Backpressure

    async with SelfplayDataAccessor(root, config=local_config()) as acc:
        assert value(await acc.get_backpressure()) == Backpressure()
        assert acc.status()["backpressure"].state == "ok"
    build_queue_monitor(root, depth=None)
    async with SelfplayDataAccessor(root, config=local_config()) as acc:
        assert value(await acc.get_backpressure()) == Backpressure()


async def test_snapshot_builds_the_sources_refreshed_event(accessor: SelfplayDataAccessor) -> None:
    from selfplay_core.events import SourcesRefreshed

    snap = await accessor.snapshot()
    event = snap.to_event()
    assert isinstance(event, SourcesRefreshed)
    assert event.game_counts == snap.game_counts
    assert event.nodes == snap.nodes
    assert event.feedback is None


def test_config_rejects_unknown_placeholders() -> None:
    with pytest.raises(
        AccessorConfigError, match=r"momentum_db: .*unknown placeholder\(s\) \{home\}"
    ):
        AccessorConfig(momentum_db="{home}/accelerator_state.db")
    with pytest.raises(AccessorConfigError, match=r"elo_db_candidates: '\{config\}/x.db'"):
        AccessorConfig(elo_db_candidates=("{root}/a.db", "{config}/x.db"))
    assert AccessorConfig(training_npz="{root}/npz/{config}.npz").training_npz.endswith(
        "{config}.npz"
    )


async def test_accessor_can_be_reused_across_event_loops(root: Path) -> None:
    import asyncio
    import threading

    acc = SelfplayDataAccessor(root, config=local_config())
    await asyncio.gather(acc.get_game_counts(), acc.get_game_counts())
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(asyncio.run(acc.snapshot(force=True))))
    thread.start()
    thread.join(timeout=20)
    acc.close()
    assert isinstance(outcome[0], AccessorSnapshot)
    assert outcome[0].game_counts is not None


async def test_closed_accessor_reports_instead_of_raising(root: Path) -> None:
    acc = SelfplayDataAccessor(root, config=local_config())
    acc.close()
    result = await acc.get_game_counts()
    assert not isinstance(result, IOSuccess)
    assert acc.status()["games"].kind == "unexpected"
    assert "shutdown" in (acc.status()["games"].reason or "")
