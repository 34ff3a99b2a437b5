"""`selfplay-scheduler status`: metrics, status and health after a log's last envelope."""

from __future__ import annotations

import argparse
from typing import Any, Final

from selfplay_core.allocation.values import BatchAllocation
from selfplay_core.events import AllocationDecided
from selfplay_core.replay import replay
from selfplay_core.status import ShellFacts, health_check, scheduler_metrics, scheduler_status
from selfplay_shell.cli.output import (
    EXIT_OK,
    Output,
    cell,
    count,
    lines_after,
    new_table,
    number,
    print_json,
    when,
)
from selfplay_shell.replay_files import log_items, starting_point


def cmd_status(args: argparse.Namespace, out: Output) -> int:
    start, origin = starting_point(args.log, args.snapshot)
    policy = start.policy
    items = log_items(args.log, start=start)
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


#: Headers of the per-config status columns: what each is, in which unit.
_CONFIG_HEADERS: Final = {
    "priority_score": "priority\nscore",
    "staleness_hours": "staleness\n(h)",
    "elo_velocity": "Elo velocity\n(Elo/day)",
    "exploration_boost": "exploration\nboost (×)",
    "curriculum_weight": "curriculum\nweight (×)",
    "games_allocated": "games in\nlast decision",
}
_STATUS_LEGEND: Final = (
    "Elo velocity: Elo gained per day (the populator's figure); × marks a multiplier (1 = no "
    "change); games in last decision: what the most recent decision gave each config "
    "(games_allocated_total in Metrics counts every decision)."
)


def _render_status(out: Output, data: dict[str, Any]) -> None:
    health = data["health"]
    colour = {"healthy": "green", "degraded": "yellow"}.get(health["status"], "red")
    # the message repeats the reasons when there are any: say it once, one reason a line
    summary = "" if health["reasons"] else f" — {health['message']}"
    out.line(
        f"after the last envelope ({when(data['at'])} UTC): ",
        (health["status"], f"bold {colour}"),
        summary,
    )
    for reason in health["reasons"]:
        out.line(f"  • {reason}")
    metrics = new_table("Metrics", show_header=False)
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for key, value in data["metrics"].items():
        metrics.add_row(key, cell(value))
    out.print(metrics)
    status = data["status"]
    configs = new_table("Configs")
    columns = list(next(iter(status["config_priorities"].values()), {}))
    configs.add_column("config", no_wrap=True)
    for column in columns:
        configs.add_column(_CONFIG_HEADERS.get(column, column.replace("_", " ")), justify="right")
    for key, row in status["config_priorities"].items():
        configs.add_row(key, *(cell(row[c]) for c in columns))
    out.print(configs)
    out.line(_STATUS_LEGEND)
    out.line(f"nodes: {count(status['node_count'])} known")
    for label, key in (
        ("eligible", "eligible_nodes"),
        ("unhealthy", "unhealthy_nodes"),
        ("overloaded", "overloaded_nodes"),
    ):
        names = status[key]
        out.line(f"  {label} ({len(names)}): {', '.join(names) or 'none'}")
    out.line(
        f"events applied {count(status['events_applied'])}, rejected "
        f"{count(status['events_rejected'])}; cluster health "
        f"×{number(status['cluster_health_factor'])}; "
        f"training queue {count(status['training_queue_depth'])}"
    )
