"""The Lua scripts against a real Redis: fencing, the lease, the decision's position check, and
the trimming rule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
import redis.asyncio
from service_harness import STREAM, RedisServer, stream_entries

from selfplay_core.configs import ALL_CONFIGS
from selfplay_core.events import Envelope, SelfplayComplete, Tick, make_envelope
from selfplay_shell.redis import RedisPublisher, StreamNames
from selfplay_shell.redis.fencing import Behind, Leadership, Stale, Written

NAMES = StreamNames(STREAM)


def _event(i: int) -> Envelope:
    return make_envelope(SelfplayComplete(ALL_CONFIGS[i % 12]), id=f"p-{i}", at=1.0 + i, source="t")


def _tick(i: int) -> Envelope:
    return make_envelope(Tick(at=float(i)), id=f"t-{i}", at=float(i), source="leader")


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    connection = redis.asyncio.Redis.from_url(redis_server.url)
    yield connection
    await connection.aclose()


async def test_each_acquisition_gets_a_larger_token_and_a_held_lease_is_not_taken(
    client: redis.asyncio.Redis,
) -> None:
    first = Leadership(client, NAMES, "a", lease_ms=60_000, cap=1000)
    second = Leadership(client, NAMES, "b", lease_ms=60_000, cap=1000)
    assert await first.try_acquire() == 1
    assert await second.try_acquire() is None
    await first.release()
    assert await second.try_acquire() == 2
    assert await first.try_acquire() is None


async def test_a_stale_leaders_write_is_refused_and_it_steps_down(
    client: redis.asyncio.Redis, redis_server: RedisServer
) -> None:
    old = Leadership(client, NAMES, "old", lease_ms=60_000, cap=1000)
    new = Leadership(client, NAMES, "new", lease_ms=60_000, cap=1000)
    assert await old.try_acquire() == 1
    await client.delete(NAMES.lease)  # the lease ran out while `old` was paused
    assert await new.try_acquire() == 2

    assert await old.write([_tick(1)], after=None) == Stale(2)
    assert not old.leading
    assert not await Leadership(client, NAMES, "old", 60_000, 1000).renew()
    written = await new.write([_tick(2)], after=None)
    assert isinstance(written, Written)

    entries = stream_entries(redis_server.client())
    assert [(fields["fence"], sid) for sid, fields in entries] == [("2", written.ids[0])]


async def test_renewing_a_lease_taken_over_fails(client: redis.asyncio.Redis) -> None:
    old = Leadership(client, NAMES, "old", lease_ms=60_000, cap=1000)
    assert await old.try_acquire() == 1
    assert await old.renew()
    await client.delete(NAMES.lease)
    assert await Leadership(client, NAMES, "new", 60_000, 1000).try_acquire() == 2
    assert not await old.renew()
    assert not old.leading


async def test_a_decision_is_written_only_right_after_what_its_leader_read(
    client: redis.asyncio.Redis,
) -> None:
    leader = Leadership(client, NAMES, "a", lease_ms=60_000, cap=1000)
    await leader.try_acquire()
    first = await leader.write([_tick(1)], after="0-0")  # an empty stream ends at 0-0
    assert isinstance(first, Written)
    other: Any = await client.xadd(STREAM, {"envelope": b"{}"})
    outcome = await leader.write([_tick(2)], after=first.ids[0])
    assert outcome == Behind(other.decode())
    assert leader.leading  # being behind is not being stale
    assert isinstance(await leader.write([_tick(2)], after=other.decode()), Written)


def test_publishers_may_not_write_scheduler_events(redis_server: RedisServer) -> None:
    with (
        RedisPublisher(redis_server.url, STREAM) as publisher,
        pytest.raises(ValueError, match="tick"),
    ):
        publisher.publish(_tick(1))
    assert redis_server.client().xlen(STREAM) == 0


def _group_reads(client: redis.Redis, count: int, *, ack: bool = True) -> list[bytes]:
    reply: Any = client.xreadgroup("g", "c", {STREAM: ">"}, count=count)
    ids = [sid for _, batch in reply for sid, _ in batch]
    if ack and ids:
        client.xack(STREAM, "g", *ids)
    return ids


def test_the_cap_never_trims_what_a_live_replica_has_not_read(redis_server: RedisServer) -> None:
    client = redis_server.client()
    client.xgroup_create(STREAM, "g", id="0", mkstream=True)
    with RedisPublisher(redis_server.url, STREAM, cap=10) as publisher:
        ids = publisher.publish_many(_event(i) for i in range(30))
        assert client.xlen(STREAM) == 30  # nothing read: nothing may go

        _group_reads(client, 20)
        ids += publisher.publish_many([_event(30)])
        # the group's last delivered entry (the 20th) and everything after it stay
        assert [sid for sid, _ in stream_entries(client)] == ids[19:]

        pending = _group_reads(client, 5, ack=False)  # read, not acknowledged
        ids += publisher.publish_many([_event(31)])
        assert stream_entries(client)[0][0] == pending[0].decode()

        client.xack(STREAM, "g", *pending)
        _group_reads(client, 100)
        ids += publisher.publish_many([_event(32)])
        assert [sid for sid, _ in stream_entries(client)] == ids[-10:]  # the plain cap again


async def test_the_async_publisher_appends_in_order(redis_server: RedisServer) -> None:
    async with RedisPublisher(redis_server.url, STREAM) as publisher:
        ids = await publisher.apublish_many(_event(i) for i in range(1200))  # several chunks
        ids.append(await publisher.apublish(_event(1200)))
    entries = stream_entries(redis_server.client())
    assert [sid for sid, _ in entries] == ids
    assert [f'"p-{i}"' in fields["envelope"] for i, (_, fields) in enumerate(entries)] == [
        True
    ] * 1201
