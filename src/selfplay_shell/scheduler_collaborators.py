"""What `SelfplayScheduler` needs from its collaborators: a recorder (the event log) and a
data accessor, as protocols, so tests and brokers can supply their own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

from returns.io import IOResult

from selfplay_core.cluster import NodeCapability
from selfplay_core.events import Envelope

__all__ = ["DataAccessor", "EventRecorder", "ResumableRecorder"]


class EventRecorder(Protocol):
    """Anything with `append(envelope)`; `selfplay_shell.eventlog.EventLog` is the real one."""

    def append(self, envelope: Envelope) -> None: ...


@runtime_checkable
class ResumableRecorder(EventRecorder, Protocol):
    """A recorder that knows the ids already in its log (`EventLog` does)."""

    def highest_id_number(self, prefix: str) -> int: ...


class DataAccessor(Protocol):
    """The parts of `SelfplayDataAccessor` the scheduler uses."""

    async def snapshot(self) -> Any: ...

    async def get_node_capabilities(self) -> IOResult[tuple[NodeCapability, ...], Any]: ...

    def status(self) -> Mapping[str, Any]: ...
