"""`selfplay_shell.compat.SelfplayScheduler`: the reference's constructor (14 callbacks,
``backpressure_monitor=``, ``verbose=``), string keys end to end, and the newer calls
(`activate_backpressure`, `pause_spawning`, `resume_spawning`) changing the next batch."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from selfplay_core import SourcesRefreshed
from selfplay_core.decide import dynamic_weights
from selfplay_shell.compat import (
    ALL_CONFIGS,
    UNUSED_CALLBACKS,
    ConfigPriority,
    NodeCapability,
    SelfplayScheduler,
    get_selfplay_scheduler,
    reset_selfplay_scheduler,
)
from selfplay_shell.sources.config import AccessorConfig

T0 = 1_767_225_600.0
NODES = (
    NodeCapability(node_id="gpu-a", gpu_type="A100"),
    NodeCapability(node_id="gpu-b", gpu_type="H100"),
)


class FakeClock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


class Recorder:
    """A callback that records its calls and answers `result` (or raises it)."""

    def __init__(self, result: Any = None) -> None:
        self.result = result
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


class Monitor:
    """The reference's backpressure monitor shape: async `get_signal()` with five pressures."""

    def __init__(self, pressure: float = 0.0, **extra: Any) -> None:
        self.pressure = pressure
        self.fail: Exception | None = None
        self.__dict__.update(extra)

    async def get_signal(self) -> SimpleNamespace:
        if self.fail is not None:
            raise self.fail
        p = self.pressure
        return SimpleNamespace(
            queue_pressure=p,
            training_pressure=p,
            disk_pressure=p,
            sync_pressure=p,
            memory_pressure=p,
        )


@pytest.fixture(autouse=True)
def _no_singleton() -> Iterator[None]:
    reset_selfplay_scheduler()
    yield
    reset_selfplay_scheduler()


def with_nodes(**kwargs: Any) -> tuple[SelfplayScheduler, FakeClock]:
    clock = FakeClock()
    scheduler = SelfplayScheduler(clock=clock, **kwargs)
    scheduler.apply_event(SourcesRefreshed(nodes=NODES))
    return scheduler, clock


def total(batch: dict[str, dict[str, int]]) -> int:
    return sum(sum(per_node.values()) for per_node in batch.values())


# --- constructor ----------------------------------------------------------------------------------


async def test_every_reference_callback_is_accepted_and_the_unused_ones_are_never_called() -> None:
    callbacks = {name: Recorder(True) for name in UNUSED_CALLBACKS}
    scheduler, _ = with_nodes(
        **callbacks,
        record_utilization_fn=Recorder(),
        get_host_targets_fn=Recorder(SimpleNamespace(max_selfplay=10)),
        get_target_job_count_fn=Recorder(20),
        should_scale_up_fn=Recorder((False, "")),
        should_scale_down_fn=Recorder((False, 0, "")),
        get_max_selfplay_for_node_fn=Recorder(40),
        is_emergency_active_fn=Recorder(False),
        backpressure_monitor=Monitor(),
        verbose=True,
    )
    assert len(UNUSED_CALLBACKS) == 7
    await scheduler.get_priority_configs()
    scheduler.get_priority_configs_sync()
    assert total(await scheduler.allocate_selfplay_batch()) > 0
    # unified path: count 20, capped by max_selfplay 10
    assert (
        scheduler.get_target_jobs_for_node(SimpleNamespace(node_id="gpu-a", selfplay_jobs=4)) == 10
    )
    assert all(not recorder.calls for recorder in callbacks.values())
    assert scheduler.callbacks.get_cluster_elo_fn is callbacks["get_cluster_elo_fn"]
    assert scheduler.verbose is True


def test_the_reference_positional_order_is_kept() -> None:
    fns = [Recorder() for _ in range(14)]
    scheduler = SelfplayScheduler(*fns)
    assert scheduler.callbacks.get_cluster_elo_fn is fns[0]
    assert scheduler.callbacks.get_max_selfplay_for_node_fn is fns[11]
    assert scheduler.callbacks.is_emergency_active_fn is fns[13]


def test_singleton_get_and_reset() -> None:
    first = get_selfplay_scheduler()
    assert isinstance(first, SelfplayScheduler)
    assert get_selfplay_scheduler() is first
    assert first.subscribed
    reset_selfplay_scheduler()
    assert get_selfplay_scheduler() is not first


