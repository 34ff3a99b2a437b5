"""Event logs: an append-only JSON Lines writer and a streaming, reporting reader.

One encoded envelope per line, UTF-8, compact and deterministic; gzip'd logs read too.
"""

from selfplay_shell.eventlog.lines import DEFAULT_MAX_LINE_BYTES
from selfplay_shell.eventlog.manifest import Manifest, ManifestError, SegmentInfo
from selfplay_shell.eventlog.ownership import NotAnEventLogError
from selfplay_shell.eventlog.problems import LogError, LogProblem, LogRecord, ProblemKind
from selfplay_shell.eventlog.reader import DEFAULT_DEDUP_WINDOW, read_log, resolve_segments
from selfplay_shell.eventlog.recovery import Recovery, recover_tail
from selfplay_shell.eventlog.writer import (
    EventLog,
    FsyncPolicy,
    LogBusyError,
    LogWriteError,
    encode_line,
)

__all__ = [
    "DEFAULT_DEDUP_WINDOW",
    "DEFAULT_MAX_LINE_BYTES",
    "EventLog",
    "FsyncPolicy",
    "LogBusyError",
    "LogError",
    "LogProblem",
    "LogRecord",
    "LogWriteError",
    "Manifest",
    "ManifestError",
    "NotAnEventLogError",
    "ProblemKind",
    "Recovery",
    "SegmentInfo",
    "encode_line",
    "read_log",
    "recover_tail",
    "resolve_segments",
]
