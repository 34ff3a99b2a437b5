"""Backpressure inputs (§backpressure): queue depth from ``queue_monitor.db``, disk from P2P.

The reference's monitor computes five pressures; only two can be non-zero at ad4eaccf9
(§backpressure):
queue (``queue_status`` row ``training_data``) and memory (this process's CUDA, not read here).
Training and sync pressures are always 0 there, and so are they here. Disk pressure reads
``disk_usage_percent`` from the P2P peers in parity mode (absent → 0, as in the reference) or
also ``disk_percent`` in the corrected mode.
"""

from __future__ import annotations

from collections.abc import Mapping

from selfplay_core.cluster import Backpressure
from selfplay_shell.sources._base import ReadContext, Reading
from selfplay_shell.sources._sqlite import open_readonly, require_columns
from selfplay_shell.sources.errors import SourceFailure

LEVELS = frozenset({"none", "soft", "hard", "stop"})
# BackpressureConfig thresholds (backpressure.py:128-153): pressure 0 at lo, 1 at hi.
QUEUE_RANGE = (10.0, 100.0)
DISK_RANGE = (0.5, 0.9)


def normalize(value: float, lo: float, hi: float) -> float:
    if hi <= lo or value <= lo:
        return 0.0
    if value >= hi:
        return 1.0
    return (value - lo) / (hi - lo)


def read_queue_pressure(ctx: ReadContext) -> Reading[float]:
    """Queue pressure from the training-data row; no row → 0 (the reference's empty monitor)."""
    path = ctx.anchors.expand(ctx.config.queue_monitor_db)
    location = str(path)
    with open_readonly(
        path, deadline=ctx.deadline, busy_timeout_s=ctx.config.sqlite_busy_timeout_seconds
    ) as conn:
        require_columns(
            conn, "queue_status", ("queue_type", "current_depth", "backpressure"), location
        )
        row = conn.execute(
            "SELECT current_depth, backpressure FROM queue_status"
            " WHERE queue_type = 'training_data'"
        ).fetchone()
    if row is None:
        return Reading(0.0)
    depth, level = row
    # The reference's get_status raises ValueError on an unknown level (§backpressure).
    if level not in LEVELS:
        raise SourceFailure(
            "invalid", f"queue_status training_data: unknown backpressure {level!r}", location
        )
    if isinstance(depth, bool) or not isinstance(depth, int | float):
        raise SourceFailure("invalid", f"queue_status training_data: depth {depth!r}", location)
    return Reading(normalize(float(depth), *QUEUE_RANGE))


def disk_pressure(disk_percents: Mapping[str, float]) -> float:
    """Mean disk use over the peers that report it, as a fraction, normalised 0.5 → 0.9."""
    if not disk_percents:
        return 0.0
    mean = sum(disk_percents.values()) / len(disk_percents) / 100.0
    return normalize(mean, *DISK_RANGE)


def combine_backpressure(
    queue: float | None, disk_percents: Mapping[str, float] | None
) -> Backpressure:
    return Backpressure(
        queue_pressure=queue or 0.0,
        disk_pressure=disk_pressure(disk_percents or {}),
    )
