"""selfplay_shell: the imperative shell (files, databases, sockets, clock, timers)."""

from selfplay_shell.accessor import (
    AccessorSnapshot,
    SelfplayDataAccessor,
    SourceHealth,
)
from selfplay_shell.eventlog import EventLog, read_log
from selfplay_shell.sources.config import AccessorConfig, AccessorConfigError
from selfplay_shell.sources.errors import SourceError

__all__: list[str] = [
    "AccessorConfig",
    "AccessorConfigError",
    "AccessorSnapshot",
    "EventLog",
    "SelfplayDataAccessor",
    "SourceError",
    "SourceHealth",
    "read_log",
]
