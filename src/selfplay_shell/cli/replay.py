"""`selfplay-scheduler replay`: replay a log checking every decision, or under another
policy (the counterfactual), and print the report."""

from __future__ import annotations

import argparse
from pathlib import Path

from selfplay_core.replay import (
    CounterfactualReport,
    DecisionCheck,
    ReplayReport,
    Verdict,
    counterfactual,
    replay_report,
    replay_verdict,
    snapshot_of,
)
from selfplay_core.state import SchedulerState
from selfplay_shell.cli.output import (
    EXIT_DIFFERS,
    EXIT_OK,
    LIST_LIMIT,
    Output,
    chain,
    count,
    lines_after,
    new_table,
    print_json,
    when,
)
from selfplay_shell.cli.plots import plot
from selfplay_shell.replay_files import (
    StrictStop,
    load_policy,
    locate,
    log_items,
    starting_point,
    write_snapshot,
)


def cmd_replay(args: argparse.Namespace, out: Output) -> int:
    from selfplay_shell.plot import DecisionSeries

    start, origin = starting_point(args.log, args.snapshot)
    other = load_policy(args.policy) if args.policy else None
    items = log_items(args.log, start=start, strict=args.strict)
    series = DecisionSeries(with_counterfactual=other is not None) if args.plot else None
    stopped: StrictStop | None = None
    cf: CounterfactualReport | None = None
    with out.progress(lines_after(args.log, start.position), "replaying") as bar:
        on_step = chain(bar, series.on_step if series is not None else None)
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
        policy = other if other is not None else start.policy
        write_snapshot(args.save_snapshot, snapshot_of(report, policy, resumed_from=start))
    if series is not None and stopped is None:
        plot(series, Path(args.plot), title=f"replay of {Path(args.log).name}")
    verdict = _verdict(args, report, counterfactual=other is not None)
    code = EXIT_OK if verdict.ok and stopped is None else EXIT_DIFFERS
    if stopped is None and not verdict.ok:
        out.error(verdict.message)  # why the exit is 1, whatever else is printed
    if args.json:
        data = report.as_dict()
        data["verdict"] = None if stopped is not None else verdict.as_dict()
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
        out.line(f"{count(stopped.position)} record(s) replayed before it.")
        return code
    _render_report(out, report, origin, start.position, counterfactual=other is not None)
    if cf is not None:
        _render_counterfactual(out, cf, args.policy)
    if args.plot:
        out.line(("Plot written to", "bold"), " ", args.plot)
    if args.save_snapshot:
        out.line(("Snapshot written to", "bold"), " ", args.save_snapshot)
    if verdict.ok:
        out.line((verdict.message, "bold green"))
    return code


def _verdict(args: argparse.Namespace, report: ReplayReport, *, counterfactual: bool) -> Verdict:
    """The report's verdict (exit 0 only when it is ok), the first line not replayed located
    in its file when the fold could not say where (an unknown type, a repeated id)."""
    first = report.first_skipped
    where = locate(args.log, first.position) if first is not None and not first.where else None
    return replay_verdict(
        report,
        lenient=args.lenient,
        compare_decisions=not counterfactual,
        first_skipped_at=where,
    )


