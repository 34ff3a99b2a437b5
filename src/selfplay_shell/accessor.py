"""`SelfplayDataAccessor`: the scheduler's inputs, read from the reference's real stores.

Each source is read in a worker thread (never on the event loop) with a total deadline (the
read stops at it, whatever the store is doing; the threads never hold up the process's exit),
cached for a TTL, and on failure keeps serving its last good value while `status()` says what
went wrong. Sources are independent: `snapshot()` reads them concurrently, so one slow or
broken store delays nothing else. Readers live in `selfplay_shell.sources`, one module per store.

Snapshot semantics: each field holds the source's last good value (None if it never produced
one, or if the source has no store in the configured mode: feedback, in-process curriculum,
constant quality, no cascade — the reducer's own state then stands); `failures` names the
sources whose read failed this time and why; `warnings` the partial problems of sources that
did produce a value (e.g. one corrupt game database among many). `snapshot.to_event()` builds
the `SourcesRefreshed` event with None for the sources that failed this time, as that event
defines None ("keep the last value"), so a stale value never overwrites newer state.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import time
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, Generic, Literal, Self, TypeVar

import attrs
from returns.io import IOFailure, IOResult, IOSuccess

from selfplay_core.cluster import Backpressure, NodeCapability
from selfplay_core.configs import ConfigKey
from selfplay_core.events import SOURCE_PARTS, SourcesRefreshed
from selfplay_core.signals import FeedbackSignal
from selfplay_shell.sources._base import ReadContext, Reading, per_config
from selfplay_shell.sources.backpressure import combine_backpressure, read_queue_pressure
from selfplay_shell.sources.config import AccessorConfig, Anchors
from selfplay_shell.sources.elo import EloReader, EloReading
from selfplay_shell.sources.errors import FailureKind, SourceError, SourceFailure
from selfplay_shell.sources.freshness import read_freshness
from selfplay_shell.sources.games import GameCountReader
from selfplay_shell.sources.improvement import NO_BOOST, read_improvement
from selfplay_shell.sources.momentum import NEUTRAL, read_momentum
from selfplay_shell.sources.nodes import (
    InventoryHost,
    PeerStatus,
    combine_nodes,
    fetch_cluster_status,
    peer_disk_percents,
    read_inventory,
)
from selfplay_shell.sources.overrides import LOW, read_overrides
from selfplay_shell.sources.signals import (
    read_cascade,
    read_curriculum,
    read_feedback,
    read_quality,
)
from selfplay_shell.sources.workers import ReadWorkers

T = TypeVar("T")
U = TypeVar("U")

SourceName = Literal[
    "freshness",
    "elo",
    "feedback",
    "curriculum",
    "improvement",
    "momentum",
    "games",
    "quality",
    "cascade",
    "overrides",
    "nodes",
    "cluster_status",
    "backpressure",
]
# The reference's refresh order (sources.md, intro), then the per-score and node sources.
SOURCES: tuple[SourceName, ...] = (
    "freshness",
    "elo",
    "feedback",
    "curriculum",
    "improvement",
    "momentum",
    "games",
    "quality",
    "cascade",
    "overrides",
    "nodes",
    "cluster_status",
    "backpressure",
)
_NODE_SOURCES = frozenset({"nodes", "cluster_status"})
HealthState = Literal["ok", "degraded", "pending"]


@attrs.frozen
class SourceHealth:
    """One source's health: `degraded` when its last read failed or was partial."""

    source: str
    state: HealthState
    reason: str | None = None
    kind: FailureKind | None = None
    last_success_at: float | None = None
    last_attempt_at: float | None = None
    consecutive_failures: int = 0
    serving_last_good: bool = False
    note: str | None = None  # e.g. an optional store that is absent (reference defaults)


