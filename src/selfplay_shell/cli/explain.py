"""`selfplay-scheduler explain`: one decision's priority terms, multipliers and allocation,
like Slurm's sprio."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import attrs

from selfplay_core.allocation.values import AllocationRequest, BatchAllocation
from selfplay_core.decide import decide
from selfplay_core.events import AllocationDecided, Envelope
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.replay import DecisionCheck, replay
from selfplay_core.state import SchedulerState
from selfplay_shell.cli.output import EXIT_OK, Output, fmt, lines_after, print_json, when
from selfplay_shell.explain import MULTIPLIERS, TERMS, explain_data
from selfplay_shell.replay_files import ReplayInputError, load_policy, log_items, starting_point


def _parse_at(text: str, first_at: float | None) -> float:
    """Seconds since the epoch, an ISO 8601 time (UTC if no zone), or +DURATION after the
    log's first envelope (`+90m`, `+2h`, `+1d`, `+300` seconds)."""
    text = text.strip()
    if text.startswith("+"):
        units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
        body, unit = (text[1:-1], units[text[-1]]) if text[-1] in units else (text[1:], 1.0)
        try:
            offset = float(body) * unit
        except ValueError:
            raise ReplayInputError(f"--at {text}: not a duration like +90m or +2h") from None
        return (first_at or 0.0) + offset
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReplayInputError(
            f"--at {text}: expected epoch seconds, an ISO 8601 time or +DURATION"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _first_at(log: str) -> float | None:
    for item in log_items(log):
        envelope = item if isinstance(item, Envelope) else None
        if envelope is None and hasattr(item, "value_or"):
            envelope = item.value_or(None)
        if isinstance(envelope, Envelope):
            return envelope.at
    return None


def cmd_explain(args: argparse.Namespace, out: Output) -> int:
    start, _ = starting_point(args.log, args.snapshot)
    policy = load_policy(args.policy) if args.policy else start.policy
    fresh = args.policy is not None and start.position == 0
    state0 = SchedulerState.initial(policy) if fresh else start.state
    items = log_items(args.log, start=start.position)
    total = lines_after(args.log, start.position)
    if args.decision is not None:
        with out.progress(total, "replaying") as bar:
            found = _find_decision(state0, items, policy, start.position, args.decision, bar)
        if found is None:
            raise ReplayInputError(f"the log has fewer than {args.decision} decisions")
        check, replayed = found
        if args.policy:
            # under another policy: what that policy would have decided here
            data = explain_data(check.state, check.request, policy, replayed)
            data["source"] = "the decision as this policy would have made it"
        else:
            data = explain_data(
                check.state, check.request, policy, check.recorded, replayed=replayed
            )
            data["source"] = "recorded decision"
        data["decision"] = check.number
        data["envelope_id"] = check.envelope_id
    else:
        at = _parse_at(args.at, _first_at(args.log))
        with out.progress(total, "replaying") as bar:
            state, request = _state_at(state0, items, policy, start.position, at, bar)
        result = decide(state, request, policy)
        data = explain_data(state, request, policy, result)
        data["decision"] = None
        data["source"] = "what the scheduler would decide at this time"
    data["policy"] = args.policy or "recorded"
    if args.json:
        print_json(data)
        return EXIT_OK
    _render_explanation(out, data, top=args.top)
    return EXIT_OK


def _find_decision(
    state0: SchedulerState,
    items: Iterator[Any],
    policy: SchedulerPolicy,
    start: int,
    number: int,
    on_step: Callable[[object], None] | None = None,
) -> tuple[DecisionCheck, BatchAllocation] | None:
    for step in replay(state0, items, policy, start_position=start):
        if on_step is not None:
            on_step(step)
        check = step.check
        if check is not None and check.number == number:
            return check, check.replayed
    return None


def _state_at(
    state0: SchedulerState,
    items: Iterator[Any],
    policy: SchedulerPolicy,
    start: int,
    at: float,
    on_step: Callable[[object], None] | None = None,
) -> tuple[SchedulerState, AllocationRequest]:
    """The state after every envelope up to `at`, and the last recorded request's shape at
    `at` (the facade's default request when there was none)."""
    state = state0
    request = AllocationRequest(now=at)
    for step in replay(state0, items, policy, check=False, start_position=start):
        if on_step is not None:
            on_step(step)
        envelope = step.envelope
        if envelope is not None and envelope.at > at:
            break
        state = step.state
        if envelope is not None and isinstance(envelope.event, AllocationDecided):
            request = attrs.evolve(envelope.event.request, now=at)
    return state, request


def _render_explanation(out: Output, data: dict[str, Any], *, top: int | None) -> None:
    from rich.table import Table

    heading = f"decision {data['decision']}" if data["decision"] is not None else data["source"]
    request = data["request"]
    out.print(
        f"[bold]{heading}[/] at {when(data['at'])} UTC — request: "
        f"games_per_config={request['games_per_config']}, max_configs={request['max_configs']}, "
        f"target_games={request['target_games']}"
    )
    s = data["signals"]
    out.print(
        f"cluster signals: idle GPU fraction {s['idle_gpu_fraction']:.2f}, training queue "
        f"{s['training_queue_depth']}, configs at target {s['configs_at_target_fraction']:.2f}, "
        f"average Elo {s['average_elo']:.1f}"
    )
    rows = data["priorities"] if top is None else data["priorities"][:top]
    weights = data["weights"]
    terms = Table(title="Priority terms: factor → factor × weight (like sprio)")
    terms.add_column("rank", justify="right")
    terms.add_column("config")
    for name, _ in TERMS:
        terms.add_column(f"{name}\n×{weights[name]:.3f}", justify="right")
    terms.add_column("base", justify="right")
    for row in rows:
        cells = [f"{fmt(row['factors'][n])}→{fmt(row['terms'][n])}" for n, _ in TERMS]
        terms.add_row(str(row["rank"]), row["config"], *cells, fmt(row["base"]))
    out.print(terms)
    mult = Table(title="Multipliers and score")
    mult.add_column("rank", justify="right")
    mult.add_column("config")
    mult.add_column("games", justify="right")
    mult.add_column("tier")
    for name in MULTIPLIERS:
        mult.add_column(name.replace("_", " "), justify="right")
    mult.add_column("score", justify="right")
    for row in rows:
        mult.add_row(
            str(row["rank"]),
            row["config"],
            f"{row['games_count']:,}",
            row["tier"],
            *(fmt(row["multipliers"][n]) for n in MULTIPLIERS),
            f"[bold]{fmt(row['score'])}[/]",
        )
    out.print(mult)
    _render_allocation(out, data["allocation"])
    if data.get("replays_identical") is False:
        out.print("[bold red]This decision does not replay identically (see replay).[/]")


def _render_allocation(out: Output, a: dict[str, Any]) -> None:
    from rich.table import Table

    budget = (
        f", budget {a['requested_budget']} → {a['effective_budget']}"
        if a["requested_budget"] is not None
        else ""
    )
    out.print(
        f"[bold]allocation[/] ({a['mode']} mode): G {a['requested_games_per_config']} → "
        f"{a['effective_games_per_config']}{budget}; throttle ×{a['throttle_multiplier']:.3f}, "
        f"health ×{a['health_factor']:.3f}; {a['total_games']:,} games, "
        f"{a['placed_games']:,} placed, {a['unplaced_games']:,} unplaced"
    )
    table = Table(title="How each config's games came about")
    columns = (
        ("config", "config_key"),
        ("score", "score"),
        ("starvation", "starvation"),
        ("from score", "base_games"),
        ("floor", "floor_games"),
        ("4p min", "minimum_games"),
        ("donated", "donated"),
        ("received", "received"),
        ("unthrottled", "unthrottled_games"),
        ("games", "games"),
        ("placed", "placed"),
        ("unplaced", "unplaced"),
        ("note", "note"),
    )
    for title, _ in columns:
        table.add_column(title, justify="left" if title in ("config", "note") else "right")
    for c in a["configs"]:
        cells = []
        for _, key in columns:
            value = c[key]
            cells.append(fmt(value) if isinstance(value, float) else str(value))
        table.add_row(*cells)
    out.print(table)
    for u in a["unmet"]:
        out.print(
            f"unmet {u['kind']} for {u['config_key']}: {u['achieved']} of {u['required']} "
            f"({u['reason']})"
        )
    if a["nodes"]:
        nodes = Table(title="Placement on nodes (caps per batch)")
        for column in ("node", "games", "cap", "large-board cap", "per config"):
            nodes.add_column(
                column, justify="left" if column in ("node", "per config") else "right"
            )
        for n in a["nodes"]:
            per = ", ".join(f"{k} {v}" for k, v in n["by_config"].items())
            nodes.add_row(
                n["node"], str(n["games"]), str(n["games_cap"]), str(n["large_board_cap"]), per
            )
        out.print(nodes)
    if a["excluded_nodes"]:
        out.print(
            "excluded nodes: " + "; ".join(f"{k}: {v}" for k, v in a["excluded_nodes"].items())
        )
    if a["unplaced_reasons"]:
        out.print("unplaced: " + "; ".join(f"{k}: {v}" for k, v in a["unplaced_reasons"].items()))
