"""`selfplay-scheduler replay`: replay a log checking every decision, or under another
policy (the counterfactual), and print the report."""

from __future__ import annotations

import argparse
from pathlib import Path

from selfplay_core.replay import (
    CounterfactualReport,
    DecisionCheck,
    ReplayReport,
    Snapshot,
    Step,
    counterfactual,
    replay_report,
)
from selfplay_core.state import SchedulerState
from selfplay_shell.cli.output import (
    EXIT_DIFFERS,
    EXIT_OK,
    LIST_LIMIT,
    Output,
    chain,
    lines_after,
    print_json,
    when,
)
from selfplay_shell.cli.plots import plot
from selfplay_shell.replay_files import (
    StrictStop,
    load_policy,
    log_items,
    starting_point,
    write_snapshot,
)


class _LastId:
    def __init__(self) -> None:
        self.value: str | None = None

    def __call__(self, step: Step) -> None:
        if step.envelope is not None:
            self.value = step.envelope.id


def cmd_replay(args: argparse.Namespace, out: Output) -> int:
    from selfplay_shell.plot import DecisionSeries

    start, origin = starting_point(args.log, args.snapshot)
    other = load_policy(args.policy) if args.policy else None
    items = log_items(args.log, start=start.position, strict=args.strict)
    series = DecisionSeries(with_counterfactual=other is not None) if args.plot else None
    last_id = _LastId()
    stopped: StrictStop | None = None
    cf: CounterfactualReport | None = None
    with out.progress(lines_after(args.log, start.position), "replaying") as bar:
        on_step = chain(last_id, bar, series.on_step if series is not None else None)
        try:
            if other is not None:
                state0 = SchedulerState.initial(other) if start.position == 0 else start.state
                cf = counterfactual(
                    state0,
                    items,
                    other,
                    window_seconds=args.window,
                    start_position=start.position,
                    on_step=on_step,
                )
                report = cf.replay
            else:
                report = replay_report(
                    start.state,
                    items,
                    start.policy,
                    start_position=start.position,
                    on_step=on_step,
                )
        except StrictStop as stop:
            stopped = stop
            report = ReplayReport(final_position=stop.position)
    if args.save_snapshot and stopped is None:
        state = report.final_state if report.final_state is not None else start.state
        policy = other if other is not None else start.policy
        write_snapshot(
            args.save_snapshot, Snapshot(state, policy, report.final_position, last_id.value)
        )
    if series is not None and stopped is None:
        plot(series, Path(args.plot), title=f"replay of {Path(args.log).name}")
    differs = other is None and not report.all_identical
    code = EXIT_DIFFERS if (differs or stopped is not None) else EXIT_OK
    if args.json:
        data = report.as_dict()
        data["started_from"] = origin
        data["start_position"] = start.position
        data["policy"] = args.policy or f"as recorded ({origin})"
        data["strict_stop"] = None if stopped is None else str(stopped.problem)
        if cf is not None:
            data["counterfactual"] = cf.as_dict()
        if args.plot and stopped is None:
            data["plot"] = str(args.plot)
        print_json(data)
        return code
    if stopped is not None:
        out.error(f"--strict: stopped at the first bad line: {stopped.problem}")
        out.print(f"{stopped.position} record(s) replayed before it.")
        return code
    _render_report(out, report, origin, start.position, counterfactual=other is not None)
    if cf is not None:
        _render_counterfactual(out, cf, args.policy)
    if args.plot:
        out.print(f"[bold]Plot written to[/] {args.plot}")
    if args.save_snapshot:
        out.print(f"[bold]Snapshot written to[/] {args.save_snapshot}")
    return code


