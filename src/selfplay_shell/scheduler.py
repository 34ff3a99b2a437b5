"""`SelfplayScheduler`: the reference's facade over the functional core.

It holds the current `SchedulerState` and changes it only by applying envelopes through
`reduce`: bus messages, its own data refreshes (`SourcesRefreshed`), node refreshes, `Tick`s,
facade calls (`ConfigBoosted`, `TargetTrainingSamplesSet`) and decisions (`AllocationDecided`).

One writer: every apply runs under one lock, so envelopes from any number of threads and tasks
are applied one at a time, none lost, each exactly once (ids make a second delivery a no-op).
Inside the lock an envelope is reduced, appended to the log (when one is attached) and becomes
the state; a decision is computed and recorded in the same critical section, so the log replays
to the same decision. Events the reducer emits are queued inside the lock and published to the
bus, in order, after it is released, each in the shape RingRift's subscribers receive
(`selfplay_core.published`: the reference publisher's type spelling and payload keys). Any
`EventSink` given as `bus` (a broker adapter) gets the same calls. Reads never take the lock:
the state is immutable.

Time comes from the injected `clock`; ids are `"<id_prefix>-<n>"` from a counter, so a
simulation driven by a fake clock replays identically. The counter starts after `id_counter`
or, by default, after the highest `"<id_prefix>-<n>"` already in the attached log (a run that
resumes a log continues its numbering instead of repeating it: deterministic, unlike a per-run
prefix, and the log's ids stay unique; docs/eventlog.md, "Ids"). `async with scheduler:`
runs the timers (priority refresh, node refresh, ticks) and stops them cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from returns.result import Failure, Result, Success
from returns.unsafe import unsafe_perform_io

from selfplay_core.allocation.values import AllocationRequest, BatchAllocation
from selfplay_core.cluster import NodeCapability
from selfplay_core.codec import INVALID, DecodeError, decode
from selfplay_core.decide import decide
from selfplay_core.events import (
    REFERENCE_EVENTS,
    SCHEDULER_EVENTS,
    AllocationDecided,
    Envelope,
    Event,
    SelfplayAllocationUpdated,
    SourcesRefreshed,
    Tick,
    make_envelope,
)
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.published import published
from selfplay_core.reducer import SCHEDULER_SOURCE, Transition, reduce
from selfplay_core.state import SchedulerState
from selfplay_core.status import (
    PRIORITY_PARTS,
    HealthLimits,
    ShellFacts,
    priority_configs,
)
from selfplay_shell.accessor import EVENT_FIELDS_OF_SOURCE
from selfplay_shell.bus import (
    BusMessage,
    EventBus,
    EventSink,
    EventSource,
    Subscription,
    get_event_bus,
)
from selfplay_shell.eventlog.writer import LogWriteError, encode_line
from selfplay_shell.scheduler_collaborators import DataAccessor, EventRecorder, ResumableRecorder
from selfplay_shell.scheduler_queries import ReferenceQueries

__all__ = [
    "DataAccessor",
    "EventRecorder",
    "SelfplayScheduler",
    "get_selfplay_scheduler",
    "reset_selfplay_scheduler",
]

_log = logging.getLogger(__name__)


#: What a priority refresh reports: everything but the nodes (the node refresh's job).
_SOURCE_REFRESH_PARTS: Final = (*PRIORITY_PARTS, "training_queue_depth", "backpressure")

_REFERENCE_TYPES: Final[tuple[str, ...]] = tuple(cls.TAG for cls in REFERENCE_EVENTS)


class SelfplayScheduler(ReferenceQueries):
    """Drop-in for the reference's `SelfplayScheduler` (see the module docstring)."""

    #: The event types `subscribe_to_events` subscribes to: the reference's 28.
    subscribed_types: tuple[str, ...] = _REFERENCE_TYPES

    def __init__(
        self,
        policy: SchedulerPolicy = SchedulerPolicy(),  # noqa: B008 - frozen value
        accessor: DataAccessor | None = None,
        log: EventRecorder | None = None,
        clock: Callable[[], float] = time.time,
        *,
        state: SchedulerState | None = None,
        bus: EventSink | None = None,
        source: str = SCHEDULER_SOURCE,
        id_prefix: str | None = None,
        id_counter: int | None = None,
        refresh_interval: float | None = None,
        node_refresh_interval: float | None = None,
        tick_interval: float | None = None,
        health_limits: HealthLimits | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.policy = policy
        self.accessor = accessor
        self.log = log
        self.health_limits = health_limits or HealthLimits(policy.intervals.health_stale_seconds)
        self._clock = clock
        self._sleep = sleep
        self._source = source
        self._id_prefix = id_prefix if id_prefix is not None else source
        intervals = policy.intervals
        self.refresh_interval = (
            intervals.priority_update_seconds if refresh_interval is None else refresh_interval
        )
        self.node_refresh_interval = (
            intervals.node_capabilities_seconds
            if node_refresh_interval is None
            else node_refresh_interval
        )
        self.tick_interval = (
            policy.events.tick_interval_seconds if tick_interval is None else tick_interval
        )
        # The single writer: everything below is changed only under `_lock`.
        self._lock = threading.Lock()
        self._state = state if state is not None else SchedulerState.initial(policy)
        if id_counter is None:  # continue the log's numbering (0 without a log that knows it)
            id_counter = 0
            if isinstance(log, ResumableRecorder):
                id_counter = log.highest_id_number(self._id_prefix)
        self._counter = id_counter  # ids continue from here: "<id_prefix>-<id_counter + 1>"
        self._last_allocation: BatchAllocation | None = None
        self._outbox: deque[Envelope] = deque()
        self._publish_lock = threading.RLock()
        self._sink: EventSink | None = bus
        self._subscriptions: list[Subscription] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._last_source_refresh: float | None = None
        self._last_node_refresh: float | None = None
        self._errors: dict[str, str] = {}
        self.events_rejected = 0
        self.events_emitted = 0

    # --- the state and the single writer ----------------------------------------------------------

    @property
    def state(self) -> SchedulerState:
        """The current state (immutable; reading it needs no lock)."""
        return self._state

    @property
    def last_allocation(self) -> BatchAllocation | None:
        """The last decision this scheduler made or applied, with its explanation."""
        return self._last_allocation

    def now(self) -> float:
        return float(self._clock())

    def _next_id(self) -> str:
        self._counter += 1
        return f"{self._id_prefix}-{self._counter}"

    def _apply_locked(self, envelope: Envelope, *, writable: bool = False) -> Transition:
        """Reduce, record, commit, queue the emissions. The caller holds `_lock`.

        `writable`: without a log, still refuse (`LogWriteError`) what a log could not write.
        """
        before = self._state
        transition = reduce(before, envelope, self.policy)
        if transition.state is before:  # a duplicate id: nothing happened, nothing to record
            return transition
        if self.log is not None:
            self.log.append(envelope)  # a failing log raises before the state changes
        elif writable:
            encode_line(envelope)
        self._state = transition.state
        if isinstance(envelope.event, AllocationDecided):
            self._last_allocation = envelope.event.result
        for event in transition.emitted:
            self._outbox.append(
                make_envelope(event, id=self._next_id(), at=envelope.at, source=self._source)
            )
        return transition

    def apply(self, envelope: Envelope) -> Transition:
        """Apply one envelope (from any thread or task) and publish what it emitted."""
        with self._lock:
            transition = self._apply_locked(envelope)
        self._flush()
        return transition

    def apply_event(self, event: Event, *, id: str | None = None) -> Transition:
        """Apply one of the scheduler's own events, stamped now with the next id."""
        with self._lock:
            envelope = make_envelope(
                event, id=id or self._next_id(), at=self.now(), source=self._source
            )
            transition = self._apply_locked(envelope)
        self._flush()
        return transition

    def publish(
        self,
        event_type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
        source: str = "",
    ) -> Result[Envelope, DecodeError]:
        """Apply one event given as the reference publishes it (type string and payload dict),
        stamped with this scheduler's clock. Never raises for what a publisher sends: a
        payload that does not decode, one of the scheduler's own types (tick,
        sources_refreshed, allocation_decided, …: use `apply`), or an envelope the event log
        cannot write (a string that is not valid Unicode, an id already in the log, a full
        disk; checked even without a log) is counted in `events_rejected` and returned as a
        `DecodeError` (problem "invalid" for the last kind, its message starting "not
        written to the event log"); nothing is applied."""
        with self._lock:
            raw = {
                "id": id or self._next_id(),
                "type": event_type,
                "schema_version": 1,
                "at": self.now(),
                "source": source,
                # anything but a mapping is left for the decoder to reject, naming the problem
                "payload": dict(payload) if isinstance(payload, Mapping) else payload,
            }
            result = self._accept_published(decode(raw))
            if isinstance(result, Failure):
                self.events_rejected += 1
                _log.warning("rejected %r event: %s", event_type, result.failure())
                return result
        self._flush()
        return result

    def _accept_published(
        self, decoded: Result[Envelope, DecodeError]
    ) -> Result[Envelope, DecodeError]:
        """Apply a decoded publisher envelope, or say why not. The caller holds `_lock`."""
        if not isinstance(decoded, Success):
            return decoded
        envelope = decoded.unwrap()
        if type(envelope.event) in SCHEDULER_EVENTS:
            # Time, refreshes, decisions and facade calls are ours to make (`apply`), not
            # something a publisher can inject: a foreign "allocation_decided" would be
            # counted as a decision this scheduler never made.
            return Failure(
                DecodeError(
                    envelope.type,
                    "type",
                    INVALID,
                    "a scheduler-own event type is not accepted from publishers; use apply()",
                )
            )
        try:
            # The log refuses before the state changes; without one, what a log could not
            # write is not applied either.
            self._apply_locked(envelope, writable=True)
        except LogWriteError as error:
            return Failure(
                DecodeError(envelope.type, "", INVALID, f"not written to the event log: {error}")
            )
        return decoded

    def tick(self) -> Transition:
        """Let time pass: boosts and backoffs that expired by now lapse."""
        with self._lock:
            at = self.now()
            envelope = make_envelope(Tick(at=at), id=self._next_id(), at=at, source=self._source)
            transition = self._apply_locked(envelope)
        self._flush()
        return transition

    def _flush(self) -> None:
        """Publish queued emissions in order (re-entrant: a synchronous bus may deliver an echo
        back to us while we publish; the nested flush continues the same queue)."""
        with self._publish_lock:
            while True:
                try:
                    envelope = self._outbox.popleft()
                except IndexError:
                    return
                self.events_emitted += 1
                sink = self._sink
                if sink is None:
                    continue
                message = published(envelope)  # as RingRift's publisher sends it (§emissions)
                try:
                    sink.publish(
                        message.event_type,
                        message.payload,
                        id=envelope.id,
                        source=message.source,
                        at=envelope.at,
                    )
                except Exception:
                    _log.exception("publishing %s (%s) failed", envelope.type, envelope.id)

    def _emit_only(self, event: Event) -> None:
        """Queue an event we publish but never apply (SELFPLAY_ALLOCATION_UPDATED)."""
        with self._lock:
            at = self.now()
            self._outbox.append(
                make_envelope(event, id=self._next_id(), at=at, source=self._source)
            )
        self._flush()

    # --- refreshes --------------------------------------------------------------------------------

    async def refresh_sources(self) -> Transition | None:
        """Read the data sources once (the accessor's cache applies) and apply the result as a
        `SourcesRefreshed`; a failing source reports None (its last value stands). None when
        no accessor is attached."""
        accessor = self.accessor
        if accessor is None:
            return None
        self._last_source_refresh = self.now()
        snapshot = await accessor.snapshot()
        failed = set(getattr(snapshot, "failures", {}) or {})
        parts: dict[str, Any] = {}
        for part in _SOURCE_REFRESH_PARTS:
            parts[part] = getattr(snapshot, part, None)
        for source in failed:
            for part in EVENT_FIELDS_OF_SOURCE.get(source, ()):
                parts[part] = None
        parts.pop("nodes", None)
        return self.apply_event(SourcesRefreshed(**parts))

    async def refresh_nodes(self) -> Transition | None:
        """Read the node capabilities once and apply them (`SourcesRefreshed(nodes=…)`).
        A failing node source applies nothing (the last nodes stand)."""
        accessor = self.accessor
        if accessor is None:
            return None
        self._last_node_refresh = self.now()
        result = await accessor.get_node_capabilities()
        nodes: tuple[NodeCapability, ...] | None = unsafe_perform_io(result.value_or(None))
        if nodes is None:
            return None
        # (the attrs plugin types the `optional(tuple)` converter's argument oddly)
        return self.apply_event(SourcesRefreshed(nodes=nodes))  # type: ignore[arg-type]

    def _due(self, last: float | None, interval: float) -> bool:
        return last is None or self.now() - last >= interval

    async def _refresh_if_due(self, *, nodes: bool) -> None:
        """As the reference's rate-limited `_update_priorities` / `_update_node_capabilities`:
        refresh only when the last one is older than its interval."""
        if self.accessor is None:
            return
        if self._due(self._last_source_refresh, self.refresh_interval):
            await self._guarded("refresh_sources", self.refresh_sources)
        if nodes and self._due(self._last_node_refresh, self.node_refresh_interval):
            await self._guarded("refresh_nodes", self.refresh_nodes)

    async def _guarded(self, name: str, action: Callable[[], Awaitable[object]]) -> None:
        try:
            await action()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._errors[name] = f"{name}: {type(exc).__name__}: {exc}"
            _log.exception("%s failed", name)
        else:
            self._errors.pop(name, None)

    # --- timers -----------------------------------------------------------------------------------

    async def _every(
        self, interval: float, name: str, action: Callable[[], Awaitable[object]]
    ) -> None:
        while True:
            await self._guarded(name, action)
            await self._sleep(interval)

    async def _tick_async(self) -> None:
        self.tick()

    def start(self) -> None:
        """Start the timers on the running loop (idempotent)."""
        if self._tasks:
            return
        loop = asyncio.get_running_loop()
        for sub in self._subscriptions:  # deliver bus messages on this loop from now on
            bus = getattr(sub, "bus", None)
            if isinstance(bus, EventBus):
                bus.bind_running_loop()
        timers: list[tuple[float, str, Callable[[], Awaitable[object]]]] = [
            (self.tick_interval, "tick", self._tick_async)
        ]
        if self.accessor is not None:
            timers.insert(0, (self.node_refresh_interval, "refresh_nodes", self.refresh_nodes))
            timers.insert(0, (self.refresh_interval, "refresh_sources", self.refresh_sources))
        self._tasks = [
            loop.create_task(self._every(interval, name, action), name=f"selfplay-{name}")
            for interval, name, action in timers
        ]

    async def stop(self) -> None:
        """Cancel the timers and wait until they have ended."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    async def __aenter__(self) -> SelfplayScheduler:
        self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # --- events -----------------------------------------------------------------------------------

    def _on_message(self, message: BusMessage) -> None:
        self.publish(message.event_type, message.payload, id=message.id, source=message.source)

    def subscribe_to_events(self, bus: EventSource | None = None) -> bool:
        """Subscribe to the reference's 28 event types on `bus` (default: the process bus) and
        publish our emissions there unless another sink was given. Idempotent: once subscribed,
        later calls change nothing. Returns whether we are subscribed."""
        if self._subscriptions:
            return True
        source = bus if bus is not None else get_event_bus()
        for event_type in self.subscribed_types:
            try:
                self._subscriptions.append(source.subscribe(event_type, self._on_message))
            except Exception:
                _log.exception("subscribing to %s failed", event_type)
        if self._sink is None and isinstance(source, EventSink):
            self._sink = source
        return self.subscribed

    def unsubscribe(self) -> None:
        """Remove every subscription (the reference had no way to)."""
        subs, self._subscriptions = self._subscriptions, []
        for sub in subs:
            sub.unsubscribe()

    def close(self) -> None:
        """Unsubscribe, and release whatever the scheduler made for itself (never what it was
        given: an accessor, log or bus passed in stays open, for its owner to close). Stop the
        timers first (`await stop()`). `reset_selfplay_scheduler` closes the instance it
        forgets."""
        self.unsubscribe()

    @property
    def subscribed(self) -> bool:
        return bool(self._subscriptions)

    # --- status surface ---------------------------------------------------------------------------

    def shell_facts(self) -> ShellFacts:
        """What only the shell knows, for the pure status functions."""
        failing: dict[str, str] = {}
        without_value: set[str] = set()
        partial: dict[str, str] = {}
        if self.accessor is not None:
            for name, health in self.accessor.status().items():
                if getattr(health, "state", None) != "degraded":
                    continue
                reason = str(getattr(health, "reason", None) or "degraded")
                if getattr(health, "kind", None) is not None:
                    failing[name] = reason
                    if not getattr(health, "serving_last_good", True):
                        without_value.add(name)
                else:
                    partial[name] = reason
        errors = dict(self._errors)
        return ShellFacts(
            subscribed=self.subscribed,
            sources_attached=self.accessor is not None,
            failing_sources=failing,
            failing_without_value=frozenset(without_value),
            partial_sources=partial,
            refresh_error="; ".join(errors[k] for k in sorted(errors)) or None,
            events_rejected=self.events_rejected,
            timers_running=self.running,
        )

    # --- priorities and decisions -----------------------------------------------------------------

    async def get_priority_configs(self, top_n: int = 12) -> list[tuple[str, float]]:
        """(config, score), highest first, after a refresh if the last one is older than the
        refresh interval (as the reference's rate-limited update)."""
        await self._refresh_if_due(nodes=False)
        return priority_configs(self._state, self.now(), self.policy, top_n)

    def decide_batch(
        self,
        games_per_config: int = 500,
        max_configs: int = 12,
        *,
        target_games: int | None = None,
    ) -> BatchAllocation:
        """Decide one batch on the current state and record it (`AllocationDecided`) in the
        same critical section, so the log replays to this very decision."""
        with self._lock:
            at = self.now()
            request = AllocationRequest(games_per_config, max_configs, target_games, at)
            result = decide(self._state, request, self.policy)
            envelope = make_envelope(
                AllocationDecided(request, result), id=self._next_id(), at=at, source=self._source
            )
            self._apply_locked(envelope)
        self._flush()
        placed = result.as_reference_dict()
        total = sum(sum(per_node.values()) for per_node in placed.values())
        if total > 0:
            nodes = {node for per_node in placed.values() for node in per_node}
            self._emit_only(
                SelfplayAllocationUpdated(
                    trigger="allocate_batch",
                    total_games=total,
                    configs=tuple(placed),
                    node_count=len(nodes),
                )
            )
        return result

    async def allocate_selfplay_batch(
        self,
        games_per_config: int = 500,
        max_configs: int = 12,
        *,
        target_games: int | None = None,
    ) -> dict[str, dict[str, int]]:
        """The reference's `{config: {node: games}}` (placed games only), after refreshing
        priorities and nodes if due. `last_allocation` holds the full decision."""
        await self._refresh_if_due(nodes=True)
        batch = self.decide_batch(games_per_config, max_configs, target_games=target_games)
        return batch.as_reference_dict()


# --- the process-wide instance --------------------------------------------------------------------

_instance: SelfplayScheduler | None = None
_instance_lock = threading.Lock()


def get_selfplay_scheduler(
    *, scheduler_class: type[SelfplayScheduler] | None = None, **kwargs: Any
) -> SelfplayScheduler:
    """The process-wide scheduler: created on first use (as `scheduler_class(**kwargs)`, default
    `SelfplayScheduler`; both ignored afterwards) and subscribed to the process bus, as the
    reference's singleton. Thread-safe. Asking for a class the existing instance is not raises
    `TypeError` (reset first)."""
    global _instance
    cls = scheduler_class or SelfplayScheduler
    with _instance_lock:
        if _instance is None:
            scheduler = cls(**kwargs)
            scheduler.subscribe_to_events()
            _instance = scheduler
        elif not isinstance(_instance, cls):
            raise TypeError(
                f"the process-wide scheduler is a {type(_instance).__name__}, not a "
                f"{cls.__name__}: call reset_selfplay_scheduler() first"
            )
        return _instance


def reset_selfplay_scheduler() -> None:
    """Forget the process-wide scheduler, closing it (unsubscribed: the reference left the old
    instance's handlers subscribed)."""
    global _instance
    with _instance_lock:
        old, _instance = _instance, None
    if old is not None:
        old.close()