def _render_report(
    out: Output, report: ReplayReport, origin: str, start: int, *, counterfactual: bool
) -> None:
    table = new_table("Replay", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right", overflow="fold")
    table.add_row("started from", f"{origin} (record {start})")
    table.add_row("records", count(report.items))
    table.add_row("applied", count(report.applied))
    table.add_row("unknown types", count(report.unknown))
    table.add_row("duplicates", count(report.duplicates))
    table.add_row("emit-only (ignored)", count(report.ignored))
    table.add_row("rejected lines", count(report.rejected))
    table.add_row("time span", f"{when(report.first_at)} → {when(report.last_at)} UTC")
    label = "decisions the other policy agrees with" if counterfactual else "decisions identical"
    table.add_row("decisions checked", count(report.decisions_checked))
    table.add_row(label, count(report.decisions_identical))
    out.print(table)
    if report.unknown_types:
        out.print(
            "unknown types: "
            + ", ".join(f"{name} ×{n}" for name, n in report.unknown_types.items())
        )
    if report.rejections:
        rejected = new_table(
            f"Rejected lines (first {min(LIST_LIMIT, report.rejected)})",
        )
        rejected.add_column("where", overflow="fold")
        rejected.add_column("why", overflow="fold")
        for item in report.rejections[:LIST_LIMIT]:
            rejected.add_row(item.where, item.reason)
        out.print(rejected)
    if counterfactual:
        return
    if report.first_difference is not None:
        _render_difference(out, report.first_difference)


def _render_difference(out: Output, first: DecisionCheck) -> None:
    from rich.panel import Panel

    assert first.difference is not None
    lines = [
        f"decision {first.number} (record {first.position}, id {first.envelope_id}) "
        f"at {when(first.at)} UTC",
        f"first difference at {first.difference.path or '<root>'}",
        f"  recorded: {first.difference.recorded}",
        f"  replayed: {first.difference.replayed}",
        f"recorded: {first.recorded.explanation.summary}",
        f"replayed: {first.replayed.explanation.summary}",
        "(both results in full: replay --json, under first_difference)",
    ]
    out.print(Panel("\n".join(lines), title="Decision differs", border_style="red", expand=False))


def _render_counterfactual(out: Output, cf: CounterfactualReport, policy: str) -> None:
    rec, other = cf.recorded_starvation, cf.counterfactual_starvation
    table = new_table(f"Counterfactual under {policy}: games per config")
    table.add_column("config", no_wrap=True)
    for column in (
        "games\nrecorded",
        "games\nother policy",
        "Δ games",
        "share\nrecorded",
        "share\nother",
        "longest wait\nrecorded (h)",
        "longest wait\nother (h)",
    ):
        table.add_column(column, justify="right")
    for key in sorted(set(cf.recorded_games) | set(cf.counterfactual_games) | set(rec.share)):
        a = cf.recorded_games.get(key, 0)
        b = cf.counterfactual_games.get(key, 0)
        table.add_row(
            str(key),
            count(a),
            count(b),
            f"{b - a:+,}",
            f"{rec.share.get(key, 0.0):.1%}",
            f"{other.share.get(key, 0.0):.1%}",
            f"{rec.longest_wait_seconds.get(key, 0.0) / 3600:.2f}",
            f"{other.longest_wait_seconds.get(key, 0.0) / 3600:.2f}",
        )
    out.print(table)
    nodes = new_table("Games per node")
    nodes.add_column("node", no_wrap=True)
    for column in ("games recorded", "games other policy", "Δ games"):
        nodes.add_column(column, justify="right")
    for node in sorted(set(cf.recorded_nodes) | set(cf.counterfactual_nodes)):
        a = cf.recorded_nodes.get(node, 0)
        b = cf.counterfactual_nodes.get(node, 0)
        nodes.add_row(node, count(a), count(b), f"{b - a:+,}")
    out.print(nodes)
    differing = [d for d in cf.decisions if d.differs]
    if differing:
        per = new_table(
            f"Decisions that differ (first {min(LIST_LIMIT, len(differing))})",
        )
        per.add_column("decision", justify="right")
        per.add_column("at (UTC)")
        per.add_column("games Δ per config")
        for d in differing[:LIST_LIMIT]:
            changes = ", ".join(f"{k} {v:+}" for k, v in d.games_delta.items()) or "placement"
            per.add_row(str(d.number), when(d.at), changes)
        out.print(per)
    never = [str(k) for k in other.never_fed]
    out.line(
        f"{count(cf.decisions_differing)} of {count(len(cf.decisions))} decisions differ; "
        f"never fed under the other policy: {', '.join(never) or 'none'}"
    )
    out.line(
        "Note: the other policy is asked at each recorded decision, on the recorded history: "
        "game counts, Elo and node state follow what the recorded decisions produced, not "
        "what the other policy's games would have. Δ is other − recorded; share is each "
        "config's fraction of all games; longest wait is the longest time a config went "
        "without games."
    )
