"""Run every `benchmarks/bench_*.py` module, each in its own interpreter, and write one JSON
report.

python -m benchmarks --out benchmarks/report.json [--only priority,allocation]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import subprocess
import sys
import time
from pathlib import Path

import benchmarks
from benchmarks._timing import reference_loop_ms


def _run_alone(module_name: str) -> tuple[float, object]:
    """Run one benchmark module in a fresh interpreter: (the yardstick just before, its
    figures). No module's figures then depend on what ran before it in the same process
    (its heap, the garbage collector's generations), and `--only` gives the same figures
    as a full run."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--child", module_name],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    yardstick, figures = json.loads(done.stdout.splitlines()[-1])  # the child's last line
    return yardstick, figures


def _child(module_name: str) -> int:
    module = importlib.import_module(f"benchmarks.{module_name}")
    yardstick = reference_loop_ms()
    figures = module.run()
    print(json.dumps([yardstick, figures]))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--out", default="benchmarks/report.json")
    parser.add_argument("--only", default="", help="comma-separated module suffixes to run")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: run one module alone
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child)
    wanted = {name for name in args.only.split(",") if name}
    report: dict[str, object] = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
        "results": {},
    }
    results: dict[str, object] = {}
    # The machine's speed just before each module ran (see `reference_loop_ms`): on a shared
    # host, a slow moment shows here as well as in every figure after it.
    yardstick: dict[str, float] = {}
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        if not info.name.startswith("bench_"):
            continue
        suffix = info.name.removeprefix("bench_")
        if wanted and suffix not in wanted:
            continue
        print(f"running {info.name} ...", file=sys.stderr, flush=True)
        yardstick[suffix], results[suffix] = _run_alone(info.name)
        print(json.dumps(results[suffix], indent=2), file=sys.stderr, flush=True)
    report["results"] = results
    report["reference_loop_ms_before_each"] = yardstick
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
