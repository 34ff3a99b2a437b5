"""The command line's grammar: one argparse parser with a subparser per command."""

from __future__ import annotations

import argparse


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
