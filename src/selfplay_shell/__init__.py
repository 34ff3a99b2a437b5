"""selfplay_shell: the imperative shell (files, databases, sockets, clock, timers)."""

from selfplay_shell.accessor import (
    AccessorSnapshot,
    SelfplayDataAccessor,
    SourceHealth,
)
from selfplay_shell.bus import BusMessage, EventBus, EventSink, EventSource, get_event_bus
from selfplay_shell.eventlog import EventLog, read_log
from selfplay_shell.scheduler import (
    SelfplayScheduler,
    get_selfplay_scheduler,
    reset_selfplay_scheduler,
)
from selfplay_shell.sources.config import AccessorConfig, AccessorConfigError
from selfplay_shell.sources.errors import SourceError

__all__: list[str] = [
    "AccessorConfig",
    "AccessorConfigError",
    "AccessorSnapshot",
    "BusMessage",
    "EventBus",
    "EventLog",
    "EventSink",
    "EventSource",
    "SelfplayDataAccessor",
    "SelfplayScheduler",
    "SourceError",
    "SourceHealth",
    "get_event_bus",
    "get_selfplay_scheduler",
    "read_log",
    "reset_selfplay_scheduler",
]
