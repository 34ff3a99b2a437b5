"""The reference constructor's polled callbacks as data sources (`CallbackAccessor`).

Each polled callback is one source of a `SourceAccessor` (the machinery of
`SelfplayDataAccessor`): read in a worker thread with its timeout (`AccessorConfig`), cached for
its TTL, its last good value kept while it fails, its health in `status()`. A failing source
reports None in the snapshot, so the state keeps the value it last reported.

- ``backpressure_monitor``: ``get_signal()`` (awaited on the scheduler's loop when it is a
  coroutine) gives the five pressures of `Backpressure`; its ``_last_queue_depth``, when the
  monitor has one, is the training-queue depth (the reference reads the same attribute).
- ``is_emergency_active_fn()``: `Backpressure.emergency_active`.

The per-node callbacks (``get_host_targets_fn`` …) take the node's figures, so they are called
when a job target is asked for (`selfplay_shell.compat.scheduler`); the callbacks the reference
never calls are accepted and left unused (docs/deviations.md C1).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
from returns.io import IOFailure, IOResult
from returns.unsafe import unsafe_perform_io

from selfplay_core import Backpressure, NodeCapability
from selfplay_shell.accessor import AccessorSnapshot, SourceAccessor, SourceHealth
from selfplay_shell.sources._base import ReadContext, Reading
from selfplay_shell.sources.config import AccessorConfig, Anchors
from selfplay_shell.sources.errors import SourceError, SourceFailure

__all__ = ["CallbackAccessor", "MonitorReading"]

_PRESSURE_FIELDS = (
    "queue_pressure",
    "training_pressure",
    "disk_pressure",
    "sync_pressure",
    "memory_pressure",
)


@attrs.frozen
class MonitorReading:
    """One backpressure signal: the pressures and the queue depth (None when not reported)."""

    backpressure: Backpressure
    training_queue_depth: int | None


class _MonitorReader:
    """Reads ``monitor.get_signal()`` in a worker thread; a coroutine runs on `loop`."""

    def __init__(self, monitor: Any) -> None:
        self.monitor = monitor
        self.loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, ctx: ReadContext) -> Reading[MonitorReading]:
        signal = self.monitor.get_signal()
        if inspect.isawaitable(signal):
            if self.loop is None:
                raise SourceFailure("unexpected", "get_signal() is async but no loop is running")
            future = asyncio.run_coroutine_threadsafe(_awaited(signal), self.loop)
            signal = future.result(timeout=max(0.0, ctx.deadline - time.monotonic()))
        try:
            pressures = {name: _pressure(signal, name) for name in _PRESSURE_FIELDS}
            backpressure = Backpressure(**pressures)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise SourceFailure("invalid", f"backpressure signal: {exc}") from exc
        # The reference reads this attribute of the monitor when it has one (§weights).
        depth: Any = getattr(self.monitor, "_last_queue_depth", None)
        number = isinstance(depth, int | float) and not isinstance(depth, bool)
        queue = int(depth) if number and depth >= 0 else None
        return Reading(MonitorReading(backpressure, queue))


def _pressure(signal: Any, name: str) -> float:
    return float(getattr(signal, name, 0.0) or 0.0)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _read_flag(fn: Callable[[], Any]) -> Callable[[ReadContext], Reading[bool]]:
    def read(_ctx: ReadContext) -> Reading[bool]:
        return Reading(bool(fn()))

    return read


class CallbackAccessor(SourceAccessor):
    """The scheduler's data accessor for the reference's callbacks (see the module docstring).

    `inner` (optional) is another accessor (e.g. `SelfplayDataAccessor` over the stores): its
    snapshot, nodes and status are kept, and the callbacks' sources are added on top. `close`
    closes this accessor's own reading threads, not `inner`, which stays its owner's to close."""

    def __init__(
        self,
        *,
        backpressure_monitor: Any = None,
        is_emergency_active_fn: Callable[[], Any] | None = None,
        inner: Any = None,
        config: AccessorConfig | None = None,
        clock: Callable[[], float] = time.time,
        executor: concurrent.futures.Executor | None = None,
    ) -> None:
        here = Path.cwd()
        super().__init__(Anchors(here, here), config or AccessorConfig(), clock, executor)
        self.inner = inner
        ttl = self._config.ttl_seconds
        self._monitor: _MonitorReader | None = None
        if backpressure_monitor is not None:
            self._monitor = _MonitorReader(backpressure_monitor)
            self._add_source("backpressure_monitor", self._monitor, ttl)
        if is_emergency_active_fn is not None:
            reader = _read_flag(is_emergency_active_fn)
            self._add_source("is_emergency_active_fn", reader, ttl)

    async def snapshot(self) -> AccessorSnapshot:
        """The inner snapshot (if any) with this refresh's backpressure and queue depth."""
        if self._monitor is not None:
            self._monitor.loop = asyncio.get_running_loop()
        names = self._active_sources()
        base_task = self.inner.snapshot() if self.inner is not None else None
        results = await asyncio.gather(*(self._get(name, False) for name in names))
        base = await base_task if base_task is not None else None
        outcome = dict(zip(names, results, strict=True))
        return self._combine(base, outcome)

    def _combine(
        self, base: AccessorSnapshot | None, outcome: Mapping[str, IOResult[Any, SourceError]]
    ) -> AccessorSnapshot:
        backpressure = base.backpressure if base is not None else None
        depth = base.training_queue_depth if base is not None else None
        if outcome:
            monitor = _value(outcome.get("backpressure_monitor"))
            emergency = _value(outcome.get("is_emergency_active_fn"))
            failed = any(_value(result) is None for result in outcome.values())
            if monitor is not None:
                backpressure, depth = monitor.backpressure, monitor.training_queue_depth
            elif "backpressure_monitor" in outcome:
                depth = None
            if failed:  # one part of the signal is unknown: the state keeps its last signal
                backpressure = None
            elif emergency is not None:
                backpressure = attrs.evolve(
                    backpressure or Backpressure(), emergency_active=emergency
                )
        failures = dict(base.failures) if base is not None else {}
        failures.update({n: str(s.error) for n, s in self._slots.items() if s.error is not None})
        if base is None:
            empty: dict[str, Any] = dict.fromkeys(AccessorSnapshot.EVENT_FIELDS)
            base = AccessorSnapshot(at=self._clock(), **empty)
        return attrs.evolve(
            base, backpressure=backpressure, training_queue_depth=depth, failures=failures
        )

    async def get_node_capabilities(self) -> IOResult[tuple[NodeCapability, ...], Any]:
        """The inner accessor's nodes; none of the reference's callbacks reports nodes."""
        if self.inner is None:
            return IOFailure(SourceError("nodes", "missing", "no node source attached"))
        result: IOResult[tuple[NodeCapability, ...], Any] = await self.inner.get_node_capabilities()
        return result

    def status(self) -> Mapping[str, SourceHealth]:
        inner = dict(self.inner.status()) if self.inner is not None else {}
        return {**inner, **super().status()}


def _value(result: IOResult[Any, SourceError] | None) -> Any:
    """This refresh's value of a source, or None when it failed (the state keeps the last)."""
    if result is None:
        return None
    return unsafe_perform_io(result.value_or(None))
