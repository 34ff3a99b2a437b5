"""`selfplay-scheduler`: simulate a cluster, replay a log, explain a decision, show status,
validate a log.

    selfplay-scheduler simulate [--nodes N --hours H --seed S --policy P --out LOG --plot PNG]
    selfplay-scheduler replay LOG [--policy P] [--snapshot S] [--save-snapshot S] [--strict]
                                  [--lenient] [--json] [--plot PNG]
    selfplay-scheduler explain LOG (--decision N | --at T) [--policy P] [--snapshot S] [--json]
    selfplay-scheduler status LOG [--snapshot S] [--json]
    selfplay-scheduler validate LOG [--json]

Exit status: 0 when all is well; 1 when a replay is not exact (a replayed decision differs
from the recorded one, or lines were not replayed: rejected, of an unknown type, or a repeated
id, unless `--lenient`; a bad line under `--strict`), or `validate` finds an error; 2 for bad
arguments, input that is not an event log (missing, a directory, empty, no envelope in it),
or a policy or snapshot that cannot be used (a snapshot of another log or position included).
Every error is one line on stderr; what the
user typed is checked before any work starts (`arguments`). Tables go to stdout, fitted to the
terminal (`COLUMNS`, else 100 columns when piped); `--json` prints one JSON object instead.
One module per command; rich is imported only by this package, matplotlib only by the plot
module, so the library does not need them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Final

from selfplay_shell.cli.arguments import UsageError, build_parser, check_outputs
from selfplay_shell.cli.explain import cmd_explain
from selfplay_shell.cli.output import EXIT_DIFFERS, EXIT_OK, EXIT_USAGE, PROGRESS_MIN_LINES, Output
from selfplay_shell.cli.replay import cmd_replay
from selfplay_shell.cli.simulate import cmd_simulate
from selfplay_shell.cli.status import cmd_status
from selfplay_shell.cli.validate import cmd_validate
from selfplay_shell.replay_files import ReplayInputError

__all__ = ["EXIT_DIFFERS", "EXIT_OK", "EXIT_USAGE", "PROGRESS_MIN_LINES", "Output", "main"]

_COMMANDS: Final[dict[str, Callable[[argparse.Namespace, Output], int]]] = {
    "simulate": cmd_simulate,
    "replay": cmd_replay,
    "explain": cmd_explain,
    "status": cmd_status,
    "validate": cmd_validate,
}


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _arguments(given)
    except UsageError as error:
        Output.plain_error(str(error))
        return EXIT_USAGE
    out = Output(quiet=args.quiet or getattr(args, "json", False))
    try:
        return _COMMANDS[args.command](args, out)
    except ReplayInputError as error:
        out.error(str(error))
        return EXIT_USAGE
    except BrokenPipeError:
        # e.g. `| head`: nothing more to say, and nowhere to say it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as error:
        # a file that cannot be written or read after the checks (permissions, a full disk)
        out.error(f"{error.filename or ''}: {error.strerror or error}".lstrip(": "))
        return EXIT_USAGE
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130


def _arguments(given: list[str]) -> argparse.Namespace:
    """The parsed command line, every number, output folder and optional dependency checked
    (`UsageError` otherwise)."""
    parser = build_parser()
    args = parser.parse_args(given)
    if args.command is None:
        # `selfplay-scheduler` alone runs the main job: a default simulation.
        args = parser.parse_args([*given, "simulate"])
    check_outputs(args)
    return args
