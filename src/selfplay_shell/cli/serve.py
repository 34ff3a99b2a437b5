"""The `serve` command: its arguments and its body (the CLI registers both).

    selfplay-scheduler serve --redis URL [--stream NAME] [--log DIR] [--data ROOT] --http-port N

Prints one line when it is ready (`serving replica NAME on http://HOST:PORT`), runs until SIGTERM
or SIGINT, and exits 0 after a clean stop; a configuration it cannot run with is one line on
stderr and exit status 2. The Redis client is an optional extra (`[redis]`): this module
imports it only when the command runs.
"""

from __future__ import annotations

import argparse
import gc
import logging
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

from selfplay_core.policy import SchedulerPolicy
from selfplay_shell.cli.output import EXIT_USAGE, Output
from selfplay_shell.eventlog import LogBusyError
from selfplay_shell.replay_files import ReplayInputError, load_policy

if TYPE_CHECKING:
    from selfplay_shell.redis.service import ServiceConfig

__all__ = ["SERVE_GC_THRESHOLD", "add_serve_arguments", "cmd_serve", "tune_collector"]

# Defaults shown in --help (the service's own defaults are the same values).
DEFAULT_STREAM: Final = "selfplay:events"
DEFAULT_CAP: Final = 1_000_000
DEFAULT_LAG_LIMIT: Final = 100_000
#: The young generation's collection threshold in a `serve` process (Python's default: 700).
SERVE_GC_THRESHOLD: Final = (10_000, 50, 100)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--redis", required=True, metavar="URL", help="redis://host:port/db")
    parser.add_argument("--stream", default=DEFAULT_STREAM, metavar="NAME", help="input stream key")
    parser.add_argument(
        "--log",
        type=Path,
        default=Path("selfplay-service"),
        metavar="DIR",
        help="this replica's local event log directory (selfplay-service)",
    )
    parser.add_argument("--data", type=Path, metavar="ROOT", help="data stores (leader reads)")
    parser.add_argument("--http-port", type=int, required=True, metavar="N", help="0 = any")
    parser.add_argument("--http-host", default="127.0.0.1", metavar="HOST")
    parser.add_argument(
        "--name", default=socket.gethostname(), help="replica name, stable across restarts"
    )
    parser.add_argument("--policy", metavar="TOML", help="policy file (same on every replica)")
    parser.add_argument("--lease", type=float, default=5.0, metavar="SECONDS", help="(5)")
    parser.add_argument("--decide-every", type=float, default=60.0, metavar="SECONDS")
    parser.add_argument("--tick-every", type=float, metavar="SECONDS")
    parser.add_argument("--refresh-every", type=float, metavar="SECONDS")
    parser.add_argument("--games-per-config", type=int, default=500, metavar="N")
    parser.add_argument("--max-configs", type=int, default=12, metavar="N")
    parser.add_argument("--cap", type=int, default=DEFAULT_CAP, metavar="ENTRIES")
    parser.add_argument("--batch", type=int, default=1000, metavar="ENTRIES")
    parser.add_argument("--lag-limit", type=int, default=DEFAULT_LAG_LIMIT, metavar="ENTRIES")
    parser.add_argument(
        "--require-aof", action="store_true", help="refuse to start unless Redis has AOF on"
    )


def _config(args: argparse.Namespace) -> ServiceConfig:
    from selfplay_shell.redis.service import ServiceConfig, ServiceError

    policy = SchedulerPolicy()
    if args.policy:
        policy = load_policy(args.policy)
    positive = {
        "--lease": args.lease,
        "--decide-every": args.decide_every,
        "--cap": args.cap,
    }
    for flag, value in positive.items():
        if value <= 0:
            raise ServiceError(f"{flag} must be positive, got {value}")
    return ServiceConfig(
        url=args.redis,
        log_dir=args.log,
        stream=args.stream,
        name=args.name,
        http_host=args.http_host,
        http_port=args.http_port,
        data_root=args.data,
        policy=policy,
        lease_seconds=args.lease,
        decide_every=args.decide_every,
        tick_every=args.tick_every,
        refresh_every=args.refresh_every,
        games_per_config=args.games_per_config,
        max_configs=args.max_configs,
        cap=args.cap,
        batch=args.batch,
        lag_limit=args.lag_limit,
        require_aof=args.require_aof,
    )


def tune_collector() -> None:
    """Set up the garbage collector for the replica's loop: the process is the command's, so
    this is its choice to make (an embedding application keeps its own settings).

    Called once the replica has started: `gc.freeze` moves what exists then (the modules, the
    state folded from the local log) out of the collector's sight for good, so no full
    collection walks it again. A batch then makes some 30 tracked objects per envelope that
    live until the batch is committed; at Python's default threshold the young generation
    is collected every 700 of them, walking the batch's survivors dozens of times. At
    10,000 that is a few times per batch. Garbage is still freed as soon as it is dropped
    (reference counting does that); the threshold only paces the search for cycles."""
    gc.freeze()
    gc.set_threshold(*SERVE_GC_THRESHOLD)


def cmd_serve(args: argparse.Namespace, _out: Output) -> int:
    """The command's body: 0 after a clean stop, 2 for a configuration it cannot run with."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    try:
        from selfplay_shell.redis.service import ServiceError, run_service
    except ImportError as error:
        sys.stderr.write(
            f"selfplay-scheduler serve needs redis ({error}): "
            "pip install 'selfplay-scheduler[redis]'\n"
        )
        return EXIT_USAGE
    try:
        config = _config(args)
        accessor = None
        if config.data_root is not None:
            from selfplay_shell.accessor import SelfplayDataAccessor

            accessor = SelfplayDataAccessor(config.data_root)

        def ready(port: int) -> None:
            tune_collector()
            print(f"serving replica {config.name} on http://{config.http_host}:{port}", flush=True)

        try:
            return run_service(config, accessor, ready)
        finally:
            if accessor is not None:
                accessor.close()
    except (ServiceError, ReplayInputError, LogBusyError, OSError, ValueError) as error:
        sys.stderr.write(f"selfplay-scheduler serve: {error}\n")
        return EXIT_USAGE
