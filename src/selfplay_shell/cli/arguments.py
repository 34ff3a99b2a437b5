"""The command line's one input boundary: the grammar (one argparse parser, a subparser per
command) and every check of what the user typed, made before any command starts work.

A number is checked where it is parsed (`positive_int`, `finite_float`, …): finite, in range,
with the flag's name in the message. Paths and optional dependencies are checked by
`check_outputs` right after parsing: an output's folder must exist, and `--plot` needs
matplotlib. Every failure is a `UsageError`, which `main` prints as one line on stderr with
exit status 2; argparse's own errors (unknown flags, missing arguments) become one line too.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
from collections.abc import Callable
from pathlib import Path
from typing import Final, NoReturn

from selfplay_shell.replay_files import ReplayInputError

__all__ = [
    "PLOT_HINT",
    "UsageError",
    "build_parser",
    "check_outputs",
    "finite_float",
    "non_negative_int",
    "positive_int",
]

#: The latest and earliest instants a UTC date can show (years 1 and 9999).
EPOCH_MIN: Final = -62_135_596_800.0
EPOCH_MAX: Final = 253_402_300_799.0
#: What to type to get plots.
PLOT_HINT: Final = "pip install 'selfplay-scheduler[plot]'"
#: A simulation longer than ten years is a typo, not a run.
MAX_HOURS: Final = 24.0 * 366 * 10


class UsageError(ReplayInputError):
    """What the user typed cannot be used; the message says which flag and why."""


class _Parser(argparse.ArgumentParser):
    """argparse with its errors raised as `UsageError` (one line, exit 2) instead of a usage
    block printed by argparse itself."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _number(text: str, kind: Callable[[str], float | int], what: str) -> float | int:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def positive_int(text: str) -> int:
    """An integer ≥ 1."""
    value = int(_number(text, int, "a whole number"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not ≥ 1")
    return value


def non_negative_int(text: str) -> int:
    """An integer ≥ 0."""
    value = int(_number(text, int, "a whole number"))
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is not ≥ 0")
    return value


def finite_float(*, above: float = 0.0, at_most: float = math.inf) -> Callable[[str], float]:
    """A finite number > `above` and ≤ `at_most`."""

    def parse(text: str) -> float:
        value = float(_number(text, float, "a number"))
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if not above < value <= at_most:
            bound = "" if math.isinf(at_most) else f" and ≤ {at_most:g}"
            raise argparse.ArgumentTypeError(f"{value:g} is not > {above:g}{bound}")
        return value

    return parse


def epoch_seconds(value: float, given: str) -> float:
    """`value` (what `--at given` means) if it is a finite time a date can show (years 1 to
    9999), else a `UsageError`."""
    if not math.isfinite(value) or not EPOCH_MIN <= value <= EPOCH_MAX:
        raise UsageError(f"--at {given}: not a time (years 1 to 9999)")
    return value


def _output_file(value: str | None, flag: str) -> None:
    """An output file's folder must exist (it is not created), and it is not a folder."""
    if value is None:
        return
    path = Path(value)
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"{flag} {value}: the folder {folder} does not exist")
    if path.is_dir():
        raise UsageError(f"{flag} {value}: is a folder, not a file")


def plotting_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def check_outputs(args: argparse.Namespace) -> None:
    """Before any work: every output's folder exists, and `--plot` can be drawn."""
    _output_file(getattr(args, "out", None), "--out")
    _output_file(getattr(args, "save_snapshot", None), "--save-snapshot")
    _output_file(getattr(args, "plot", None), "--plot")
    if getattr(args, "plot", None) and not plotting_available():
        raise UsageError(f"--plot needs matplotlib: {PLOT_HINT}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="selfplay-scheduler",
        description="Simulate, replay, explain and check self-play scheduling decisions.",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _simulate_arguments(commands)
    _replay_arguments(commands)
    _explain_arguments(commands)

    sta = commands.add_parser("status", help="metrics, status and health after the last envelope")
    sta.add_argument("log", metavar="LOG")
    sta.add_argument("--snapshot", metavar="FILE", help="start from this snapshot")
    sta.add_argument("--json", action="store_true")

    val = commands.add_parser("validate", help="decode every line and report problems")
    val.add_argument("log", metavar="LOG")
    val.add_argument(
        "--max-problems",
        type=non_negative_int,
        default=100,
        metavar="N",
        help="list at most N problems (100)",
    )
    val.add_argument("--json", action="store_true")
    return parser


def _simulate_arguments(commands: argparse._SubParsersAction[_Parser]) -> None:
    sim = commands.add_parser(
        "simulate", help="run a seeded synthetic cluster through the scheduler, writing a log"
    )
    sim.add_argument("--nodes", type=positive_int, default=24, help="nodes in the cluster (24)")
    sim.add_argument(
        "--hours",
        type=finite_float(at_most=MAX_HOURS),
        default=24.0,
        help="simulated hours, > 0 (24)",
    )
    sim.add_argument("--seed", type=non_negative_int, default=1, help="random seed, ≥ 0 (1)")
    sim.add_argument("--policy", metavar="TOML", help="policy file (default: the reference)")
    sim.add_argument(
        "--out", metavar="LOG", help="log to write (default: selfplay-runs/sim-….jsonl)"
    )
    sim.add_argument("--force", action="store_true", help="overwrite an existing log")
    sim.add_argument("--plot", metavar="PNG", help="also draw games per config and node load")
    sim.add_argument("--json", action="store_true", help="print a JSON summary")


def _replay_arguments(commands: argparse._SubParsersAction[_Parser]) -> None:
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
    rep.add_argument(
        "--lenient",
        action="store_true",
        help="exit 0 even if lines were not replayed (rejected, unknown types, repeated ids),"
        " when every decision checked is identical",
    )
    rep.add_argument("--json", action="store_true", help="print the report as JSON")
    rep.add_argument("--plot", metavar="PNG", help="draw games per config and node load")
    rep.add_argument(
        "--window",
        type=finite_float(),
        default=3600.0,
        metavar="SECONDS",
        help="window of the games-share-over-time figures, > 0 (3600)",
    )


def _explain_arguments(commands: argparse._SubParsersAction[_Parser]) -> None:
    exp = commands.add_parser("explain", help="explain a decision, like Slurm's sprio")
    exp.add_argument("log", metavar="LOG")
    which = exp.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--decision", type=positive_int, metavar="N", help="the N-th decision (from 1)"
    )
    which.add_argument(
        "--at", metavar="T", help="a time: epoch seconds, ISO 8601, or +DURATION from the start"
    )
    exp.add_argument("--policy", metavar="TOML", help="explain under this policy instead")
    exp.add_argument("--snapshot", metavar="FILE", help="start from this snapshot")
    exp.add_argument("--top", type=positive_int, metavar="K", help="only the K highest configs")
    exp.add_argument("--json", action="store_true")
