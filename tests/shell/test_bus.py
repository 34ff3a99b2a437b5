"""The in-process event bus: type normalisation, ids, delivery paths, isolation, drain."""

from __future__ import annotations

import asyncio
import threading

import pytest

from selfplay_shell import BusMessage, EventBus, EventSink, EventSource
from selfplay_shell.bus import ALL_EVENTS, get_event_bus, reset_event_bus


def test_bus_is_a_source_and_a_sink() -> None:
    bus = EventBus()
    assert isinstance(bus, EventSink)
    assert isinstance(bus, EventSource)


def test_without_a_loop_delivery_is_synchronous_and_types_are_normalised() -> None:
    bus = EventBus("b", run_id="")
    got: list[BusMessage] = []
    bus.subscribe("selfplay_complete", got.append)
    message = bus.publish("SELFPLAY_COMPLETE", {"config_key": "hex8_2p"}, source="p2p")
    assert got == [message]
    assert message.event_type == "selfplay_complete"
    assert message.id == "b-1"
    assert message.source == "p2p"
    assert dict(message.payload) == {"config_key": "hex8_2p"}
    assert bus.publish("selfplay_complete").id == "b-2"
    assert bus.publish("selfplay_complete", id="given").id == "given"
    assert len(got) == 3
    with pytest.raises(TypeError):
        message.payload["x"] = 1  # type: ignore[index]


def test_wildcard_and_unsubscribe() -> None:
    bus = EventBus()
    every: list[str] = []
    one: list[str] = []
    sub_all = bus.subscribe(ALL_EVENTS, lambda m: every.append(m.event_type))
    sub_one = bus.subscribe("node_unhealthy", lambda m: one.append(m.event_type))
    bus.publish("node_unhealthy", {"node_id": "a"})
    bus.publish("elo_updated", {})
    assert every == ["node_unhealthy", "elo_updated"]
    assert one == ["node_unhealthy"]
    assert sub_one.active
    sub_one.unsubscribe()
    sub_one.unsubscribe()  # idempotent
    assert not sub_one.active
    bus.publish("node_unhealthy", {"node_id": "b"})
    assert one == ["node_unhealthy"]
    assert every[-1] == "node_unhealthy"
    sub_all.unsubscribe()
    assert bus.subscriber_count() == 0


def test_a_failing_handler_is_counted_and_isolated() -> None:
    bus = EventBus(run_id="")
    got: list[str] = []

    def broken(_message: BusMessage) -> None:
        raise RuntimeError("handler bug")

    bus.subscribe("tick", broken)
    bus.subscribe("tick", lambda m: got.append(m.id))
    bus.publish("tick", {"at": 1.0})
    assert got == ["bus-1"]
    assert bus.handler_errors == 1
    assert bus.delivered == 1


async def test_inside_a_loop_delivery_is_deferred_and_in_order() -> None:
    bus = EventBus()
    got: list[int] = []
    bus.subscribe("x", lambda m: got.append(m.payload["n"]))
    for n in range(100):
        bus.publish("x", {"n": n})
    assert got == []  # delivered after publish returns, like the reference's publish_sync
    await bus.drain()
    assert got == list(range(100))


async def test_coroutine_handlers_are_awaited_by_drain() -> None:
    bus = EventBus(run_id="r7")
    done: list[str] = []

    async def slow(message: BusMessage) -> None:
        await asyncio.sleep(0.01)
        done.append(message.id)

    async def failing(_message: BusMessage) -> None:
        raise ValueError("async handler bug")

    bus.subscribe("x", slow)
    bus.subscribe("x", failing)
    bus.publish("x")
    bus.publish("x")
    await bus.drain()
    assert sorted(done) == ["bus-r7-1", "bus-r7-2"]
    assert bus.handler_errors == 2
    assert bus.delivered == 2


async def test_threads_publish_onto_the_loop_thread() -> None:
    bus = EventBus()
    loop_thread = threading.get_ident()
    seen: list[tuple[int, str, int]] = []
    bus.subscribe("x", lambda m: seen.append((threading.get_ident(), m.source, m.payload["n"])))
    bus.bind()

    def producer(name: str) -> None:
        for n in range(500):
            bus.publish("x", {"n": n}, source=name)

    threads = [threading.Thread(target=producer, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        await asyncio.sleep(0.001)
    await bus.drain()
    assert len(seen) == 2000
    assert {ident for ident, _, _ in seen} == {loop_thread}
    for name in ("t0", "t1", "t2", "t3"):  # each publisher's messages keep their order
        assert [n for _, src, n in seen if src == name] == list(range(500))
    assert bus.published == bus.delivered == 2000


def test_default_bus_is_shared_until_reset() -> None:
    reset_event_bus()
    first = get_event_bus()
    assert get_event_bus() is first
    reset_event_bus()
    assert get_event_bus() is not first
    reset_event_bus()


def test_two_buses_never_give_the_same_id() -> None:
    # A bus of the next run counts from 1 again: its ids must still differ from the last run's
    # (they reach the log through the scheduler).
    ids = [EventBus().publish("tick").id for _ in range(50)]
    assert len(set(ids)) == 50
    assert all(i.startswith("bus-") and i.endswith("-1") for i in ids)
