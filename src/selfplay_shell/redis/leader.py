"""The leader's duties: keep the lease, and write ticks, source refreshes and decisions.

Only the replica holding the lease runs them, and it writes only through `Leadership.write`
(the fenced script). It never applies what it writes directly: its own envelopes come back
through the stream like everyone else's, so every replica folds the same sequence.

Decisions are numbered by round: round `n + 1` is decided once the replica has applied `n`
decisions, with the envelope id `decision-<round>`. The decision is made from the replica's
state and written only if the stream still ends at the entry that state was folded up to
(`after`): a decision never lands behind events its leader had not seen, so replay reproduces
it, and a new leader cannot decide a round its predecessor decided (it has to read that
decision first, and then the round is the next one).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from selfplay_core import AllocationRequest, decide
from selfplay_core.events import AllocationDecided, Envelope, Event, Tick, make_envelope
from selfplay_shell.redis.fencing import Behind, Leadership, Stale, Written
from selfplay_shell.redis.replica import Replica

__all__ = ["LeaderDuties", "Schedule"]

_log = logging.getLogger(__name__)


class Schedule:
    """When each duty is next due (monotonic seconds), reset at each new term."""

    def __init__(self, tick_every: float, refresh_every: float, decide_every: float) -> None:
        self.every = {"tick": tick_every, "refresh": refresh_every, "decide": decide_every}
        self.due: dict[str, float] = {}

    def start(self, now: float) -> None:
        self.due = dict.fromkeys(self.every, now)

    def is_due(self, duty: str, now: float) -> bool:
        return now >= self.due.get(duty, now)

    def done(self, duty: str, now: float) -> None:
        self.due[duty] = now + self.every[duty]


class LeaderDuties:
    """What the leader does each turn; `term` counts envelopes written under one token."""

    def __init__(
        self,
        leadership: Leadership,
        replica: Replica,
        schedule: Schedule,
        *,
        accessor: Any | None,
        games_per_config: int,
        max_configs: int,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.leadership = leadership
        self.replica = replica
        self.schedule = schedule
        self.accessor = accessor
        self.games_per_config = games_per_config
        self.max_configs = max_configs
        self._clock = clock
        self._monotonic = monotonic
        self._written = 0
        self.decisions_written = 0

    def begin_term(self) -> None:
        self.schedule.start(self._monotonic())
        self._written = 0

    def _envelope(self, kind: str, event: Event, at: float) -> Envelope:
        self._written += 1
        token = self.leadership.token
        return make_envelope(
            event, id=f"{kind}-{token}-{self._written}", at=at, source=self.leadership.owner
        )

    async def turn(self) -> None:
        """Do whatever is due now (each duty at most once)."""
        now = self._monotonic()
        if self.schedule.is_due("tick", now):
            at = self._clock()
            if await self._write([self._envelope("tick", Tick(at=at), at)]):
                self.schedule.done("tick", now)
        if self.accessor is not None and self.schedule.is_due("refresh", now):
            snapshot = await self.accessor.snapshot()
            event = snapshot.to_event()
            if await self._write([self._envelope("refresh", event, self._clock())]):
                self.schedule.done("refresh", now)
        if self.schedule.is_due("decide", now) and await self._decide():
            self.schedule.done("decide", now)

    async def _decide(self) -> bool:
        replica = self.replica
        after, state = replica.last_stream_id, replica.state
        at = self._clock()
        request = AllocationRequest(self.games_per_config, self.max_configs, None, at)
        result = decide(state, request, replica.policy)
        envelope = make_envelope(
            AllocationDecided(request, result),
            id=f"decision-{replica.decisions + 1}",
            at=at,
            source=self.leadership.owner,
        )
        if await self._write([envelope], after=after):
            self.decisions_written += 1
            return True
        return False

    async def _write(self, envelopes: list[Envelope], *, after: str | None = None) -> bool:
        token = self.leadership.token
        outcome = await self.leadership.write(envelopes, after=after)
        match outcome:
            case Written():
                return True
            case Behind(last_id):
                _log.debug("decision deferred: the stream moved on to %s", last_id)
                await asyncio.sleep(0)  # let the reader catch up first
                return False
            case Stale(current):
                _log.warning(
                    "write of %s refused: fencing token %s is stale (current %s); stepping down",
                    envelopes[0].id,
                    token,
                    current,
                )
                return False
