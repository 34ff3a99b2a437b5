"""Sessions: tests (default), lint, typecheck, arch, bench.  `nox` runs the first four.

`tests` runs on every Python from 3.11 to 3.13 that the machine has (a missing one is skipped
with a message): the whole suite on FULL_PYTHON, the suite without the `slow` tests (the real
subprocess and SIGKILL runs, which exercise the same code) on the others, so CI stays short."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck", "arch"]
nox.options.reuse_existing_virtualenvs = True

nox.options.error_on_missing_interpreters = False

DEV = ".[dev]"
PYTHONS = ["3.11", "3.12", "3.13"]
#: The interpreter that runs every test, slow ones included (the oldest we claim).
FULL_PYTHON = "3.11"


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Unit, property, stateful, shell and replay tests (hypothesis profile `ci` under CI)."""
    session.install("-e", DEV)
    fast = [] if session.python == FULL_PYTHON else ["-m", "not slow"]
    session.run("pytest", *fast, *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", "src", "tests", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", DEV, "mypy>=1.11", "types-PyYAML")
    session.run("mypy")


@nox.session
def arch(session: nox.Session) -> None:
    """import-linter: selfplay_core imports nothing of the shell, the clock or I/O."""
    session.install("-e", ".", "import-linter>=2")
    session.run("lint-imports")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks; writes the JSON report to benchmarks/report.json (or the path given)."""
    session.install("-e", DEV)
    out = session.posargs[0] if session.posargs else "benchmarks/report.json"
    session.run("python", "-m", "benchmarks", "--out", out)