@attrs.frozen
class AccessorSnapshot:
    """One refresh: a field per `SourcesRefreshed` part (None = nothing to report)."""

    at: float
    current_elos: Mapping[ConfigKey, float] | None
    elo_velocities: Mapping[ConfigKey, float] | None
    game_counts: Mapping[ConfigKey, int] | None
    staleness_hours: Mapping[ConfigKey, float] | None
    curriculum_weights: Mapping[ConfigKey, float] | None
    feedback: Mapping[ConfigKey, FeedbackSignal] | None
    improvement_boosts: Mapping[ConfigKey, float] | None
    momentum_multipliers: Mapping[ConfigKey, float] | None
    quality_scores: Mapping[ConfigKey, float] | None
    cascade_multipliers: Mapping[ConfigKey, float] | None
    priority_overrides: Mapping[ConfigKey, int] | None
    nodes: tuple[NodeCapability, ...] | None
    training_queue_depth: int | None = None  # not read: the reference's monitor always gives 0
    backpressure: Backpressure | None = None
    failures: Mapping[str, str] = attrs.field(factory=dict)
    warnings: Mapping[str, str] = attrs.field(factory=dict)

    EVENT_FIELDS = SOURCE_PARTS

    def event_fields(self, *, include_last_good: bool = False) -> dict[str, Any]:
        """Keyword arguments for `SourcesRefreshed`.

        By default a source that failed this time gives None (the event's "keep your last
        value"), so a stale last good value never overwrites what events changed since;
        `include_last_good=True` passes the last good values instead.
        """
        stale: set[str] = set()
        if not include_last_good:
            for source in self.failures:
                stale.update(EVENT_FIELDS_OF_SOURCE.get(source, ()))
        return {name: None if name in stale else getattr(self, name) for name in self.EVENT_FIELDS}

    def to_event(self) -> SourcesRefreshed:
        """The `SourcesRefreshed` event: this refresh's values, None for failed sources."""
        return SourcesRefreshed(**self.event_fields())


#: Which `SourcesRefreshed` fields each source feeds (a failing source reports None for them;
#: the status endpoint only refines node load and jobs).
EVENT_FIELDS_OF_SOURCE: Final[Mapping[str, tuple[str, ...]]] = {
    "freshness": ("staleness_hours",),
    "elo": ("current_elos", "elo_velocities"),
    "feedback": ("feedback",),
    "curriculum": ("curriculum_weights",),
    "improvement": ("improvement_boosts",),
    "momentum": ("momentum_multipliers",),
    "games": ("game_counts",),
    "quality": ("quality_scores",),
    "cascade": ("cascade_multipliers",),
    "overrides": ("priority_overrides",),
    "nodes": ("nodes",),
    "backpressure": ("backpressure",),
}


@attrs.define
class _Slot(Generic[T]):
    """Mutable per-source bookkeeping; touched only on the event loop."""

    name: str
    reader: Callable[[ReadContext], Reading[T]]
    ttl: float
    absent_default: T | None = None
    value: T | None = None
    value_is_default: bool = False
    error: SourceError | None = None
    problems: tuple[str, ...] = ()
    note: str | None = None
    last_success_at: float | None = None
    last_attempt_at: float | None = None
    consecutive_failures: int = 0
    fetched_at: float | None = None  # monotonic, for the TTL
    running: concurrent.futures.Future[Reading[T]] | None = None
    lock: asyncio.Lock | None = None
    lock_loop: asyncio.AbstractEventLoop | None = None

    def outcome(self) -> IOResult[T, SourceError]:
        if self.error is not None or self.value is None:
            return IOFailure(self.error or SourceError(self.name, "missing", "not read yet"))
        return IOSuccess(self.value)

    def health(self) -> SourceHealth:
        if self.last_attempt_at is None:
            state: HealthState = "pending"
        elif self.error is not None or self.problems:
            state = "degraded"
        else:
            state = "ok"
        reason = str(self.error) if self.error is not None else "; ".join(self.problems) or None
        return SourceHealth(
            source=self.name,
            state=state,
            reason=reason,
            kind=self.error.kind if self.error is not None else None,
            last_success_at=self.last_success_at,
            last_attempt_at=self.last_attempt_at,
            consecutive_failures=self.consecutive_failures,
            serving_last_good=self.error is not None and self.value is not None,
            note=self.note,
        )


