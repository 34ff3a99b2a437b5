"""`selfplay-scheduler status`: metrics, status and health after a log's last envelope."""

from __future__ import annotations

import argparse
from typing import Any

from selfplay_core.allocation.values import BatchAllocation
from selfplay_core.events import AllocationDecided
from selfplay_core.replay import replay
from selfplay_core.status import ShellFacts, health_check, scheduler_metrics, scheduler_status
from selfplay_shell.cli.output import EXIT_OK, Output, fmt, lines_after, print_json, when
from selfplay_shell.replay_files import log_items, starting_point


def cmd_status(args: argparse.Namespace, out: Output) -> int:
    start, origin = starting_point(args.log, args.snapshot)
    policy = start.policy
    items = log_items(args.log, start=start.position)
    state = start.state
    last: BatchAllocation | None = None
    rejected = 0
    last_at: float | None = None
    with out.progress(lines_after(args.log, start.position), "reading") as bar:
        for step in replay(state, items, policy, check=False, start_position=start.position):
            if bar is not None:
                bar(step)
            state = step.state
            if step.rejection is not None:
                rejected += 1
            envelope = step.envelope
            if envelope is not None:
                last_at = envelope.at
                if isinstance(envelope.event, AllocationDecided):
                    last = envelope.event.result
    now = last_at if last_at is not None else state.last_at
    # A log cannot say whether the scheduler was subscribed to its bus; it recorded events,
    # so it is taken to have been.
    facts = ShellFacts(subscribed=True, events_rejected=rejected)
    data = {
        "log": args.log,
        "started_from": origin,
        "at": now,
        "metrics": scheduler_metrics(state, now, policy),
        "status": scheduler_status(state, now, policy, facts, last),
        "health": health_check(state, now, policy, facts).as_dict(),
    }
    if args.json:
        print_json(data)
        return EXIT_OK
    _render_status(out, data)
    return EXIT_OK


def _render_status(out: Output, data: dict[str, Any]) -> None:
    from rich.table import Table

    health = data["health"]
    colour = {"healthy": "green", "degraded": "yellow"}.get(health["status"], "red")
    out.print(
        f"after the last envelope ({when(data['at'])} UTC): "
        f"[bold {colour}]{health['status']}[/] — {health['message']}"
    )
    for reason in health["reasons"]:
        out.print(f"  • {reason}")
    metrics = Table(title="Metrics", show_header=False)
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for key, value in data["metrics"].items():
        metrics.add_row(key, fmt(value) if isinstance(value, float) else str(value))
    out.print(metrics)
    status = data["status"]
    configs = Table(title="Configs")
    columns = list(next(iter(status["config_priorities"].values()), {}))
    configs.add_column("config")
    for column in columns:
        configs.add_column(column.replace("_", " "), justify="right")
    for key, row in status["config_priorities"].items():
        configs.add_row(
            key, *(fmt(row[c]) if isinstance(row[c], float) else str(row[c]) for c in columns)
        )
    out.print(configs)
    out.print(
        f"nodes: {status['node_count']} known"
        f"; eligible: {', '.join(status['eligible_nodes']) or 'none'}"
        f"; unhealthy: {', '.join(status['unhealthy_nodes']) or 'none'}"
        f"; overloaded: {', '.join(status['overloaded_nodes']) or 'none'}"
    )
    out.print(
        f"events applied {status['events_applied']:,}, rejected {status['events_rejected']:,}; "
        f"cluster health ×{status['cluster_health_factor']:.2f}; "
        f"training queue {status['training_queue_depth']}"
    )
