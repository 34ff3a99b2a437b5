"""`StreamPosition`: where a replica stands in the input stream, recorded in Redis.

A replica reads the stream with `XREAD` from its position, and after each batch is logged and
applied it records the batch's last id as its consumer group's last delivered id (`XGROUP
SETID`, with the group's entries-read count so Redis keeps computing the lag). So:

- everything up to the recorded id is in the replica's local log; a replica that stopped
  between its log and the record reads that batch again, and its ids drop out as duplicates;
- Redis knows every replica's position (`XINFO GROUPS`), which the trimming rule reads: no
  entry past it is ever trimmed;
- Redis does no per-entry bookkeeping. `XREADGROUP` would add each delivered entry to the
  group's pending list and write it to the AOF, and each would then need an `XACK`: several
  times Redis's work per entry (measured: docs/redis.md, "A position per replica").

A group left with pending entries (by an older version of the service, which read with
`XREADGROUP`) is rewound to just before its oldest pending entry and its pending list cleared,
so nothing it delivered but maybe never logged is skipped.
"""

from __future__ import annotations

from typing import Any, Final

import redis.asyncio
from redis.exceptions import ResponseError

from selfplay_shell.redis.streams import reply_text

__all__ = ["START", "StreamPosition", "id_before", "is_missing_group"]

#: The position before the stream's first entry.
START: Final = "0-0"
_MAX_SEQUENCE: Final = 2**64 - 1


def id_before(stream_id: str) -> str:
    """The largest stream id below `stream_id` (`XREAD` returns entries after the id given)."""
    millis, sequence = (int(part) for part in stream_id.split("-"))
    if sequence:
        return f"{millis}-{sequence - 1}"
    return f"{millis - 1}-{_MAX_SEQUENCE}" if millis else START


def is_missing_group(error: ResponseError) -> bool:
    """Whether `error` says the group (or the whole stream) is gone: Redis lost its data."""
    text = str(error)
    return "NOGROUP" in text or "requires the key to exist" in text


class StreamPosition:
    """This replica's position (`id`, and `entries_read` when known) and what Redis holds."""

    def __init__(self, client: redis.asyncio.Redis, stream: str, group: str) -> None:
        self.client = client
        self.stream = stream
        self.group = group
        self.id = START
        self.entries_read: int | None = 0
        self._recorded: str | None = None  # the id Redis holds, if known to be current

    async def info(self) -> dict[Any, Any] | None:
        """This replica's group as `XINFO GROUPS` describes it (position, entries read, lag,
        pending), or None when the stream or the group is gone."""
        if not await self.client.exists(self.stream):
            return None
        for group in await self.client.xinfo_groups(self.stream):
            if reply_text(group["name"]) == self.group:
                return dict(group)
        return None

    async def load(self) -> bool:
        """Take the group's recorded position; False when there is no such group."""
        group = await self.info()
        if group is None:
            return False
        self.id = reply_text(group["last-delivered-id"])
        read = group.get("entries-read")
        self.entries_read = int(read) if read is not None else None
        if int(group["pending"]):
            await self._forget_pending()
        if self.entries_read is None and self.id == START:
            self.entries_read = 0
        self._recorded = self.id
        return True

    async def create(self, start: str) -> None:
        """Create the group at `start` (a new replica: the stream's beginning)."""
        self.id = start
        self.entries_read = 0 if start == START else None
        try:
            await self.client.xgroup_create(
                self.stream, self.group, id=start, mkstream=True, entries_read=self.entries_read
            )
        except ResponseError as error:  # BUSYGROUP: created meanwhile (a race): record ours
            if "BUSYGROUP" not in str(error):
                raise
            self._recorded = None
        else:
            self._recorded = start

    def advance(self, last_id: str, entries: int) -> None:
        """A batch of `entries` stream entries up to `last_id` is logged and applied."""
        self.id = last_id
        if self.entries_read is not None:
            self.entries_read += entries

    async def record(self) -> None:
        """Record the position in Redis unless it is there already (one command per batch)."""
        if self._recorded == self.id:
            return
        await self.client.xgroup_setid(
            self.stream, self.group, self.id, entries_read=self.entries_read
        )
        self._recorded = self.id

    async def _forget_pending(self) -> None:
        summary: Any = await self.client.xpending(self.stream, self.group)
        self.id = id_before(reply_text(summary["min"]))
        self.entries_read = None
        # first move back (so no trim passes the pending entries), then clear the list
        await self.client.xgroup_setid(self.stream, self.group, self.id)
        pending: Any = await self.client.xpending_range(
            self.stream, self.group, min="-", max="+", count=int(summary["pending"])
        )
        await self.client.xack(self.stream, self.group, *(p["message_id"] for p in pending))
