"""A replica's recorded position against a real Redis: created at the stream's start, recorded
after each batch with the lag kept, and a group an older version left with pending entries
rewound so nothing it delivered is skipped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio
from hypothesis import given
from hypothesis import strategies as st
from service_harness import STREAM, RedisServer

from selfplay_shell.redis.position import START, StreamPosition, id_before

GROUP = "replica:r1"


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    connection = redis.asyncio.Redis.from_url(redis_server.url)
    yield connection
    await connection.aclose()


async def _group(client: redis.asyncio.Redis) -> dict[str, Any]:
    groups: Any = await client.xinfo_groups(STREAM)
    return next(g for g in groups if g["name"] == GROUP.encode())


@given(st.integers(0, 2**48), st.integers(0, 2**64 - 1))
def test_the_id_before_is_the_largest_smaller_id(millis: int, sequence: int) -> None:
    stream_id = f"{millis}-{sequence}"
    before = id_before(stream_id)
    if stream_id == START:
        assert before == START
        return
    b_millis, b_sequence = (int(part) for part in before.split("-"))
    assert (b_millis, b_sequence) < (millis, sequence)
    assert 0 <= b_sequence <= 2**64 - 1
    # nothing in between: the next id after `before` is `stream_id`
    if b_sequence < 2**64 - 1:
        assert (b_millis, b_sequence + 1) == (millis, sequence)
    else:
        assert (b_millis + 1, 0) == (millis, sequence)


async def test_a_new_replica_starts_at_the_beginning_and_records_each_batch(
    client: redis.asyncio.Redis,
) -> None:
    position = StreamPosition(client, STREAM, GROUP)
    assert not await position.load()
    await position.create(START)
    ids = [await client.xadd(STREAM, {"n": str(i)}) for i in range(10)]
    assert (await _group(client))["lag"] == 10

    position.advance(ids[3].decode(), 4)
    await position.record()
    group = await _group(client)
    assert group["last-delivered-id"] == ids[3]
    assert group["pending"] == 0
    assert group["lag"] == 6  # Redis still counts what is left to read

    again = StreamPosition(client, STREAM, GROUP)
    assert await again.load()
    assert (again.id, again.entries_read) == (ids[3].decode(), 4)


async def test_pending_entries_of_an_older_reader_are_read_again(
    client: redis.asyncio.Redis,
) -> None:
    ids = [await client.xadd(STREAM, {"n": str(i)}) for i in range(10)]
    await client.xgroup_create(STREAM, GROUP, id="0")
    await client.xreadgroup(GROUP, "r1", {STREAM: ">"}, count=3)
    await client.xack(STREAM, GROUP, ids[0])
    await client.xreadgroup(GROUP, "r1", {STREAM: ">"}, count=4)  # delivered up to ids[6]

    position = StreamPosition(client, STREAM, GROUP)
    assert await position.load()
    assert position.id == id_before(ids[1].decode())  # ids[1] was the oldest pending
    reply: Any = await client.xread({STREAM: position.id})
    assert [sid for sid, _ in reply[0][1]] == ids[1:]
    group = await _group(client)
    assert group["pending"] == 0
    assert group["last-delivered-id"] == position.id.encode()