class SourceAccessor:
    """Named sources, each read in a worker thread with its timeout, cached for its TTL, and on
    failure serving its last good value while `status()` says what went wrong (the machinery of
    `SelfplayDataAccessor`, reusable for any set of sources, e.g. `selfplay_shell.compat`'s
    callbacks). A subclass adds its sources (`_add_source`) and says what a snapshot is."""

    def __init__(
        self,
        anchors: Anchors,
        config: AccessorConfig,
        clock: Callable[[], float],
        executor: concurrent.futures.Executor | None,
    ) -> None:
        self._anchors = anchors
        self._config = config
        self._clock = clock
        self._own_executor = executor is None
        self._executor = executor or ReadWorkers(self._config.max_workers, "selfplay-accessor")
        self._slots: dict[str, _Slot[Any]] = {}

    @property
    def config(self) -> AccessorConfig:
        return self._config

    def _add_source(
        self, name: str, reader: Callable[[ReadContext], Reading[Any]], ttl: float
    ) -> None:
        """One more source: `reader` runs in a worker thread under this accessor's rules."""
        self._slots[name] = _Slot(name, reader, ttl)

    def close(self) -> None:
        """Accept no more reads. Reads in flight end by their own deadline (every read has
        one: `source_timeout_seconds`), and the worker threads are daemons, so neither this
        nor the process's exit ever waits for a stuck read."""
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.close()

    def status(self) -> Mapping[str, SourceHealth]:
        """Per-source health of the sources in use, in their order."""
        return types.MappingProxyType(
            {name: self._slots[name].health() for name in self._active_sources()}
        )

    def _active_sources(self) -> list[str]:
        return list(self._slots)

    @property
    def degraded(self) -> bool:
        return any(health.state == "degraded" for health in self.status().values())

    # --- one source ---------------------------------------------------------------------------
    async def _get(self, name: str, force: bool) -> IOResult[Any, SourceError]:
        slot = self._slots[name]
        loop = asyncio.get_running_loop()
        if slot.lock is None or slot.lock_loop is not loop:  # asyncio locks belong to one loop
            slot.lock = asyncio.Lock()
            slot.lock_loop = loop
        async with slot.lock:  # concurrent callers share one read
            fresh = slot.fetched_at is not None and time.monotonic() - slot.fetched_at < slot.ttl
            if force or not fresh:
                await self._read(slot)
            return slot.outcome()

    async def _read(self, slot: _Slot[Any]) -> None:
        timeout = self._config.timeout_for(slot.name)
        now = self._clock()
        ctx = ReadContext(self._anchors, self._config, now, time.monotonic() + timeout)
        slot.last_attempt_at = now
        try:
            # A read that outlived its timeout is still going: wait for it, don't pile up threads.
            if slot.running is None or slot.running.done():
                slot.running = self._executor.submit(slot.reader, ctx)
            reading = await _result_within(slot.running, timeout)
        except SourceFailure as failure:
            self._failed(
                slot, SourceError(slot.name, failure.kind, failure.detail, failure.location)
            )
        except TimeoutError:
            self._failed(slot, SourceError(slot.name, "timeout", f"no result within {timeout:g} s"))
        except Exception as exc:  # one broken reader must never break the others
            self._failed(slot, SourceError(slot.name, "unexpected", f"{type(exc).__name__}: {exc}"))
        else:
            slot.value = reading.value
            slot.value_is_default = False
            slot.note = None
            slot.problems = reading.problems
            slot.error = None
            slot.last_success_at = now
            slot.consecutive_failures = 0
        slot.fetched_at = time.monotonic()

    def _failed(self, slot: _Slot[Any], error: SourceError) -> None:
        # A store that was never there is the reference's default state, not a failure; a store
        # that disappears after a good read is a failure (its last good value is kept).
        if (
            error.kind == "missing"
            and slot.absent_default is not None
            and (slot.value is None or slot.value_is_default)
        ):
            slot.value = slot.absent_default
            slot.value_is_default = True
            slot.error = None
            slot.problems = ()
            slot.note = f"absent, reference defaults: {error}"
            slot.last_success_at = slot.last_attempt_at
            slot.consecutive_failures = 0
            return
        slot.error = error
        slot.problems = ()
        slot.consecutive_failures += 1


async def _result_within(running: concurrent.futures.Future[T], timeout: float) -> T:
    """The read's result, or `TimeoutError` after `timeout` s (the read goes on to its own
    deadline). Not `asyncio.wait_for`: on Python 3.11 it swallows a cancellation that arrives
    as the read completes, and a scheduler's `stop()` then waited out a whole timer interval.
    """
    waiting = asyncio.wrap_future(running)
    try:
        done, _ = await asyncio.wait({waiting}, timeout=timeout)
    finally:
        if not waiting.done():
            waiting.cancel()  # only our view of it; a read in flight cannot be cancelled
    if not done:
        raise TimeoutError
    return waiting.result()


