"""`selfplay-scheduler simulate`: run a seeded synthetic cluster, write its log and sidecar
snapshot, print a summary."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selfplay_core.policy import SchedulerPolicy
from selfplay_core.replay import Snapshot
from selfplay_core.state import SchedulerState
from selfplay_shell.cli.output import EXIT_OK, Output, count, new_table, number, print_json
from selfplay_shell.cli.plots import plot_log
from selfplay_shell.replay_files import (
    ReplayInputError,
    load_policy,
    sidecar_snapshot,
    write_snapshot,
)


def _default_out(seed: int, nodes: int, hours: float) -> Path:
    return Path("selfplay-runs") / f"sim-seed{seed}-{nodes}nodes-{hours:g}h.jsonl"


def _remove_log(path: Path) -> None:
    from selfplay_shell.eventlog.manifest import manifest_path_for

    for file in (path, manifest_path_for(path), sidecar_snapshot(path)):
        if file.exists():
            file.unlink()


def cmd_simulate(args: argparse.Namespace, out: Output) -> int:
    from selfplay_shell.simulate import SimulationConfig, simulate

    policy = load_policy(args.policy) if args.policy else SchedulerPolicy()
    path = Path(args.out) if args.out else _default_out(args.seed, args.nodes, args.hours)
    # One rule for the default path and --out: an existing log is replaced only with --force.
    if path.exists() and not args.force:
        raise ReplayInputError(
            f"{path} exists; pass --force to overwrite it (or --out for another file)"
        )
    if args.out is None:
        path.parent.mkdir(parents=True, exist_ok=True)  # the default folder, ours to create
    _remove_log(path)
    config = SimulationConfig(nodes=args.nodes, hours=args.hours, seed=args.seed)
    # The sidecar snapshot carries the policy, so `replay LOG` checks under the same one.
    write_snapshot(sidecar_snapshot(path), Snapshot(SchedulerState.initial(policy), policy, 0))
    steps_total = int(args.hours * 60)
    with _sim_progress(out, steps_total) as on_progress:
        result = simulate(config, policy, path, on_progress=on_progress)
    plot_path = None
    if args.plot:
        plot_path = plot_log(path, Path(args.plot), title=f"simulation {path.name}")
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
        print_json(summary)
        return EXIT_OK
    _render_simulation(out, summary)
    return EXIT_OK


@contextmanager
def _sim_progress(out: Output, total: int) -> Iterator[Callable[[int, int], None] | None]:
    if out.quiet or not out.err.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, Progress, TimeRemainingColumn

    with Progress(
        "{task.description}",
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


def _render_simulation(out: Output, summary: dict[str, Any]) -> None:
    table = new_table(f"Simulated {summary['hours']:g} h on {summary['nodes']} nodes")
    table.add_column("config", no_wrap=True)
    for column in ("games allocated\n(all decisions)", "games played", "final Elo"):
        table.add_column(column, justify="right")
    for key, allocated in summary["games_allocated"].items():
        table.add_row(
            key,
            count(allocated),
            count(summary["games_played"][key]),
            number(summary["final_elo"][key]),
        )
    out.print(table)
    out.line(
        f"{count(summary['envelopes'])} envelopes, {count(summary['decisions'])} decisions, "
        f"{count(summary['trainings'])} trainings, {count(summary['node_failures'])} node "
        f"failures (seed {summary['seed']}, policy: {summary['policy']})"
    )
    out.line(("Log written to", "bold"), " ", summary["log"])
    if summary["plot"]:
        out.line(("Plot written to", "bold"), " ", summary["plot"])
    out.line(f"Replay it: selfplay-scheduler replay {summary['log']}")
    out.line(f"Explain a decision: selfplay-scheduler explain {summary['log']} --decision 1")
