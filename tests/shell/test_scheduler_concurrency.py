"""Thousands of events from several threads and tasks at once, while the timers refresh from
the real accessor: every event is applied exactly once, in an order the log records, and the
log replays to the very same state."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path

from accessor_stores import build_all, build_queue_monitor
from returns.result import Success
from test_accessor_values import local_config

from selfplay_core import ALL_CONFIGS, Envelope, SchedulerState, reduce
from selfplay_core.events import EloUpdated
from selfplay_shell import EventBus, EventLog, SelfplayDataAccessor, SelfplayScheduler, read_log

BUS_THREADS, PER_BUS_THREAD = 4, 600  # publish on the bus from other threads
CALL_THREADS, PER_CALL_THREAD = 2, 500  # call scheduler.publish from other threads
BUS_TASKS, PER_BUS_TASK = 2, 300  # publish on the bus from tasks
CALL_TASKS, PER_CALL_TASK = 3, 300  # call scheduler.publish from tasks
DUPLICATES = 200  # ids delivered twice, by two different threads
UNIQUE = (
    BUS_THREADS * PER_BUS_THREAD
    + CALL_THREADS * PER_CALL_THREAD
    + BUS_TASKS * PER_BUS_TASK
    + CALL_TASKS * PER_CALL_TASK
    + DUPLICATES
)


def payload(producer: int, seq: int) -> dict[str, object]:
    """An ELO_UPDATED whose Elo encodes (producer, seq), so order can be checked in the log."""
    config = ALL_CONFIGS[(producer * 7 + seq) % len(ALL_CONFIGS)]
    return {"config_key": str(config), "new_elo": 1000.0 + producer * 10_000 + seq}


def producer_of(envelope: Envelope) -> tuple[int, int]:
    assert isinstance(envelope.event, EloUpdated)
    code = int(envelope.event.new_elo) - 1000
    return code // 10_000, code % 10_000


async def test_every_event_is_applied_exactly_once_under_load(tmp_path: Path) -> None:
    root = tmp_path / "ai-service"
    build_all(root)
    build_queue_monitor(root)
    accessor = SelfplayDataAccessor(root, config=local_config(ttl_seconds=0.001))
    log = EventLog(tmp_path / "events.jsonl", fsync="never")
    scheduler = SelfplayScheduler(
        accessor=accessor,
        log=log,
        refresh_interval=0.01,
        node_refresh_interval=0.02,
        tick_interval=0.005,
    )
    bus = EventBus("bus")
    scheduler.subscribe_to_events(bus)
    bus.bind()
    published: Counter[str] = Counter()
    lock = threading.Lock()

    def count(body: dict[str, object]) -> None:
        with lock:
            published[str(body["config_key"])] += 1

    def bus_thread(producer: int) -> None:
        for seq in range(PER_BUS_THREAD):
            body = payload(producer, seq)
            count(body)
            bus.publish("ELO_UPDATED", body, source=f"p{producer}")

    def call_thread(producer: int) -> None:
        for seq in range(PER_CALL_THREAD):
            body = payload(producer, seq)
            count(body)
            assert isinstance(
                scheduler.publish("elo_updated", body, source=f"p{producer}"), Success
            )

    def duplicate_thread(producer: int, start: threading.Barrier) -> None:
        start.wait()
        for seq in range(DUPLICATES):  # the same ids as the twin thread: one of each applies
            scheduler.publish("elo_updated", payload(producer, seq), id=f"dup-{seq}")

    async def bus_task(producer: int) -> None:
        for seq in range(PER_BUS_TASK):
            body = payload(producer, seq)
            count(body)
            bus.publish("elo_updated", body, source=f"p{producer}")
            if seq % 25 == 0:
                await asyncio.sleep(0)

    async def call_task(producer: int) -> None:
        for seq in range(PER_CALL_TASK):
            body = payload(producer, seq)
            count(body)
            scheduler.publish("elo_updated", body, source=f"p{producer}")
            if seq % 10 == 0:
                await asyncio.sleep(0)

    try:
        async with scheduler:
            twins = threading.Barrier(2)
            for seq in range(DUPLICATES):
                count(payload(19, seq))
            threads = [
                *(threading.Thread(target=bus_thread, args=(i,)) for i in range(BUS_THREADS)),
                *(
                    threading.Thread(target=call_thread, args=(10 + i,))
                    for i in range(CALL_THREADS)
                ),
                threading.Thread(target=duplicate_thread, args=(19, twins)),
                threading.Thread(target=duplicate_thread, args=(19, twins)),
            ]
            for thread in threads:
                thread.start()
            await asyncio.gather(
                *(bus_task(4 + i) for i in range(BUS_TASKS)),
                *(call_task(6 + i) for i in range(CALL_TASKS)),
            )
            while any(thread.is_alive() for thread in threads):
                await asyncio.sleep(0.005)
            await bus.drain()
            await asyncio.sleep(0.05)  # a few more refreshes and ticks after the storm
        log.close()
    finally:
        accessor.close()

    state = scheduler.state
    recorded = [record.result.unwrap() for record in read_log(tmp_path / "events.jsonl")]
    elo_events = [e for e in recorded if e.type == "elo_updated"]
    types = Counter(e.type for e in recorded)

    # exactly once: every distinct event is in the log once, and nothing else is
    assert sum(published.values()) == UNIQUE
    assert len(elo_events) == UNIQUE
    assert len({e.id for e in recorded}) == len(recorded)
    assert sum(1 for e in elo_events if e.id.startswith("dup-")) == DUPLICATES
    assert state.applied == len(recorded)
    assert scheduler.events_rejected == 0
    assert bus.handler_errors == 0
    # ...and in the state: each ELO_UPDATED adds one point to its config's history
    assert {str(k): len(h) for k, h in state.elo.history.items()} == dict(published)
    # the refreshes and ticks ran meanwhile and went through the same writer
    assert types["sources_refreshed"] >= 4
    assert types["tick"] >= 4
    assert set(types) == {"elo_updated", "sources_refreshed", "tick"}
    # each producer's events were applied in the order it sent them
    by_producer: dict[int, list[int]] = {}
    for envelope in elo_events:
        producer, seq = producer_of(envelope)
        by_producer.setdefault(producer, []).append(seq)
    for producer, seqs in by_producer.items():
        if producer != 19:  # the twins race by design
            assert seqs == sorted(seqs), producer
    # the log is the history: replaying it gives the very same state
    replayed = SchedulerState.initial()
    for envelope in recorded:
        replayed = reduce(replayed, envelope).state
    assert replayed == state
    print(f"\napplied {state.applied} envelopes: {dict(types)}")
