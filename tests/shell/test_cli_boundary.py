"""The command's one input boundary and its output, run for real with `COLUMNS=100`: every
user error is one line on stderr with exit 2 before any work (nothing written), user text is
never read as markup, and `explain`/`status` fit 100 columns without cutting a config name."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from selfplay_core.configs import ALL_CONFIGS

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "replay" / "golden" / "sim-seed7-6nodes-2h.jsonl"
POLICY = ROOT / "tests" / "replay" / "golden" / "no-starvation-boost.toml"

pytestmark = pytest.mark.slow  # real subprocesses


def run(
    *args: str, cwd: Path = ROOT, columns: str | None = "100", code: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = columns
    command = ["-c", code] if code else ["-m", "selfplay_shell.cli"]
    return subprocess.run(
        [sys.executable, *command, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=180,
        check=False,
    )


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    log = tmp_path / GOLDEN.name
    shutil.copyfile(GOLDEN, log)
    shutil.copyfile(f"{GOLDEN}.snapshot.json", f"{log}.snapshot.json")
    return log


def assert_usage_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["simulate", "--hours", "inf"], ["--hours", "finite"]),
        (["simulate", "--hours", "nan"], ["--hours", "finite"]),
        (["simulate", "--hours", "0"], ["--hours", "> 0"]),
        (["simulate", "--seed", "-1"], ["--seed", "≥ 0"]),
        (["simulate", "--nodes", "0"], ["--nodes", "≥ 1"]),
        (["simulate", "--nodes", "many"], ["--nodes", "not a whole number"]),
        (["simulate", "--out", "missing/x.jsonl"], ["--out", "does not exist"]),
        (["simulate", "--plot", "missing/x.png"], ["--plot", "does not exist"]),
        (["simulate", "--bogus"], ["--bogus"]),
    ],
)
def test_simulate_rejects_bad_input_in_one_line_and_writes_nothing(
    tmp_path: Path, args: list[str], needles: list[str]
) -> None:
    assert_usage_error(run(*args, cwd=tmp_path), *needles)
    assert list(tmp_path.iterdir()) == []  # checked before any work: nothing written


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--at", "nan"], ["--at", "not a time"]),
        (["--at", "1e300"], ["--at", "not a time"]),
        (["--at", "+infh"], ["--at", "not a time"]),
        (["--at", "0001-01-01T00:00:00+14:00"], ["--at 0001-01-01T00:00:00+14:00", "not a time"]),
        (["--at", "yesterday"], ["--at"]),
        (["--decision", "0"], ["--decision", "≥ 1"]),
        (["--decision", "500"], ["--decision 500", "has 12 decision"]),
        (["--decision", "1", "--top", "-3"], ["--top", "≥ 1"]),
    ],
)
def test_explain_rejects_bad_input_in_one_line(
    golden: Path, args: list[str], needles: list[str]
) -> None:
    assert_usage_error(run("explain", str(golden), *args), *needles)


def test_replay_checks_its_outputs_and_window_before_replaying(
    golden: Path, tmp_path: Path
) -> None:
    assert_usage_error(run("replay", str(golden), "--window", "-5"), "--window", "> 0")
    missing = tmp_path / "nowhere" / "s.json"
    assert_usage_error(
        run("replay", str(golden), "--save-snapshot", str(missing)), "--save-snapshot"
    )
    assert_usage_error(run("replay", str(golden), "--plot", str(tmp_path)), "is a folder")
    assert_usage_error(run("validate", str(golden), "--max-problems", "-1"), "≥ 0")


def test_plot_without_matplotlib_is_refused_before_the_log_is_written(tmp_path: Path) -> None:
    blocked = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from selfplay_shell.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))"
    )
    done = run("simulate", "--hours", "0.2", "--plot", "p.png", cwd=tmp_path, code=blocked)
    # the hint keeps its brackets: user-facing text is never read as markup
    assert_usage_error(done, "--plot needs matplotlib", "pip install 'selfplay-scheduler[plot]'")
    assert list(tmp_path.iterdir()) == []


def test_paths_with_brackets_print_as_given(tmp_path: Path) -> None:
    done = run("simulate", "--hours", "0.2", "--nodes", "3", "--out", "x[bold].jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Log written to x[bold].jsonl" in done.stdout
    missing = run("status", "[red]gone[/].jsonl", cwd=tmp_path)
    assert_usage_error(missing, "[red]gone[/].jsonl")


def test_the_default_log_is_not_overwritten_without_force(tmp_path: Path) -> None:
    args = ("simulate", "--hours", "0.2", "--nodes", "3")
    assert run(*args, cwd=tmp_path).returncode == 0
    log = tmp_path / "selfplay-runs" / "sim-seed1-3nodes-0.2h.jsonl"
    before = log.read_bytes()
    assert_usage_error(run(*args, cwd=tmp_path), "exists", "--force")
    assert log.read_bytes() == before
    assert run(*args, "--force", cwd=tmp_path).returncode == 0


def _check_fits(text: str, width: int = 100) -> None:
    lines = text.splitlines()
    assert lines
    assert max(len(line.rstrip()) for line in lines) <= width
    assert "…" not in text  # nothing cut


def test_explain_fits_100_columns_with_every_config_name_whole(golden: Path) -> None:
    done = run("explain", str(golden), "--decision", "3")
    assert done.returncode == 0, done.stderr
    _check_fits(done.stdout)
    for key in ALL_CONFIGS:
        # ranking, terms, multipliers and allocation tables, each with the full name
        assert done.stdout.count(f" {key} ") >= 4, key
    words = " ".join(done.stdout.split())
    assert "Legend" in words
    assert "Elo per hour" in words
    assert "cascade = ×1.5" in words
    # excluded nodes grouped by reason: one line per reason, with its count
    assert "excluded nodes (3):" in done.stdout
    assert "available capacity 0.0 ≤ 0.1 (3): a100-004, gh200-003, rtx4090-005" in done.stdout


def test_piped_output_without_columns_is_100_wide(golden: Path) -> None:
    done = run("explain", str(golden), "--decision", "3", columns=None)
    assert done.returncode == 0, done.stderr
    _check_fits(done.stdout)


def test_status_fits_100_columns_with_units_and_grouped_nodes(golden: Path) -> None:
    done = run("status", str(golden))
    assert done.returncode == 0, done.stderr
    _check_fits(done.stdout)
    for key in ALL_CONFIGS:
        assert f" {key} " in done.stdout
    assert "(Elo/day)" in done.stdout
    assert "last decision" in done.stdout
    assert "games_allocated_total" in done.stdout
    assert "8,384" in done.stdout  # counts have thousands separators everywhere
    assert "  eligible (1): spot-a10080-000" in done.stdout


def test_explain_at_outside_the_log_says_so(golden: Path) -> None:
    after = run("explain", str(golden), "--at", "+30d")
    assert after.returncode == 0, after.stderr
    assert "after the log's last envelope" in after.stdout
    before = run("explain", str(golden), "--at", "2000-01-01T00:00:00")
    assert before.returncode == 0, before.stderr
    assert "before the log's first envelope" in before.stdout
    inside = run("explain", str(golden), "--at", "+65m")
    assert "note:" not in inside.stdout


def test_counterfactual_says_its_history_is_the_recorded_one(golden: Path) -> None:
    done = run("replay", str(golden), "--policy", str(POLICY))
    assert done.returncode == 0, done.stderr
    _check_fits(done.stdout)
    assert "game counts, Elo and node state follow what the recorded decisions" in " ".join(
        done.stdout.split()
    )