def _render_report(
    out: Output, report: ReplayReport, origin: str, start: int, *, counterfactual: bool
) -> None:
    from rich.table import Table

    table = Table(title="Replay", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("started from", f"{origin} (record {start})")
    table.add_row("records", f"{report.items:,}")
    table.add_row("applied", f"{report.applied:,}")
    table.add_row("unknown types", f"{report.unknown:,}")
    table.add_row("duplicates", f"{report.duplicates:,}")
    table.add_row("emit-only (ignored)", f"{report.ignored:,}")
    table.add_row("rejected lines", f"{report.rejected:,}")
    table.add_row("time span", f"{when(report.first_at)} → {when(report.last_at)} UTC")
    label = "decisions the other policy agrees with" if counterfactual else "decisions identical"
    table.add_row("decisions checked", f"{report.decisions_checked:,}")
    table.add_row(label, f"{report.decisions_identical:,}")
    out.print(table)
    if report.unknown_types:
        out.print(
            "unknown types: "
            + ", ".join(f"{name} ×{n}" for name, n in report.unknown_types.items())
        )
    if report.rejections:
        rejected = Table(title=f"Rejected lines (first {min(LIST_LIMIT, report.rejected)})")
        rejected.add_column("where")
        rejected.add_column("why")
        for item in report.rejections[:LIST_LIMIT]:
            rejected.add_row(item.where, item.reason)
        out.print(rejected)
    if counterfactual:
        return
    first = report.first_difference
    if first is None:
        if report.decisions_checked:
            out.print(
                f"[bold green]All {report.decisions_checked} decisions replay identically.[/]"
            )
        return
    _render_difference(out, first)


def _render_difference(out: Output, first: DecisionCheck) -> None:
    from rich.panel import Panel

    assert first.difference is not None
    lines = [
        f"decision {first.number} (record {first.position}, id {first.envelope_id}) "
        f"at {when(first.at)} UTC",
        f"first difference at [bold]{first.difference.path or '<root>'}[/]",
        f"  recorded: {first.difference.recorded}",
        f"  replayed: {first.difference.replayed}",
        f"recorded: {first.recorded.explanation.summary}",
        f"replayed: {first.replayed.explanation.summary}",
        "(both results in full: replay --json, under first_difference)",
    ]
    out.print(Panel("\n".join(lines), title="[bold red]Decision differs[/]", expand=False))


def _render_counterfactual(out: Output, cf: CounterfactualReport, policy: str) -> None:
    from rich.table import Table

    rec, other = cf.recorded_starvation, cf.counterfactual_starvation
    table = Table(title=f"Counterfactual under {policy}: games per config")
    for column in (
        "config",
        "recorded",
        "other policy",
        "Δ",
        "share rec.",
        "share other",
        "longest wait rec. (h)",
        "longest wait other (h)",
    ):
        table.add_column(column, justify="left" if column == "config" else "right")
    for key in sorted(set(cf.recorded_games) | set(cf.counterfactual_games) | set(rec.share)):
        a = cf.recorded_games.get(key, 0)
        b = cf.counterfactual_games.get(key, 0)
        table.add_row(
            str(key),
            f"{a:,}",
            f"{b:,}",
            f"{b - a:+,}",
            f"{rec.share.get(key, 0.0):.1%}",
            f"{other.share.get(key, 0.0):.1%}",
            f"{rec.longest_wait_seconds.get(key, 0.0) / 3600:.2f}",
            f"{other.longest_wait_seconds.get(key, 0.0) / 3600:.2f}",
        )
    out.print(table)
    nodes = Table(title="Games per node")
    for column in ("node", "recorded", "other policy", "Δ"):
        nodes.add_column(column, justify="left" if column == "node" else "right")
    for node in sorted(set(cf.recorded_nodes) | set(cf.counterfactual_nodes)):
        a = cf.recorded_nodes.get(node, 0)
        b = cf.counterfactual_nodes.get(node, 0)
        nodes.add_row(node, f"{a:,}", f"{b:,}", f"{b - a:+,}")
    out.print(nodes)
    differing = [d for d in cf.decisions if d.differs]
    if differing:
        per = Table(title=f"Decisions that differ (first {min(LIST_LIMIT, len(differing))})")
        per.add_column("decision", justify="right")
        per.add_column("at (UTC)")
        per.add_column("games Δ per config")
        for d in differing[:LIST_LIMIT]:
            changes = ", ".join(f"{k} {v:+}" for k, v in d.games_delta.items()) or "placement"
            per.add_row(str(d.number), when(d.at), changes)
        out.print(per)
    never = [str(k) for k in other.never_fed]
    out.print(
        f"{cf.decisions_differing} of {len(cf.decisions)} decisions differ; "
        f"never fed under the other policy: {', '.join(never) or 'none'}"
    )
