"""`ReplicaService`: one replica of the cluster service, from start to a clean stop.

Three loops share one asyncio event loop and one Redis client:
- the reader: `XREAD` from this replica's position, `Replica.fold`, dead letters,
  `Replica.commit` (log, sync, advance), then the new position recorded in Redis
  (`StreamPosition`: the consumer group's last delivered id);
- the lease: acquire while standby (every tenth of the lease), renew while leader (every third),
  step down when the lease is lost or has run out by our own clock while Redis was unreachable;
- the leader's duties (`LeaderDuties.turn`) while leading.

Redis unreachable: every loop catches the connection error, marks the service disconnected
(health degraded, with the error), and retries with exponential backoff; nothing is lost or
applied twice (reading resumes from the last batch logged, repeated ids are dropped). SIGTERM or
SIGINT: the reader finishes its batch, the lease is released, the log flushed and closed, and
`run` returns 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import attrs
import redis.asyncio
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from selfplay_core.policy import SchedulerPolicy
from selfplay_shell.redis.fencing import Leadership
from selfplay_shell.redis.http import StatusServer
from selfplay_shell.redis.leader import LeaderDuties, Schedule
from selfplay_shell.redis.position import START, StreamPosition, is_missing_group
from selfplay_shell.redis.publisher import DEFAULT_CAP
from selfplay_shell.redis.replica import DeadLetter, Progress, Replica, state_digest
from selfplay_shell.redis.status import DEFAULT_LAG_LIMIT, ServiceFacts, healthz, metrics_text
from selfplay_shell.redis.streams import StreamNames, dead_letter_fields, reply_text

__all__ = [
    "ReplicaService",
    "ServiceConfig",
    "ServiceError",
    "check_persistence",
    "run_service",
]

_log = logging.getLogger(__name__)

#: What "Redis is unreachable" looks like from redis-py.
UNREACHABLE: Final = (RedisConnectionError, RedisTimeoutError, OSError)
BACKOFF_FIRST: Final = 0.05
BACKOFF_MAX: Final = 2.0
#: How long a stop waits for the lease, duty and lag loops to end (each ends at its next step).
SHUTDOWN_WAIT: Final = 5.0
#: How often the leader looks for a due duty (tick, refresh, decision).
DUTY_PAUSE: Final = 0.05


class ServiceError(Exception):
    """The service cannot start or continue, with a message an operator can act on."""


@attrs.frozen
class ServiceConfig:
    url: str
    log_dir: Path
    stream: str = StreamNames().stream
    name: str = attrs.field(factory=socket.gethostname)
    http_host: str = "127.0.0.1"
    http_port: int = 0
    data_root: Path | None = None
    policy: SchedulerPolicy = attrs.field(factory=SchedulerPolicy)
    lease_seconds: float = 5.0
    decide_every: float = 60.0
    tick_every: float | None = None  # None: the policy's tick interval
    refresh_every: float | None = None  # None: the policy's priority update interval
    games_per_config: int = 500
    max_configs: int = 12
    cap: int = DEFAULT_CAP
    batch: int = attrs.field(default=1000)
    lag_limit: int = DEFAULT_LAG_LIMIT
    require_aof: bool = False

    @batch.validator
    def _batch_fits_the_window(self, _attribute: attrs.Attribute[int], batch: int) -> None:
        # A batch logged but not yet recorded is read again after a restart; its ids must
        # still be in the reducer's dedup window to drop out as duplicates.
        window = self.policy.events.dedup_window
        if not 0 < batch <= window:
            raise ServiceError(
                f"--batch must be between 1 and the policy's dedup window ({window}), got {batch}"
            )


async def check_persistence(client: redis.asyncio.Redis) -> str | None:
    """None when Redis keeps the stream across a restart (AOF on); otherwise why not."""
    try:
        config = await client.config_get("append*")
    except ResponseError as error:  # CONFIG disabled or renamed (managed Redis)
        return f"redis persistence unknown: CONFIG GET refused ({error})"
    values = {reply_text(k): reply_text(v) for k, v in config.items()}
    if values.get("appendonly") != "yes":
        return "redis persistence: appendonly is off, a Redis restart loses the stream"
    if values.get("appendfsync") == "no":
        return "redis persistence: appendfsync is no, a host crash loses recent entries"
    return None


class ReplicaService:
    def __init__(self, config: ServiceConfig, accessor: Any | None = None) -> None:
        self.config = config
        self.names = StreamNames(config.stream)
        self.group = self.names.group(config.name)
        self.owner = f"{config.name}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.client = redis.asyncio.Redis.from_url(config.url, socket_timeout=5.0)
        lease_ms = max(1, round(config.lease_seconds * 1000))
        self.leadership = Leadership(self.client, self.names, self.owner, lease_ms, config.cap)
        self.position = StreamPosition(self.client, self.names.stream, self.group)
        replica, problems = Replica.resume(config.policy, config.log_dir)
        for problem in problems:
            _log.warning("local log: %s", problem)
        self.replica = replica
        intervals, events = config.policy.intervals, config.policy.events
        self.duties = LeaderDuties(
            self.leadership,
            replica,
            Schedule(
                config.tick_every or events.tick_interval_seconds,
                config.refresh_every or intervals.priority_update_seconds,
                config.decide_every,
            ),
            accessor=accessor,
            games_per_config=config.games_per_config,
            max_configs=config.max_configs,
        )
        self.connected = False
        self.disconnected_reason: str | None = None
        self.persistence_problem: str | None = None
        self.lag: int | None = None
        self.stop_requested = asyncio.Event()
        self.http: StatusServer | None = None

    # --- status --------------------------------------------------------------------------------

    def facts(self, progress: Progress | None = None) -> ServiceFacts:
        progress = progress or self.replica.progress
        leadership = self.leadership
        token = leadership.token
        return ServiceFacts(
            replica=self.config.name,
            role="standby" if token is None else "leader",
            fencing_token=token,
            last_stream_id=progress.last_stream_id,
            applied=progress.applied,
            duplicates=progress.duplicates,
            rejected=progress.rejected,
            decisions=progress.decisions,
            decisions_written=self.duties.decisions_written,
            lag=self.lag,
            lease_age=leadership.lease_age(),
            connected=self.connected,
            disconnected_reason=self.disconnected_reason,
            persistence_problem=self.persistence_problem,
            stopping=self.stop_requested.is_set(),
            lag_limit=self.config.lag_limit,
        )

    def healthz(self) -> dict[str, Any]:
        progress = self.replica.progress  # one moment for the facts and the digest
        return healthz(self.facts(progress), state_digest(progress.state, self.config.policy))

    def metrics(self) -> str:
        return metrics_text(self.facts())

    def _reachable(self) -> None:
        self.connected, self.disconnected_reason = True, None

    def _unreachable(self, error: BaseException) -> None:
        if self.connected or self.disconnected_reason is None:
            _log.warning("redis unreachable: %s", error)
        self.connected = False
        self.disconnected_reason = f"{type(error).__name__}: {error}"

    # --- lifecycle -----------------------------------------------------------------------------

    async def run(self, on_ready: Callable[[int], None] | None = None) -> int:
        """Serve until SIGTERM/SIGINT (or `stop()`); 0 after a clean stop."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        others: list[asyncio.Task[None]] = []
        try:
            self.http = StatusServer(
                self.config.http_host, self.config.http_port, self.metrics, self.healthz
            )
            self.http.start()
            await self._with_backoff(self._start_redis)
            if on_ready is not None:
                on_ready(self.http.port)
            others = [
                asyncio.create_task(self._loop(step), name=f"selfplay-{step.__name__}")
                for step in (self._lease_step, self._duties_step, self._lag_step)
            ]
            await self._read_until_stopped()
        finally:
            for task in others:
                task.cancel()
            if others:
                await asyncio.wait(others, timeout=SHUTDOWN_WAIT)
            await self._shut_down()
        return 0

    def stop(self) -> None:
        self.stop_requested.set()

    async def _shut_down(self) -> None:
        if self.leadership.leading:
            with contextlib.suppress(*UNREACHABLE):
                await self.leadership.release()
        self.leadership.step_down()
        self.replica.close()
        if self.http is not None:
            self.http.stop()
        with contextlib.suppress(*UNREACHABLE):
            await self.client.aclose()

    async def _start_redis(self) -> None:
        """Persistence check and this replica's position: its consumer group's (created at the
        stream's start for a new replica; a replica with a local log but no group refuses to
        guess)."""
        self.persistence_problem = await check_persistence(self.client)
        if self.persistence_problem:
            if self.config.require_aof:
                raise ServiceError(self.persistence_problem + " (--require-aof)")
            _log.warning("%s", self.persistence_problem)
        if await self.position.load():
            self._reachable()
            return
        if self.replica.applied and self.replica.last_stream_id == START:
            raise ServiceError(
                f"replica {self.config.name!r} has a local log of {self.replica.applied} "
                f"envelopes but Redis has no consumer group {self.group!r} on "
                f"{self.names.stream!r} (was Redis restarted without its AOF?); its position "
                "in the stream is unknown: move the log aside to rebuild from the stream"
            )
        await self.position.create(self.replica.last_stream_id)
        self._reachable()

    # --- the loops -----------------------------------------------------------------------------

    async def _with_backoff(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run `step` until it gets through to Redis (or a stop is requested)."""
        delay = BACKOFF_FIRST
        while True:
            try:
                await step()
                return
            except UNREACHABLE as error:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # Python 3.11's timeouts can turn our cancellation into a TimeoutError
                    # (redis-py reads under one): a cancelled loop must end, not retry.
                    raise asyncio.CancelledError from error
                self._unreachable(error)
            if self.stop_requested.is_set():
                return
            await self._pause(delay)
            if self.stop_requested.is_set():
                return
            delay = min(delay * 2, BACKOFF_MAX)

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds`, or until a stop is requested if that comes first: a SIGTERM while
        Redis is away ends the service at once, not after the backoff."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.stop_requested.wait()

    async def _loop(self, step: Callable[[], Awaitable[float]]) -> None:
        """Repeat `step` (which returns how long to wait) through outages, until a stop is
        requested (or the task is cancelled)."""
        while not self.stop_requested.is_set():
            pause = 0.0

            async def once() -> None:
                nonlocal pause
                pause = await step()

            await self._with_backoff(once)
            await self._pause(pause)

    async def _read_until_stopped(self) -> None:
        while not self.stop_requested.is_set():
            try:
                await self._with_backoff(self._read_step)
            except ResponseError as error:
                if not is_missing_group(error):
                    raise
                # Redis lost our group (restarted without its data): continue from where we are.
                _log.warning(
                    "consumer group %s missing; recreating it at %s", self.group, self.position.id
                )
                await self._with_backoff(lambda: self.position.create(self.position.id))

    async def _read_step(self) -> None:
        """One batch: read, fold, log and apply, then record the new position."""
        position = self.position
        await position.record()  # one the last step could not make (Redis was away)
        reply: Any = await self.client.xread(
            {self.names.stream: position.id}, count=self.config.batch, block=200
        )
        self._reachable()
        entries = [entry for _, batch in reply or () for entry in batch]
        if not entries:
            return
        folded = self.replica.fold(entries)
        await self._dead_letters(folded.dead)
        self.replica.commit(folded)
        position.advance(folded.last_stream_id, len(entries))
        await position.record()

    async def _dead_letters(self, dead: tuple[DeadLetter, ...]) -> None:
        """Each under its own stream id, so whichever replica meets it first records it and
        the others' identical writes are refused (ids only grow): one dead letter per entry."""
        for letter in dead:
            fields = dead_letter_fields(
                letter.fields, letter.problem, letter.stream_id, self.config.name
            )
            try:
                await self.client.xadd(self.names.dead_letters, fields, id=letter.stream_id)  # type: ignore[arg-type]
            except ResponseError as error:
                if "equal or smaller" not in str(error):
                    raise
            _log.warning("dead letter %s: %s", letter.stream_id.decode(), letter.problem)

    async def _lease_step(self) -> float:
        """Acquire while standby, renew while leader (a third of the lease before it runs
        out), step down when it is lost or ran out by our clock while Redis was away."""
        leadership = self.leadership
        lease = self.config.lease_seconds
        if leadership.leading and leadership.expired():
            _log.warning("lease ran out while Redis was unreachable; stepping down")
            leadership.step_down()
        if leadership.leading:
            if not await leadership.renew():
                _log.warning("lease lost (taken over after it expired); stepping down")
            return lease / 3
        token = await leadership.try_acquire()
        self._reachable()
        if token is None:
            return lease / 10
        _log.warning("%s is the leader (fencing token %d)", self.config.name, token)
        self.duties.begin_term()
        return lease / 3

    async def _duties_step(self) -> float:
        if self.leadership.leading and not self.leadership.expired():
            await self.duties.turn()
        return DUTY_PAUSE

    async def _lag_step(self) -> float:
        try:
            group = await self.position.info()
        except ResponseError:  # the stream went between two commands: the reader recreates it
            group = None
        lag = None if group is None else group.get("lag")
        self.lag = None if lag is None else int(lag)
        return 1.0


def run_service(
    config: ServiceConfig,
    accessor: Any | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> int:
    """Run one replica until it is told to stop (the `serve` command's body)."""

    async def main() -> int:
        service = ReplicaService(config, accessor)
        return await service.run(on_ready)

    return asyncio.run(main())
