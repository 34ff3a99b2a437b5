"""An in-process async event bus, and the protocols a broker adapter implements.

`EventBus.publish(event_type, payload)` takes the reference's event type strings (either case:
"selfplay_complete" or the router's "SELFPLAY_COMPLETE") and payload dicts; `subscribe(event_type,
handler)` registers a handler for one type, or for every type with `"*"`. Each message gets an id
(`"<bus name>-<run id>-<n>"` unless the publisher gives one) so that a receiver can drop a second
delivery of the same message. The run id is random per bus unless given: a bus of the next run
numbers its messages from 1 again, and without it a scheduler resuming its log would take a new
message for one it had already applied (or the log would refuse it as a repeated id).

Delivery: once the bus is bound to an event loop (the first publish or subscribe made inside a
running loop binds it, or `bind()`), every message is delivered on that loop, in publish order,
after `publish` returns — whichever thread published it (the reference's `publish_sync` also
schedules delivery inside a running loop). Without a live loop, delivery happens in the
publishing thread before `publish` returns. A handler may be a plain function or a coroutine
function; a handler that raises is counted in `handler_errors` and never affects the others or
the publisher. `await bus.drain()` waits until everything published so far has been handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, Final, Protocol, runtime_checkable

import attrs

__all__ = [
    "ALL_EVENTS",
    "BusMessage",
    "EventBus",
    "EventSink",
    "EventSource",
    "Handler",
    "Subscription",
    "get_event_bus",
    "normalise_event_type",
    "reset_event_bus",
]

_log = logging.getLogger(__name__)

#: Subscribe with this type to receive every message.
ALL_EVENTS: Final = "*"


def normalise_event_type(event_type: str) -> str:
    """The bus key of a type string: lower case ("SELFPLAY_COMPLETE" → "selfplay_complete")."""
    return event_type if event_type == ALL_EVENTS else event_type.strip().lower()


def _frozen_payload(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value) if value is not None else {})


@attrs.frozen
class BusMessage:
    """One published event: its (normalised) type, payload, id, who sent it, and when the
    publisher says it happened (informational: receivers stamp their own time)."""

    event_type: str
    payload: Mapping[str, Any] = attrs.field(converter=_frozen_payload)
    id: str
    source: str = ""
    at: float | None = None


Handler = Callable[[BusMessage], Awaitable[None] | None]


@runtime_checkable
class EventSink(Protocol):
    """Something events can be published to (the bus, a broker adapter)."""

    def publish(
        self,
        event_type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
        source: str = "",
        at: float | None = None,
    ) -> BusMessage: ...


@runtime_checkable
class EventSource(Protocol):
    """Something that delivers events to subscribed handlers (the bus, a broker adapter)."""

    def subscribe(self, event_type: str, handler: Handler) -> Subscription: ...


class Subscription:
    """A handle on one subscription; `unsubscribe()` removes it (idempotent)."""

    __slots__ = ("bus", "event_type", "handler")

    def __init__(self, bus: EventBus, event_type: str, handler: Handler) -> None:
        self.bus = bus
        self.event_type = event_type
        self.handler = handler

    def unsubscribe(self) -> None:
        self.bus._remove(self)

    @property
    def active(self) -> bool:
        return self.bus._has(self)


class EventBus:
    """See the module docstring. Safe to publish to from any thread or task."""

    def __init__(
        self,
        name: str = "bus",
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        run_id: str | None = None,
    ) -> None:
        self.name = name
        #: Part of every id this bus gives (random unless given; "" gives "<name>-<n>").
        self.run_id = secrets.token_hex(4) if run_id is None else run_id
        self._id_head = f"{name}-{self.run_id}-" if self.run_id else f"{name}-"
        self._lock = threading.Lock()
        self._subscriptions: dict[str, list[Subscription]] = {}
        self._loop = loop
        self._counter = 0
        self._pending = 0  # scheduled on the loop, not yet dispatched
        self._tasks: set[asyncio.Task[None]] = set()
        self.published = 0
        self.delivered = 0
        self.handler_errors = 0

    # --- subscriptions ---------------------------------------------------------------------

    def subscribe(self, event_type: str, handler: Handler) -> Subscription:
        self.bind_running_loop()
        key = normalise_event_type(event_type)
        subscription = Subscription(self, key, handler)
        with self._lock:
            self._subscriptions.setdefault(key, []).append(subscription)
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            found = self._subscriptions.get(subscription.event_type, [])
            if subscription in found:
                found.remove(subscription)

    def _has(self, subscription: Subscription) -> bool:
        with self._lock:
            return subscription in self._subscriptions.get(subscription.event_type, [])

    def subscriber_count(self, event_type: str | None = None) -> int:
        with self._lock:
            if event_type is None:
                return sum(len(subs) for subs in self._subscriptions.values())
            return len(self._subscriptions.get(normalise_event_type(event_type), []))

    # --- loop binding ----------------------------------------------------------------------

    def bind(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Deliver on `loop` (default: the running loop) from now on."""
        self._loop = loop if loop is not None else asyncio.get_running_loop()

    def bind_running_loop(self) -> None:
        """Bind to the running loop unless already bound to a live one (no-op outside a loop)."""
        if self._loop is None or self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # no running loop: stay unbound
                self._loop = asyncio.get_running_loop()

    # --- publishing ------------------------------------------------------------------------

    def publish(
        self,
        event_type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
        source: str = "",
        at: float | None = None,
    ) -> BusMessage:
        """Publish one event (see the module docstring for when it is delivered)."""
        self.bind_running_loop()
        with self._lock:
            self._counter += 1
            self.published += 1
            message_id = id if id else f"{self._id_head}{self._counter}"
        message = BusMessage(normalise_event_type(event_type), payload, message_id, source, at)
        loop = self._loop
        if loop is not None and not loop.is_closed() and loop.is_running():
            with self._lock:
                self._pending += 1
            try:
                loop.call_soon_threadsafe(self._dispatch_scheduled, message)
                return message
            except RuntimeError:  # the loop closed in between: deliver here instead
                with self._lock:
                    self._pending -= 1
        self._dispatch(message)
        return message

    def _dispatch_scheduled(self, message: BusMessage) -> None:
        try:
            self._dispatch(message)
        finally:
            with self._lock:
                self._pending -= 1

    def _dispatch(self, message: BusMessage) -> None:
        with self._lock:
            handlers = [
                *self._subscriptions.get(message.event_type, ()),
                *self._subscriptions.get(ALL_EVENTS, ()),
            ]
        for subscription in handlers:
            try:
                result = subscription.handler(message)
                if inspect.isawaitable(result):
                    self._run_awaitable(result, message)
                    continue
            except Exception:
                self._handler_failed(message)
                continue
            with self._lock:
                self.delivered += 1

    def _run_awaitable(self, result: Awaitable[None], message: BusMessage) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:  # no loop in this thread: run the coroutine to completion here
            try:
                asyncio.run(_awaited(result))
            except Exception:
                self._handler_failed(message)
                return
            with self._lock:
                self.delivered += 1
            return
        task = loop.create_task(_awaited(result))
        with self._lock:
            self._tasks.add(task)
        task.add_done_callback(lambda done: self._task_done(done, message))

    def _task_done(self, task: asyncio.Task[None], message: BusMessage) -> None:
        with self._lock:
            self._tasks.discard(task)
        if task.cancelled():
            return
        if task.exception() is not None:
            self._handler_failed(message)
        else:
            with self._lock:
                self.delivered += 1

    def _handler_failed(self, message: BusMessage) -> None:
        with self._lock:
            self.handler_errors += 1
        _log.exception("event handler failed for %s (%s)", message.event_type, message.id)

    async def drain(self) -> None:
        """Wait until every message published so far has been delivered and every coroutine
        handler started for them has finished."""
        while True:
            with self._lock:
                pending = self._pending
                tasks = set(self._tasks)
            if tasks:
                await asyncio.wait(tasks)
            elif pending:
                await asyncio.sleep(0)
            else:
                return


async def _awaited(result: Awaitable[None]) -> None:
    await result


_default_bus: EventBus | None = None
_default_lock = threading.Lock()


def get_event_bus() -> EventBus:
    """The process-wide default bus (created on first use)."""
    global _default_bus
    with _default_lock:
        if _default_bus is None:
            _default_bus = EventBus("bus")
        return _default_bus


def reset_event_bus() -> None:
    """Forget the default bus (the next `get_event_bus()` creates a fresh one)."""
    global _default_bus
    with _default_lock:
        _default_bus = None
