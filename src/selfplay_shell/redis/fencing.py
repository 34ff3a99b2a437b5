"""`Leadership`: the lease, the fencing token, and the only way a leader writes.

A replica becomes leader by acquiring the lease (`SET NX PX` with `INCR` of the fence counter in
one script, so every acquisition has a larger token than any before it), keeps it by renewing
it before it runs out, and writes every envelope through `FENCED_APPEND`, which appends only if
the token is still the counter's current value. A leader that was paused or cut off past its
lease, while another replica acquired it, finds its next write refused (`Stale`) and steps
down: at no moment can two tokens write. A decision is also written only if the stream still
ends at the entry the leader last applied (`after`), so it is recorded right after the state it
was decided from and replays to the same result; otherwise the write is `Behind` and the
leader catches up and decides again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import attrs
import redis.asyncio

from selfplay_core.events import Envelope
from selfplay_shell.redis.scripts import ACQUIRE, FENCED_APPEND, RELEASE, RENEW
from selfplay_shell.redis.streams import StreamNames, reply_text, wire_text

__all__ = ["Behind", "Leadership", "Stale", "WriteOutcome", "Written"]


@attrs.frozen
class Written:
    """The entries were appended, with these stream ids."""

    ids: tuple[str, ...]


@attrs.frozen
class Stale:
    """Refused: the fence counter is at `current`, not at our token."""

    current: int


@attrs.frozen
class Behind:
    """Refused: the stream has moved on to `last_id` since the leader read it."""

    last_id: str


WriteOutcome = Written | Stale | Behind


class Leadership:
    """One replica's side of the lease (see the module docstring). `token` is None while it
    is not the leader."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        names: StreamNames,
        owner: str,
        lease_ms: int,
        cap: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.names = names
        self.owner = owner
        self.lease_ms = lease_ms
        self.cap = cap
        self._clock = clock
        self._acquire = client.register_script(ACQUIRE)
        self._renew = client.register_script(RENEW)
        self._release = client.register_script(RELEASE)
        self._append = client.register_script(FENCED_APPEND)
        self.token: int | None = None
        self.renewed_at: float | None = None

    @property
    def leading(self) -> bool:
        return self.token is not None

    def lease_age(self) -> float | None:
        """Seconds since the lease was last acquired or renewed (None when not leading)."""
        return None if self.renewed_at is None else self._clock() - self.renewed_at

    def expired(self) -> bool:
        """Whether our lease has certainly run out by our own clock (renewals failed)."""
        age = self.lease_age()
        return age is not None and age * 1000.0 >= self.lease_ms

    async def try_acquire(self) -> int | None:
        """Acquire the lease if nobody holds it; the new token, or None."""
        started = self._clock()
        token = int(
            await self._acquire(
                keys=[self.names.lease, self.names.fence], args=[self.owner, self.lease_ms]
            )
        )
        if token <= 0:
            return None
        self.token, self.renewed_at = token, started
        return token

    async def renew(self) -> bool:
        """Extend the lease; False (and no longer leading) if it is not ours any more."""
        started = self._clock()
        renewed = int(await self._renew(keys=[self.names.lease], args=[self.owner, self.lease_ms]))
        if renewed:
            self.renewed_at = started
            return True
        self.step_down()
        return False

    async def release(self) -> None:
        """Give the lease up so a standby takes over at once instead of after it expires."""
        if self.token is not None:
            await self._release(keys=[self.names.lease], args=[self.owner])
        self.step_down()

    def step_down(self) -> None:
        self.token = None
        self.renewed_at = None

    async def write(self, envelopes: Sequence[Envelope], *, after: str | None) -> WriteOutcome:
        """Append `envelopes` if our token is current (and, with `after`, if the stream still
        ends there). A `Stale` outcome means we stepped down."""
        if self.token is None:
            return Stale(0)
        reply = await self._append(
            keys=[self.names.stream, self.names.fence],
            args=[self.token, after or "", self.cap, *(wire_text(e) for e in envelopes)],
        )
        verdict, rest = reply_text(reply[0]), reply[1:]
        if verdict == "ok":
            return Written(tuple(reply_text(i) for i in rest))
        if verdict == "behind":
            return Behind(reply_text(rest[0]))
        self.step_down()
        return Stale(int(reply_text(rest[0])))
