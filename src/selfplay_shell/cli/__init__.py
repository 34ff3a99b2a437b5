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
import os
import sys
from collections.abc import Callable, Sequence
from typing import Final

from selfplay_shell.cli.arguments import build_parser
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
    out = Output(quiet=args.quiet or getattr(args, "json", False))
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
