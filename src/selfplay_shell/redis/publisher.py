"""`RedisPublisher`: append envelopes to the service's input stream, synchronously or not.

Every batch goes through the `APPEND` script: the entries are added and the stream is trimmed
by the capped rule (`scripts` docstring: never past what a live replica still needs). Sending
an envelope again (after a timeout whose reply was lost) is harmless: replicas drop an envelope
id they have already applied. Scheduler-own events (ticks, refreshes, decisions) are the
leader's to write and are refused here with a `ValueError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final, Self

import redis
import redis.asyncio

from selfplay_core.events import SCHEDULER_EVENTS, Envelope
from selfplay_shell.redis.scripts import APPEND
from selfplay_shell.redis.streams import StreamNames, reply_text, wire_text

__all__ = ["DEFAULT_CAP", "RedisPublisher"]

#: The default stream length cap (entries); a lagging replica can hold the stream above it.
DEFAULT_CAP: Final = 1_000_000
#: Envelopes per script call: large enough to amortise the round trip, small enough that one
#: call does not hold Redis for long (a script blocks every other client while it runs).
CHUNK: Final = 500


def _texts(envelopes: Iterable[Envelope]) -> list[bytes]:
    texts = []
    for envelope in envelopes:
        if type(envelope.event) in SCHEDULER_EVENTS:
            raise ValueError(
                f"envelope {envelope.id!r}: {envelope.type} is a scheduler-own event; "
                "only the service's leader writes it"
            )
        texts.append(wire_text(envelope))
    return texts


def _chunks(texts: Sequence[bytes]) -> Iterator[Sequence[bytes]]:
    for start in range(0, len(texts), CHUNK):
        yield texts[start : start + CHUNK]


def _ids(reply: Any) -> list[str]:
    return [reply_text(i) for i in reply]


class RedisPublisher:
    """Appends envelopes to `stream` on the Redis at `url`: `publish`/`publish_many` block,
    `apublish`/`apublish_many` are their asyncio twins (each side opens its client on first
    use). Returns the stream ids of the new entries."""

    def __init__(
        self, url: str, stream: str = StreamNames().stream, *, cap: int = DEFAULT_CAP
    ) -> None:
        if cap <= 0:
            raise ValueError(f"the stream cap must be positive, got {cap}")
        self.url = url
        self.names = StreamNames(stream)
        self.cap = cap
        self._sync: redis.Redis | None = None
        self._async: redis.asyncio.Redis | None = None
        self._sync_script: Any = None
        self._async_script: Any = None

    # --- blocking ----------------------------------------------------------------------------

    def publish(self, envelope: Envelope) -> str:
        return self.publish_many([envelope])[0]

    def publish_many(self, envelopes: Iterable[Envelope]) -> list[str]:
        if self._sync is None:
            self._sync = redis.Redis.from_url(self.url)
            self._sync_script = self._sync.register_script(APPEND)
        script = self._sync_script
        ids: list[str] = []
        for chunk in _chunks(_texts(envelopes)):
            ids += _ids(script(keys=[self.names.stream], args=[self.cap, *chunk]))
        return ids

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- asyncio -----------------------------------------------------------------------------

    async def apublish(self, envelope: Envelope) -> str:
        return (await self.apublish_many([envelope]))[0]

    async def apublish_many(self, envelopes: Iterable[Envelope]) -> list[str]:
        if self._async is None:
            self._async = redis.asyncio.Redis.from_url(self.url)
            self._async_script = self._async.register_script(APPEND)
        script = self._async_script
        ids: list[str] = []
        for chunk in _chunks(_texts(envelopes)):
            ids += _ids(await script(keys=[self.names.stream], args=[self.cap, *chunk]))
        return ids

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()
            self._async = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()
