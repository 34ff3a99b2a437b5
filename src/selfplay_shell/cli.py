"""`selfplay-scheduler`: simulate a cluster, replay a log, explain a decision, show status,
validate a log.

    selfplay-scheduler simulate [--nodes N --hours H --seed S --policy P --out LOG --plot PNG]
    selfplay-scheduler replay LOG [--policy P] [--snapshot S] [--save-snapshot S] [--strict]
                                  [--json] [--plot PNG]
    selfplay-scheduler explain LOG (--decision N | --at T) [--policy P] [--json]
    selfplay-scheduler status LOG [--json]
    selfplay-scheduler validate LOG [--json]

Exit status: 0 when all is well; 1 when a replayed decision differs from the recorded one, a
line is rejected under `--strict`, or `validate` finds an error; 2 for bad arguments, a missing
log, or a policy or snapshot that cannot be used. Tables go to stdout (plain text when it is
not a terminal); `--json` prints one JSON object instead. rich and matplotlib are imported
only here and in the plot module, so the library does not need them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import attrs
from returns.result import Failure

from selfplay_core.allocation.values import AllocationRequest, BatchAllocation
from selfplay_core.decide import decide
from selfplay_core.events import AllocationDecided, Envelope
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.replay import (
    CounterfactualReport,
    DecisionCheck,
    ReplayReport,
    Snapshot,
    Step,
    counterfactual,
    replay,
    replay_report,
)
from selfplay_core.state import SchedulerState
from selfplay_core.status import ShellFacts, health_check, scheduler_metrics, scheduler_status
from selfplay_shell.explain import MULTIPLIERS, TERMS, explain_data
from selfplay_shell.replay_files import (
    ReplayInputError,
    StrictStop,
    count_lines,
    load_policy,
    log_items,
    sidecar_snapshot,
    starting_point,
    write_snapshot,
)

__all__ = ["EXIT_DIFFERS", "EXIT_OK", "EXIT_USAGE", "main"]

EXIT_OK: Final = 0
EXIT_DIFFERS: Final = 1
EXIT_USAGE: Final = 2

#: Logs with more lines than this get a progress bar (on a terminal).
PROGRESS_MIN_LINES: Final = 50_000
#: How many rejected lines / differing decisions the tables list.
LIST_LIMIT: Final = 10


class _Output:
    """Where human output goes: rich consoles for stdout and stderr (plain when not a
    terminal), and whether to print at all (`--json` and `--quiet` silence the tables)."""

    def __init__(self, *, quiet: bool = False) -> None:
        from rich.console import Console

        self.out = Console(highlight=False)
        if not self.out.is_terminal:
            # piped or captured: wide enough that tables do not wrap, no wrapping of text
            self.out = Console(highlight=False, width=180, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False)
        if not self.err.is_terminal:
            self.err = Console(stderr=True, highlight=False, width=180, soft_wrap=True)
        self.quiet = quiet

    def print(self, *things: Any) -> None:
        if not self.quiet:
            self.out.print(*things)

    def error(self, message: str) -> None:
        self.err.print(f"[bold red]error:[/] {message}")

    @contextmanager
    def progress(self, total: int | None, label: str) -> Iterator[Callable[[object], None] | None]:
        """A progress bar on stderr for long logs on a terminal; None otherwise."""
        if total is None or total < PROGRESS_MIN_LINES or not self.err.is_terminal:
            yield None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=self.err,
            transient=True,
        ) as bar:
            task = bar.add_task(label, total=total)
            seen = [0]

            def advance(_item: object) -> None:
                seen[0] += 1
                if seen[0] % 4096 == 0:
                    bar.update(task, completed=seen[0])

            yield advance


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _chain(*callbacks: Callable[[Step], None] | None) -> Callable[[Step], None] | None:
    """One callback calling each of `callbacks` (None ones left out)."""
    active = [c for c in callbacks if c is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]

    def both(step: Step) -> None:
        for callback in active:
            callback(step)

    return both


# --- simulate --------------------------------------------------------------------------------


def _default_out(seed: int, nodes: int, hours: float) -> Path:
    return Path("selfplay-runs") / f"sim-seed{seed}-{nodes}nodes-{hours:g}h.jsonl"


def _remove_log(path: Path) -> None:
    from selfplay_shell.eventlog.manifest import manifest_path_for

    for file in (path, manifest_path_for(path), sidecar_snapshot(path)):
        if file.exists():
            file.unlink()


def _cmd_simulate(args: argparse.Namespace, out: _Output) -> int:
    from selfplay_shell.simulate import SimulationConfig, simulate

    policy = load_policy(args.policy) if args.policy else SchedulerPolicy()
    if args.nodes < 1 or args.hours <= 0:
        raise ReplayInputError("--nodes must be ≥ 1 and --hours > 0")
    default = args.out is None
    path = Path(args.out) if args.out else _default_out(args.seed, args.nodes, args.hours)
    if path.exists() and not (default or args.force):
        raise ReplayInputError(f"{path} exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_log(path)
    config = SimulationConfig(nodes=args.nodes, hours=args.hours, seed=args.seed)
    # The sidecar snapshot carries the policy, so `replay LOG` checks under the same one.
    write_snapshot(sidecar_snapshot(path), Snapshot(SchedulerState.initial(policy), policy, 0))
    steps_total = int(args.hours * 60)
    with _sim_progress(out, steps_total) as on_progress:
        result = simulate(config, policy, path, on_progress=on_progress)
    plot_path = None
    if args.plot:
        plot_path = _plot_log(path, Path(args.plot), title=f"simulation {path.name}")
    summary = {
        "log": str(path),
        "snapshot": str(sidecar_snapshot(path)),
        "nodes": result.nodes,
        "hours": result.hours,
        "seed": args.seed,
        "policy": args.policy or "reference",
        "envelopes": result.envelopes,
        "decisions": result.decisions,
        "trainings": result.trainings,
        "node_failures": result.node_failures,
        "games_allocated": {str(k): v for k, v in result.games_allocated.items()},
        "games_played": {str(k): v for k, v in result.games_played.items()},
        "final_elo": {str(k): v for k, v in result.final_elo.items()},
        "plot": None if plot_path is None else str(plot_path),
    }
    if args.json:
        _print_json(summary)
        return EXIT_OK
    _render_simulation(out, summary)
    return EXIT_OK


@contextmanager
def _sim_progress(out: _Output, total: int) -> Iterator[Callable[[int, int], None] | None]:
    if out.quiet or not out.err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        TimeRemainingColumn(),
        console=out.err,
        transient=True,
    ) as bar:
        task = bar.add_task("simulating", total=total)

        def update(step: int, steps: int) -> None:
            if step % 30 == 0 or step == steps:
                bar.update(task, completed=step, total=steps)

        yield update


def _render_simulation(out: _Output, summary: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"Simulated {summary['hours']:g} h on {summary['nodes']} nodes")
    for column in ("config", "games allocated", "games played", "final Elo"):
        table.add_column(column, justify="right" if column != "config" else "left")
    for key, allocated in summary["games_allocated"].items():
        table.add_row(
            key,
            f"{allocated:,}",
            f"{summary['games_played'][key]:,}",
            f"{summary['final_elo'][key]:.1f}",
        )
    out.print(table)
    out.print(
        f"{summary['envelopes']:,} envelopes, {summary['decisions']} decisions, "
        f"{summary['trainings']} trainings, {summary['node_failures']} node failures "
        f"(seed {summary['seed']}, policy: {summary['policy']})"
    )
    out.print(f"[bold]Log written to[/] {summary['log']}")
    if summary["plot"]:
        out.print(f"[bold]Plot written to[/] {summary['plot']}")
    out.print(f"Replay it: selfplay-scheduler replay {summary['log']}")
    out.print(f"Explain a decision: selfplay-scheduler explain {summary['log']} --decision 1")


# --- replay ----------------------------------------------------------------------------------


class _LastId:
    def __init__(self) -> None:
        self.value: str | None = None

    def __call__(self, step: Step) -> None:
        if step.envelope is not None:
            self.value = step.envelope.id


def _cmd_replay(args: argparse.Namespace, out: _Output) -> int:
    from selfplay_shell.plot import DecisionSeries

    start, origin = starting_point(args.log, args.snapshot)
    other = load_policy(args.policy) if args.policy else None
    items = log_items(args.log, start=start.position, strict=args.strict)
    series = DecisionSeries(with_counterfactual=other is not None) if args.plot else None
    last_id = _LastId()
    stopped: StrictStop | None = None
    cf: CounterfactualReport | None = None
    with out.progress(_lines(args.log, start.position), "replaying") as bar:
        on_step = _chain(last_id, bar, series.on_step if series is not None else None)
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
        _plot(series, Path(args.plot), title=f"replay of {Path(args.log).name}")
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
        _print_json(data)
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


def _lines(log: str, start: int) -> int | None:
    total = count_lines(log)
    return None if total is None else max(0, total - start)


def _render_report(
    out: _Output, report: ReplayReport, origin: str, start: int, *, counterfactual: bool
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
    table.add_row("time span", f"{_when(report.first_at)} → {_when(report.last_at)} UTC")
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


def _render_difference(out: _Output, first: DecisionCheck) -> None:
    from rich.panel import Panel

    assert first.difference is not None
    lines = [
        f"decision {first.number} (record {first.position}, id {first.envelope_id}) "
        f"at {_when(first.at)} UTC",
        f"first difference at [bold]{first.difference.path or '<root>'}[/]",
        f"  recorded: {first.difference.recorded}",
        f"  replayed: {first.difference.replayed}",
        f"recorded: {first.recorded.explanation.summary}",
        f"replayed: {first.replayed.explanation.summary}",
        "(both results in full: replay --json, under first_difference)",
    ]
    out.print(Panel("\n".join(lines), title="[bold red]Decision differs[/]", expand=False))


def _render_counterfactual(out: _Output, cf: CounterfactualReport, policy: str) -> None:
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
            per.add_row(str(d.number), _when(d.at), changes)
        out.print(per)
    never = [str(k) for k in other.never_fed]
    out.print(
        f"{cf.decisions_differing} of {len(cf.decisions)} decisions differ; "
        f"never fed under the other policy: {', '.join(never) or 'none'}"
    )


# --- explain ---------------------------------------------------------------------------------


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


def _cmd_explain(args: argparse.Namespace, out: _Output) -> int:
    start, _ = starting_point(args.log, args.snapshot)
    policy = load_policy(args.policy) if args.policy else start.policy
    fresh = args.policy is not None and start.position == 0
    state0 = SchedulerState.initial(policy) if fresh else start.state
    items = log_items(args.log, start=start.position)
    total = _lines(args.log, start.position)
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
        _print_json(data)
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


def _fmt(value: float) -> str:
    return f"{value:.3f}" if abs(value) < 1000 else f"{value:,.0f}"


def _render_explanation(out: _Output, data: dict[str, Any], *, top: int | None) -> None:
    from rich.table import Table

    heading = f"decision {data['decision']}" if data["decision"] is not None else data["source"]
    request = data["request"]
    out.print(
        f"[bold]{heading}[/] at {_when(data['at'])} UTC — request: "
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
        cells = [f"{_fmt(row['factors'][n])}→{_fmt(row['terms'][n])}" for n, _ in TERMS]
        terms.add_row(str(row["rank"]), row["config"], *cells, _fmt(row["base"]))
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
            *(_fmt(row["multipliers"][n]) for n in MULTIPLIERS),
            f"[bold]{_fmt(row['score'])}[/]",
        )
    out.print(mult)
    _render_allocation(out, data["allocation"])
    if data.get("replays_identical") is False:
        out.print("[bold red]This decision does not replay identically (see replay).[/]")


def _render_allocation(out: _Output, a: dict[str, Any]) -> None:
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
            cells.append(_fmt(value) if isinstance(value, float) else str(value))
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


# --- status and validate ---------------------------------------------------------------------


def _cmd_status(args: argparse.Namespace, out: _Output) -> int:
    start, origin = starting_point(args.log, args.snapshot)
    policy = start.policy
    items = log_items(args.log, start=start.position)
    state = start.state
    last: BatchAllocation | None = None
    rejected = 0
    last_at: float | None = None
    with out.progress(_lines(args.log, start.position), "reading") as bar:
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
        _print_json(data)
        return EXIT_OK
    _render_status(out, data)
    return EXIT_OK


def _render_status(out: _Output, data: dict[str, Any]) -> None:
    from rich.table import Table

    health = data["health"]
    colour = {"healthy": "green", "degraded": "yellow"}.get(health["status"], "red")
    out.print(
        f"after the last envelope ({_when(data['at'])} UTC): "
        f"[bold {colour}]{health['status']}[/] — {health['message']}"
    )
    for reason in health["reasons"]:
        out.print(f"  • {reason}")
    metrics = Table(title="Metrics", show_header=False)
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for key, value in data["metrics"].items():
        metrics.add_row(key, _fmt(value) if isinstance(value, float) else str(value))
    out.print(metrics)
    status = data["status"]
    configs = Table(title="Configs")
    columns = list(next(iter(status["config_priorities"].values()), {}))
    configs.add_column("config")
    for column in columns:
        configs.add_column(column.replace("_", " "), justify="right")
    for key, row in status["config_priorities"].items():
        configs.add_row(
            key, *(_fmt(row[c]) if isinstance(row[c], float) else str(row[c]) for c in columns)
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


def _cmd_validate(args: argparse.Namespace, out: _Output) -> int:
    from selfplay_shell.eventlog import read_log

    try:
        records = read_log(args.log)
    except FileNotFoundError:
        raise ReplayInputError(f"no event log at {args.log}") from None
    lines = good = 0
    errors: dict[str, int] = {}
    warnings: dict[str, int] = {}
    problems: list[dict[str, Any]] = []
    total = count_lines(args.log)
    with out.progress(total, "validating") as bar:
        for record in records:
            lines += 1
            if bar is not None:
                bar(record)
            result = record.result
            found = list(record.warnings)
            problem = result.failure() if isinstance(result, Failure) else None
            if problem is None:
                good += 1
            else:
                found.insert(0, problem)
            for p in found:
                bucket = errors if p.severity == "error" else warnings
                bucket[p.kind.value] = bucket.get(p.kind.value, 0) + 1
                if len(problems) < args.max_problems:
                    problems.append(
                        {
                            "path": p.path,
                            "line": p.line_no,
                            "field": p.field_path,
                            "kind": p.kind.value,
                            "severity": p.severity,
                            "reason": p.reason,
                        }
                    )
    data = {
        "log": args.log,
        "records": lines,
        "good": good,
        "errors": sum(errors.values()),
        "warnings": sum(warnings.values()),
        "errors_by_kind": dict(sorted(errors.items())),
        "warnings_by_kind": dict(sorted(warnings.items())),
        "problems": problems,
        "problems_truncated": len(problems) < sum(errors.values()) + sum(warnings.values()),
    }
    code = EXIT_DIFFERS if errors else EXIT_OK
    if args.json:
        _print_json(data)
        return code
    _render_validation(out, data)
    return code


def _render_validation(out: _Output, data: dict[str, Any]) -> None:
    from rich.table import Table

    verdict = "[bold green]valid[/]" if not data["errors"] else "[bold red]has errors[/]"
    out.print(
        f"{data['log']}: {verdict} — {data['records']:,} records, {data['good']:,} good, "
        f"{data['errors']:,} errors, {data['warnings']:,} warnings"
    )
    if data["problems"]:
        table = Table(title="Problems")
        for column in ("line", "severity", "kind", "field", "reason"):
            table.add_column(column, justify="right" if column == "line" else "left")
        for p in data["problems"]:
            table.add_row(
                f"{Path(p['path']).name}:{p['line']}",
                p["severity"],
                p["kind"],
                p["field"],
                p["reason"],
            )
        out.print(table)
        if data["problems_truncated"]:
            out.print("(more problems not listed: --max-problems)")


# --- plots -----------------------------------------------------------------------------------


def _plot(series: Any, path: Path, *, title: str) -> Path:
    from selfplay_shell.plot import PlotUnavailable, plot_run

    try:
        return plot_run(series, path, title=title)
    except PlotUnavailable as error:
        raise ReplayInputError(str(error)) from None


def _plot_log(log: Path, path: Path, *, title: str) -> Path:
    from selfplay_shell.plot import DecisionSeries

    start, _ = starting_point(log, None)
    series = DecisionSeries()
    for step in replay(start.state, log_items(log), start.policy):
        series.on_step(step)
    return _plot(series, path, title=title)


# --- the parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="selfplay-scheduler",
        description="Simulate, replay, explain and check self-play scheduling decisions.",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    sim = commands.add_parser(
        "simulate", help="run a seeded synthetic cluster through the scheduler, writing a log"
    )
    sim.add_argument("--nodes", type=int, default=24, help="nodes in the cluster (24)")
    sim.add_argument("--hours", type=float, default=24.0, help="simulated hours (24)")
    sim.add_argument("--seed", type=int, default=1, help="random seed (1)")
    sim.add_argument("--policy", metavar="TOML", help="policy file (default: the reference)")
    sim.add_argument(
        "--out", metavar="LOG", help="log to write (default: selfplay-runs/sim-….jsonl)"
    )
    sim.add_argument("--force", action="store_true", help="overwrite an existing --out")
    sim.add_argument("--plot", metavar="PNG", help="also draw games per config and node use")
    sim.add_argument("--json", action="store_true", help="print a JSON summary")

    rep = commands.add_parser(
        "replay", help="replay a log, checking every decision (or under another policy)"
    )
    rep.add_argument("log", metavar="LOG")
    rep.add_argument(
        "--policy", metavar="TOML", help="replay under this policy instead (counterfactual)"
    )
    rep.add_argument("--snapshot", metavar="FILE", help="start from this snapshot")
    rep.add_argument("--save-snapshot", metavar="FILE", help="write a snapshot at the end")
    rep.add_argument("--strict", action="store_true", help="stop at the first bad line")
    rep.add_argument("--json", action="store_true", help="print the report as JSON")
    rep.add_argument("--plot", metavar="PNG", help="draw games per config and node use")
    rep.add_argument(
        "--window",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="window of the games-share-over-time figures (3600)",
    )

    exp = commands.add_parser("explain", help="explain a decision, like Slurm's sprio")
    exp.add_argument("log", metavar="LOG")
    which = exp.add_mutually_exclusive_group(required=True)
    which.add_argument("--decision", type=int, metavar="N", help="the N-th decision (from 1)")
    which.add_argument(
        "--at", metavar="T", help="a time: epoch seconds, ISO 8601, or +DURATION from the start"
    )
    exp.add_argument("--policy", metavar="TOML", help="explain under this policy instead")
    exp.add_argument("--snapshot", metavar="FILE", help="start from this snapshot")
    exp.add_argument("--top", type=int, metavar="K", help="only the K highest configs")
    exp.add_argument("--json", action="store_true")

    sta = commands.add_parser("status", help="metrics, status and health after the last envelope")
    sta.add_argument("log", metavar="LOG")
    sta.add_argument("--snapshot", metavar="FILE", help="start from this snapshot")
    sta.add_argument("--json", action="store_true")

    val = commands.add_parser("validate", help="decode every line and report problems")
    val.add_argument("log", metavar="LOG")
    val.add_argument("--max-problems", type=int, default=100, metavar="N")
    val.add_argument("--json", action="store_true")
    return parser


_COMMANDS: Final[dict[str, Callable[[argparse.Namespace, _Output], int]]] = {
    "simulate": _cmd_simulate,
    "replay": _cmd_replay,
    "explain": _cmd_explain,
    "status": _cmd_status,
    "validate": _cmd_validate,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(given)
    if args.command is None:
        # `selfplay-scheduler` alone runs the main job: a default simulation.
        args = parser.parse_args([*given, "simulate"])
    try:
        from rich.console import Console  # noqa: F401 - the [cli] extra
    except ImportError:
        sys.stderr.write("selfplay-scheduler needs rich: pip install 'selfplay-scheduler[cli]'\n")
        return EXIT_USAGE
    out = _Output(quiet=args.quiet or getattr(args, "json", False))
    try:
        return _COMMANDS[args.command](args, out)
    except ReplayInputError as error:
        out.error(str(error))
        return EXIT_USAGE
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130
    except BrokenPipeError:
        # e.g. `| head`: nothing more to say, and nowhere to say it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
