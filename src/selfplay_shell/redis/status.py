"""What a replica reports: the facts, the health level with its reasons, `/healthz` and `/metrics`.

Pure functions of one `ServiceFacts` value (taken by the service under no lock: every field is
a plain value read once), so the HTTP thread never touches the running loop's objects.
"""

from __future__ import annotations

from typing import Any, Final

import attrs

from selfplay_core.status import HealthStatus

__all__ = ["DEFAULT_LAG_LIMIT", "ServiceFacts", "health", "healthz", "metrics_text"]

#: Unread entries above which a replica reports itself degraded.
DEFAULT_LAG_LIMIT: Final = 100_000


@attrs.frozen
class ServiceFacts:
    replica: str
    role: str  # "leader" or "standby"
    fencing_token: int | None
    last_stream_id: str
    applied: int
    duplicates: int
    rejected: int
    decisions: int
    decisions_written: int
    lag: int | None
    lease_age: float | None
    connected: bool
    disconnected_reason: str | None
    persistence_problem: str | None
    stopping: bool = False
    lag_limit: int = DEFAULT_LAG_LIMIT


def health(facts: ServiceFacts) -> tuple[HealthStatus, tuple[str, ...]]:
    """Degraded while Redis is unreachable, when its persistence is not what the service needs,
    or when this replica lags; healthy otherwise. (A replica that cannot write its local log
    stops with an error instead: it would otherwise diverge silently.)"""
    reasons: list[str] = []
    if not facts.connected:
        reasons.append(f"redis unreachable: {facts.disconnected_reason or 'not connected yet'}")
    if facts.persistence_problem:
        reasons.append(facts.persistence_problem)
    if facts.lag is not None and facts.lag > facts.lag_limit:
        reasons.append(f"lagging: {facts.lag} entries unread (limit {facts.lag_limit})")
    if facts.stopping:
        reasons.append("stopping")
    return (HealthStatus.DEGRADED if reasons else HealthStatus.HEALTHY), tuple(reasons)


def healthz(facts: ServiceFacts, state_digest: str) -> dict[str, Any]:
    level, reasons = health(facts)
    return {
        "replica": facts.replica,
        "role": facts.role,
        "fencing_token": facts.fencing_token,
        "last_stream_id": facts.last_stream_id,
        "applied": facts.applied,
        "decisions": facts.decisions,
        "decisions_written": facts.decisions_written,
        "rejected": facts.rejected,
        "lag": facts.lag,
        "state_digest": state_digest,
        "status": str(level),
        "reasons": list(reasons),
    }


_METRICS: Final = (
    ("lag", "gauge", "Stream entries not yet read by this replica"),
    ("applied", "counter", "Envelopes applied to the state"),
    ("duplicates", "counter", "Envelopes dropped because their id was already applied"),
    ("rejected", "counter", "Entries sent to the dead-letter stream"),
    ("decisions", "counter", "Decisions applied from the stream (any leader)"),
    ("decisions_written", "counter", "Decisions this process wrote as leader"),
    ("leader", "gauge", "1 while this replica holds the lease"),
    ("lease_age_seconds", "gauge", "Seconds since the lease was acquired or renewed"),
    ("fencing_token", "gauge", "The token of this replica's lease (0 when standby)"),
    ("redis_connected", "gauge", "1 while Redis answers"),
    ("healthy", "gauge", "1 when the health level is healthy"),
)


def metrics_text(facts: ServiceFacts) -> str:
    """Prometheus text exposition format (version 0.0.4), one `selfplay_service_` family per
    metric, labelled with the replica name."""
    level, _ = health(facts)
    values: dict[str, float | None] = {
        "lag": facts.lag,
        "applied": facts.applied,
        "duplicates": facts.duplicates,
        "rejected": facts.rejected,
        "decisions": facts.decisions,
        "decisions_written": facts.decisions_written,
        "leader": 1 if facts.role == "leader" else 0,
        "lease_age_seconds": facts.lease_age,
        "fencing_token": facts.fencing_token or 0,
        "redis_connected": 1 if facts.connected else 0,
        "healthy": 1 if level is HealthStatus.HEALTHY else 0,
    }
    label = '{replica="' + facts.replica.replace("\\", "\\\\").replace('"', '\\"') + '"}'
    lines: list[str] = []
    for name, kind, text in _METRICS:
        value = values[name]
        if value is None:
            continue
        family = f"selfplay_service_{name}"
        if kind == "counter":
            family += "_total"
        lines += [f"# HELP {family} {text}", f"# TYPE {family} {kind}"]
        lines.append(
            f"{family}{label} {value:g}" if isinstance(value, float) else f"{family}{label} {value}"
        )
    return "\n".join(lines) + "\n"
