"""The facade's costs: applying bus-shaped events through the single writer (decode + lock +
reduce [+ log]), events from 4 threads through the bus onto the loop, a recorded decision, and
the status surface (health, status, top priorities) on 24 nodes."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks._timing import median_seconds, throughput
from selfplay_core.cluster import NodeCapability
from selfplay_core.configs import ALL_CONFIGS
from selfplay_core.events import SourcesRefreshed
from selfplay_shell.bus import EventBus
from selfplay_shell.eventlog import EventLog
from selfplay_shell.scheduler import SelfplayScheduler

N_EVENTS = 20_000
NODES = tuple(NodeCapability(f"gpu-{i:02d}", "H100", 80.0, current_load=0.3) for i in range(24))
PAYLOADS = [
    ("elo_updated", {"config_key": str(ALL_CONFIGS[i % 12]), "new_elo": 1500.0 + i % 300})
    if i % 3 == 0
    else ("selfplay_complete", {"config_key": str(ALL_CONFIGS[i % 12])})
    if i % 3 == 1
    else ("node_overloaded", {"host": NODES[i % 24].node_id, "resource_type": "gpu"})
    for i in range(N_EVENTS)
]


def _scheduler(log: Any = None) -> SelfplayScheduler:
    t = [1_767_225_600.0]

    def clock() -> float:
        t[0] += 0.01
        return t[0]

    scheduler = SelfplayScheduler(clock=clock, log=log)
    scheduler.apply_event(
        SourcesRefreshed(
            nodes=NODES,
            game_counts={key: 500 * (key.index + 1) for key in ALL_CONFIGS},
            current_elos={key: 1500.0 + 20 * key.index for key in ALL_CONFIGS},
        )
    )
    return scheduler


def _publish_all(scheduler: SelfplayScheduler) -> int:
    for event_type, payload in PAYLOADS:
        scheduler.publish(event_type, payload)
    return len(PAYLOADS)


def _bus_from_threads() -> float:
    """Events per second from 4 publishing threads, through the bus, applied on the loop."""

    async def run() -> float:
        scheduler = _scheduler()
        bus = EventBus()
        scheduler.subscribe_to_events(bus)
        bus.bind()
        chunks = [PAYLOADS[i::4] for i in range(4)]

        def produce(chunk: list[tuple[str, dict[str, Any]]]) -> None:
            for event_type, payload in chunk:
                bus.publish(event_type, payload)

        start = time.perf_counter()
        threads = [threading.Thread(target=produce, args=(chunk,)) for chunk in chunks]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            await asyncio.sleep(0.001)
        await bus.drain()
        elapsed = time.perf_counter() - start
        assert scheduler.state.applied == N_EVENTS + 1
        return N_EVENTS / elapsed

    return asyncio.run(run())


def _loop_lag_under_thread_load(tmp: str, *, shared: bool = True) -> dict[str, float]:
    """The loop's worst heartbeat lag while 4 threads apply events flat out directly (contending
    for the writer lock with the loop, which applies bus messages and decides), logged with the
    default fsync policy. With `shared=False` each thread feeds a private scheduler instead, so
    the lag is the GIL's alone: the comparison says how much the writer lock adds."""

    async def run() -> dict[str, float]:
        with EventLog(Path(tmp) / "lag.jsonl") as log:
            scheduler = _scheduler(log)
            bus = EventBus()
            scheduler.subscribe_to_events(bus)
            bus.bind()
            chunks = [PAYLOADS[i::4] for i in range(4)]
            lags: list[float] = []
            stop = False

            async def heartbeat() -> None:
                while not stop:
                    start = time.perf_counter()
                    await asyncio.sleep(0.001)
                    lags.append(time.perf_counter() - start - 0.001)

            def produce(chunk: list[tuple[str, dict[str, Any]]]) -> None:
                target = scheduler if shared else _scheduler()
                for event_type, payload in chunk:
                    target.publish(event_type, payload)

            beat = asyncio.get_running_loop().create_task(heartbeat())
            threads = [threading.Thread(target=produce, args=(chunk,)) for chunk in chunks]
            for thread in threads:
                thread.start()
            while any(thread.is_alive() for thread in threads):
                bus.publish("selfplay_complete", {"config_key": "hex8_2p"})
                scheduler.decide_batch()
                await asyncio.sleep(0.005)
            stop = True
            await beat
            lags.sort()
            prefix = "loop_lag" if shared else "loop_lag_gil_only"
            return {
                f"{prefix}_max_ms": round(lags[-1] * 1e3, 2),
                f"{prefix}_p99_ms": round(lags[int(len(lags) * 0.99)] * 1e3, 2),
            }

    return asyncio.run(run())


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        logged = 0.0
        for i in range(3):
            with EventLog(Path(tmp) / f"events-{i}.jsonl", fsync="never") as log:
                logged = max(logged, N_EVENTS / _timed(_scheduler(log)))
        lag = {
            **_loop_lag_under_thread_load(tmp),
            **_loop_lag_under_thread_load(tmp, shared=False),
        }
    busy = _scheduler()
    for event_type, payload in PAYLOADS[:2000]:
        busy.publish(event_type, payload)
    return {
        "events": N_EVENTS,
        "publish_per_s": round(throughput(lambda: _publish_all(_scheduler()), repeat=3)),
        "publish_with_log_per_s": round(logged),
        "bus_4_threads_per_s": round(max(_bus_from_threads() for _ in range(2))),
        "tick_us": round(median_seconds(busy.tick, repeat=500) * 1e6, 1),
        "decide_batch_ms": round(median_seconds(busy.decide_batch, repeat=50) * 1e3, 3),
        "health_check_us": round(median_seconds(busy.health_check, repeat=200) * 1e6, 1),
        "get_status_us": round(median_seconds(busy.get_status, repeat=200) * 1e6, 1),
        "top_priorities_us": round(
            median_seconds(lambda: busy.get_top_priorities(5), repeat=200) * 1e6, 1
        ),
        **lag,
    }


def _timed(scheduler: SelfplayScheduler) -> float:
    """Seconds to publish every payload once (returns elapsed; the caller divides)."""
    start = time.perf_counter()
    _publish_all(scheduler)
    return time.perf_counter() - start