class ClosableAccessor:
    """An accessor of the user's: it must stay open when the scheduler is reset."""

    def __init__(self) -> None:
        self.closed = 0

    async def snapshot(self) -> None:
        return None

    def status(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        self.closed += 1


async def test_reset_closes_the_callbacks_accessor_it_made_and_not_the_users() -> None:
    users = ClosableAccessor()
    first = get_selfplay_scheduler(
        backpressure_monitor=Monitor(),
        accessor=users,
        accessor_config=AccessorConfig(ttl_seconds=1e-9),  # every snapshot reads again
    )
    made = first.callback_accessor
    assert made is not None
    assert made.inner is users
    assert "backpressure_monitor" not in (await made.snapshot()).failures
    reset_selfplay_scheduler()
    assert not first.subscribed
    assert users.closed == 0
    failures = (await made.snapshot()).failures
    assert "after shutdown" in failures["backpressure_monitor"]


def test_a_shell_singleton_is_not_silently_taken_for_a_compat_one() -> None:
    from selfplay_shell import get_selfplay_scheduler as shell_singleton

    shell_singleton()
    with pytest.raises(TypeError, match="reset_selfplay_scheduler"):
        get_selfplay_scheduler()


# --- string keys ----------------------------------------------------------------------------------


def test_every_config_has_a_record_with_its_string_key() -> None:
    scheduler = SelfplayScheduler()
    for config in ALL_CONFIGS:
        record = scheduler.get_config_priority(config)
        assert isinstance(record, ConfigPriority)
        assert record.config_key == config
    assert scheduler.get_config_priority("hex8_9p") is None
    assert scheduler.get_config_priority("invalid_config") is None


async def test_string_keys_end_to_end() -> None:
    scheduler, _clock = with_nodes()
    scheduler.apply_event(
        SourcesRefreshed(
            game_counts={
                **dict.fromkeys(ALL_CONFIGS, 5000),
                "hexagonal_4p": 40,
                "hex8_2p": 120_000,
            },
            staleness_hours={"hex8_3p": 10.0},
        )
    )
    assert scheduler.boost_config_allocation("hex8_3p", 1.5)
    assert scheduler.set_target_training_samples("hex8_2p", 100_000)
    assert scheduler.get_games_needed("hex8_2p") == 0
    ranked = scheduler.get_priority_configs_sync()
    assert [score for _, score in ranked] == sorted((score for _, score in ranked), reverse=True)
    assert ranked[0][0] == "hexagonal_4p"  # 40 games: ×10 starvation, ×4 players
    assert all(isinstance(key, str) for key, _ in ranked)
    assert len(ranked) == 12
    only = scheduler.get_priority_configs_sync(top_n=1, filter_configs=["hex8_2p", "hex8_3p"])
    assert [key for key, _ in only] == ["hex8_3p"]
    batch = await scheduler.allocate_selfplay_batch(games_per_config=500)
    assert all(isinstance(key, str) for key in batch)
    assert "hexagonal_4p" in batch
    record = scheduler.get_config_priority("hexagonal_4p")
    assert record is not None
    assert record.games_allocated == sum(batch["hexagonal_4p"].values())
    assert set(record.nodes_allocated) == set(batch["hexagonal_4p"])
    assert record.priority_score == dict(ranked)["hexagonal_4p"]
    assert record.game_count == 40
    assert record.elo_uncertainty == pytest.approx(300 / 40**0.5)
    assert scheduler.get_config_priority("hex8_3p").staleness_hours == 10.0  # type: ignore[union-attr]


def test_health_check_is_the_reference_shape() -> None:
    result = SelfplayScheduler().health_check()
    assert isinstance(result.healthy, bool)
    assert isinstance(result.message, str)
    assert "priority_age_seconds" in result.details


# --- the newer calls change the next batch --------------------------------------------------------


async def test_pause_spawning_empties_every_batch_until_resumed() -> None:
    scheduler, clock = with_nodes()
    assert total(await scheduler.allocate_selfplay_batch()) > 0
    scheduler.pause_spawning()
    clock.t += 3600
    assert await scheduler.allocate_selfplay_batch() == {}
    last = scheduler.last_allocation
    assert last is not None
    assert last.explanation.mode == "paused"
    assert "spawning paused (pause_spawning)" in last.explanation.summary
    assert "Spawning paused" in scheduler.health_check().message
    scheduler.resume_spawning()
    assert total(await scheduler.allocate_selfplay_batch()) > 0


async def test_activate_backpressure_empties_batches_for_its_duration() -> None:
    scheduler, clock = with_nodes()
    scheduler.activate_backpressure(reason="sync_failed:gpu-a", duration_seconds=300)
    assert await scheduler.allocate_selfplay_batch() == {}
    assert "sync_failed:gpu-a" in scheduler.last_allocation.explanation.summary  # type: ignore[union-attr]
    clock.t += 299.5
    assert await scheduler.allocate_selfplay_batch() == {}
    clock.t += 0.5
    assert total(await scheduler.allocate_selfplay_batch()) > 0


async def test_a_timed_pause_never_shortens_an_open_ended_one() -> None:
    scheduler, clock = with_nodes()
    scheduler.pause_spawning()
    scheduler.activate_backpressure("sync_failed", 10)
    clock.t += 60
    assert await scheduler.allocate_selfplay_batch() == {}
    scheduler.resume_spawning()
    assert total(await scheduler.allocate_selfplay_batch()) > 0


async def test_node_events_keep_the_pause() -> None:
    scheduler, _clock = with_nodes()
    scheduler.pause_spawning()
    scheduler.handle_event({"node_id": "gpu-b"}, "NODE_UNHEALTHY")
    scheduler.handle_event({"node_id": "gpu-b"}, "NODE_RECOVERED")
    scheduler.handle_event({}, "P2P_CLUSTER_HEALTHY")
    assert await scheduler.allocate_selfplay_batch() == {}


async def test_the_pause_is_in_the_log_and_replays() -> None:
    from selfplay_core import SchedulerState, reduce

    log: list[Any] = []
    scheduler, _clock = with_nodes(log=_Log(log))
    scheduler.activate_backpressure("disk", 120)
    await scheduler.allocate_selfplay_batch()
    state = SchedulerState.initial()
    for envelope in log:
        state = reduce(state, envelope).state
    assert state == scheduler.state
    assert [e.type for e in log].count("spawning_paused") == 1


class _Log:
    def __init__(self, into: list[Any]) -> None:
        self.into = into

    def append(self, envelope: Any) -> None:
        self.into.append(envelope)


# --- backpressure monitor and emergency callback --------------------------------------------------


async def test_a_monitor_that_says_pause_empties_the_next_batch() -> None:
    monitor = Monitor(pressure=1.0)
    scheduler, _ = with_nodes(backpressure_monitor=monitor)
    assert await scheduler.allocate_selfplay_batch() == {}
    assert scheduler.last_allocation.explanation.mode == "paused"  # type: ignore[union-attr]


async def test_a_monitor_throttle_scales_the_batch() -> None:
    # overall pressure 0.6 → spawn-rate multiplier 1 − (0.6 − 0.3)/0.6 = 0.5 → G 250
    scheduler, _ = with_nodes(backpressure_monitor=Monitor(pressure=0.6))
    await scheduler.allocate_selfplay_batch(games_per_config=500)
    explanation = scheduler.last_allocation.explanation  # type: ignore[union-attr]
    assert explanation.throttle_multiplier == pytest.approx(0.5)
    assert explanation.effective_games_per_config == 250


async def test_the_monitors_queue_depth_feeds_the_dynamic_weights() -> None:
    scheduler = SelfplayScheduler(backpressure_monitor=Monitor(_last_queue_depth=11.9))
    await scheduler.refresh_sources()
    # §score: no nodes with queue 11 → staleness 0.15 (clamped from 0.126)
    assert dynamic_weights(scheduler.state, scheduler.policy).staleness == 0.15


async def test_a_failing_monitor_keeps_its_last_signal_and_says_so() -> None:
    monitor = Monitor(pressure=1.0)
    scheduler, _ = with_nodes(
        backpressure_monitor=monitor, accessor_config=AccessorConfig(ttl_seconds=1e-9)
    )
    await scheduler.refresh_sources()
    monitor.fail = RuntimeError("queue monitor down")
    await scheduler.refresh_sources()
    assert scheduler.decide_batch().explanation.mode == "paused"
    health = scheduler.accessor.status()["backpressure_monitor"]  # type: ignore[union-attr]
    assert health.state == "degraded"
    assert "queue monitor down" in (health.reason or "")
    assert health.serving_last_good
    assert "backpressure_monitor" in scheduler.health_check().message


async def test_emergency_callback_sets_job_targets_to_zero() -> None:
    emergency = Recorder(True)
    scheduler, _ = with_nodes(is_emergency_active_fn=emergency)
    node = SimpleNamespace(node_id="n", gpu_name="RTX 4090", has_gpu=True, cpu_count=32)
    assert scheduler.get_target_jobs_for_node(node) > 0
    await scheduler.refresh_sources()
    assert emergency.calls
    assert scheduler.get_target_jobs_for_node(node) == 0


# --- per-node callbacks (§job-targets, verified examples) ---------------------------------

BASE = {
    "node_id": "rtx",
    "gpu_name": "RTX 4090",
    "has_gpu": True,
    "cpu_count": 32,
    "memory_gb": 128,
    "cpu_percent": 50.0,
    "memory_percent": 60.0,
    "disk_percent": 40.0,
    "gpu_percent": 55.0,
    "gpu_memory_percent": 50.0,
    "selfplay_jobs": 4,
}


def node(**changes: Any) -> SimpleNamespace:
    return SimpleNamespace(**{**BASE, **changes})


def unified(
    count: int, cap: int | None, up: bool = False, down: int | None = None
) -> SelfplayScheduler:
    return SelfplayScheduler(
        get_host_targets_fn=Recorder(
            SimpleNamespace(max_selfplay=cap) if cap is not None else object()
        ),
        get_target_job_count_fn=Recorder(count),
        should_scale_up_fn=Recorder((up, "reason")),
        should_scale_down_fn=Recorder((down is not None, down or 0, "reason")),
    )


def test_reference_job_target_examples_through_the_callbacks() -> None:
    assert SelfplayScheduler().get_target_jobs_for_node(node()) == 6
    assert unified(20, 10, up=True).get_target_jobs_for_node(node()) == 8
    assert unified(20, 10).get_target_jobs_for_node(node()) == 10
    assert unified(20, 10, down=6).get_target_jobs_for_node(node()) == 1
    assert unified(0, None).get_target_jobs_for_node(node()) == 1
    limit = SelfplayScheduler(get_max_selfplay_for_node_fn=Recorder(40))
    assert limit.get_target_jobs_for_node(node(gpu_percent=70.0)) == 40


def test_a_raising_host_target_callback_falls_back_to_the_table() -> None:
    scheduler = SelfplayScheduler(
        get_host_targets_fn=Recorder(RuntimeError("no targets")),
        get_target_job_count_fn=Recorder(20),
    )
    assert scheduler.get_target_jobs_for_node(node()) == 6


def test_callbacks_receive_the_reference_arguments() -> None:
    record, count, up, down, limit = (
        Recorder(),
        Recorder(20),
        Recorder((False, "")),
        Recorder((False, 0, "")),
        Recorder(7),
    )
    SelfplayScheduler(
        record_utilization_fn=record,
        get_host_targets_fn=Recorder(SimpleNamespace(max_selfplay=10)),
        get_target_job_count_fn=count,
        should_scale_up_fn=up,
        should_scale_down_fn=down,
    ).get_target_jobs_for_node(node(cpu_count=0))
    assert record.calls == [(("rtx", 50.0, 55.0, 60.0, 4), {})]
    assert count.calls == [(("rtx", 8, 50.0, 55.0), {})]
    assert up.calls == [(("rtx", 50.0, 55.0, 4), {})]
    assert down.calls == [(("rtx", 50.0, 55.0, 60.0), {})]
    SelfplayScheduler(get_max_selfplay_for_node_fn=limit).get_target_jobs_for_node(node())
    assert limit.calls == [
        (
            (),
            {
                "node_id": "rtx",
                "gpu_count": 1,
                "gpu_name": "RTX 4090",
                "cpu_count": 32,
                "memory_gb": 128,
                "has_gpu": True,
            },
        )
    ]