class SelfplayDataAccessor(SourceAccessor):
    """Async getters over the reference's stores; see the module docstring for the contract."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        config: AccessorConfig | None = None,
        clock: Callable[[], float] = time.time,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        root_path = Path(root).expanduser().absolute()
        anchors = Anchors(root_path, Path(cwd).expanduser().absolute() if cwd else root_path)
        super().__init__(anchors, config or AccessorConfig(), clock, executor)
        ttl, node_ttl = self._config.ttl_seconds, self._config.node_ttl_seconds
        self._slots = {
            "freshness": _Slot("freshness", read_freshness, ttl),
            "elo": _Slot("elo", EloReader(), ttl),
            "feedback": _Slot("feedback", read_feedback, ttl),
            "curriculum": _Slot("curriculum", read_curriculum, ttl, per_config({}, 1.0)),
            "improvement": _Slot("improvement", read_improvement, ttl, per_config({}, NO_BOOST)),
            "momentum": _Slot("momentum", read_momentum, ttl, per_config({}, NEUTRAL)),
            "games": _Slot("games", GameCountReader(), ttl),
            "quality": _Slot(
                "quality", read_quality, ttl, per_config({}, self._config.default_quality)
            ),
            "cascade": _Slot("cascade", read_cascade, ttl),
            "overrides": _Slot("overrides", read_overrides, ttl, per_config({}, LOW)),
            "nodes": _Slot("nodes", read_inventory, node_ttl, ()),
            "cluster_status": _Slot("cluster_status", fetch_cluster_status, node_ttl),
            "backpressure": _Slot("backpressure", read_queue_pressure, ttl, 0.0),
        }

    # --- configuration ---------------------------------------------------------------------------
    @property
    def root(self) -> os.PathLike[str]:
        return self._anchors.root

    @property
    def cwd(self) -> os.PathLike[str]:
        return self._anchors.cwd

    # --- getters -----------------------------------------------------------------------------
    async def get_data_freshness(
        self, *, force: bool = False
    ) -> IOResult[Mapping[ConfigKey, float], SourceError]:
        """Hours since each config's training NPZ was written (24.0 when there is none)."""
        return await self._get("freshness", force)

    async def get_current_elos(
        self, *, force: bool = False
    ) -> IOResult[Mapping[ConfigKey, float], SourceError]:
        """Best live rating per config from ``unified_elo.db`` (1500.0 when it has none)."""
        result: IOResult[EloReading, SourceError] = await self._get("elo", force)
        return result.map(lambda reading: reading.current)

    async def get_elo_velocities(
        self, *, force: bool = False
    ) -> IOResult[Mapping[ConfigKey, float], SourceError]:
        """Elo per day over the last 7 days (see `selfplay_shell.sources.elo`)."""
        result: IOResult[EloReading, SourceError] = await self._get("elo", force)
        return result.map(lambda reading: reading.velocities)

    async def get_feedback_signals(
        self, *, force: bool = False
    ) -> IOResult[Mapping[ConfigKey, FeedbackSignal], SourceError]:
        return await self._get("feedback", force)

    async def get_curriculum_weights(
        self, *, force: bool = False
    ) -> IOResult[Mapping[ConfigKey, float], SourceError]:
        return await self._get("curriculum", force)

    async def get_game_counts(
        self, *, force: bool = False
    ) -> IOResult[Mapping[ConfigKey, int], SourceError]:
        """Completed games (winner set) per config over every discovered game database."""
        return await self._get("games", force)

    async def get_quality_scores(
        self, *, force: bool = False
    ) -> IOResult[Mapping[ConfigKey, float], SourceError]:
        return await self._get("quality", force)

    async def get_improvement_boosts(
        self, *, force: bool = False
    ) -> IOResult[Mapping[ConfigKey, float], SourceError]:
        return await self._get("improvement", force)

    async def get_momentum_multipliers(
        self, *, force: bool = False
    ) -> IOResult[Mapping[ConfigKey, float], SourceError]:
        return await self._get("momentum", force)

    async def get_cascade_multipliers(
        self, *, force: bool = False
    ) -> IOResult[Mapping[ConfigKey, float], SourceError]:
        return await self._get("cascade", force)

    async def get_priority_overrides(
        self, *, force: bool = False
    ) -> IOResult[Mapping[ConfigKey, int], SourceError]:
        """Override level 0-3 per config (3 = no override)."""
        return await self._get("overrides", force)

    async def get_node_capabilities(
        self, *, force: bool = False
    ) -> IOResult[tuple[NodeCapability, ...], SourceError]:
        """Inventory hosts with load and jobs from the last good cluster status (if configured)."""
        hosts: IOResult[tuple[InventoryHost, ...], SourceError]
        if self._config.cluster_status_url:
            hosts, _ = await asyncio.gather(
                self._get("nodes", force), self._get("cluster_status", force)
            )
        else:
            hosts = await self._get("nodes", force)
        peers = self._slots["cluster_status"].value
        return hosts.map(lambda found: combine_nodes(found, peers))

    async def get_backpressure(self, *, force: bool = False) -> IOResult[Backpressure, SourceError]:
        """Queue pressure from the queue monitor, disk pressure from the last good P2P status."""
        queue: IOResult[float, SourceError]
        if self._config.cluster_status_url:
            queue, _ = await asyncio.gather(
                self._get("backpressure", force), self._get("cluster_status", force)
            )
        else:
            queue = await self._get("backpressure", force)
        disks = self._disk_percents()
        return queue.map(lambda pressure: combine_backpressure(pressure, disks))

    def _disk_percents(self) -> Mapping[str, float]:
        return peer_disk_percents(
            self._slots["cluster_status"].value,
            accept_disk_percent=self._config.disk_pressure_source == "p2p",
        )

    # --- aggregate ---------------------------------------------------------------------------
    async def snapshot(self, *, force: bool = False) -> AccessorSnapshot:
        """Read every source concurrently (cached ones within their TTL) and collect the values."""
        names = self._active_sources()
        await asyncio.gather(*(self._get(name, force) for name in names))
        return self._collect(names)

    async def refresh(self) -> AccessorSnapshot:
        """`snapshot()` ignoring the TTL: every source is read now."""
        return await self.snapshot(force=True)

    def _active_sources(self) -> list[str]:
        """Every source in the reference's refresh order, except the status endpoint when no
        URL is configured."""
        return [n for n in SOURCES if n != "cluster_status" or self._config.cluster_status_url]

    def _collect(self, names: list[str]) -> AccessorSnapshot:
        config = self._config
        slots = self._slots
        elo: EloReading | None = slots["elo"].value
        hosts: tuple[InventoryHost, ...] | None = slots["nodes"].value
        peers: Mapping[str, PeerStatus] | None = slots["cluster_status"].value
        queue: float | None = slots["backpressure"].value
        failures: dict[str, str] = {
            n: str(slots[n].error) for n in names if slots[n].error is not None
        }
        warnings: dict[str, str] = {
            n: "; ".join(slots[n].problems)
            for n in names
            if slots[n].error is None and slots[n].problems
        }
        return AccessorSnapshot(
            at=self._clock(),
            current_elos=elo.current if elo is not None else None,
            elo_velocities=elo.velocities if elo is not None else None,
            game_counts=slots["games"].value,
            staleness_hours=slots["freshness"].value,
            curriculum_weights=(
                slots["curriculum"].value if config.curriculum_source != "in_process" else None
            ),
            feedback=None,  # in-process only in the reference: the reducer's events own it
            improvement_boosts=slots["improvement"].value,
            momentum_multipliers=slots["momentum"].value,
            quality_scores=slots["quality"].value if config.quality_source != "constant" else None,
            cascade_multipliers=slots["cascade"].value if config.cascade_source != "none" else None,
            priority_overrides=slots["overrides"].value,
            nodes=combine_nodes(hosts, peers) if hosts is not None else None,
            backpressure=(
                combine_backpressure(queue, self._disk_percents()) if queue is not None else None
            ),
            failures=types.MappingProxyType(failures),
            warnings=types.MappingProxyType(warnings),
        )


__all__ = [
    "EVENT_FIELDS_OF_SOURCE",
    "SOURCES",
    "AccessorConfig",
    "AccessorSnapshot",
    "SelfplayDataAccessor",
    "SourceAccessor",
    "SourceError",
    "SourceHealth",
]
