"""The `selfplay-scheduler` command, run for real in subprocesses: every subcommand, exit
codes, `--json` shapes, `--plot` PNGs, TOML policies, snapshots."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "replay" / "golden" / "sim-seed7-6nodes-2h.jsonl"
BAD = ROOT / "tests" / "replay" / "bad"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
needs_matplotlib = pytest.mark.skipif(
    find_spec("matplotlib") is None,
    reason="matplotlib is not installed (pip install -e '.[dev]' or '.[plot]' installs it)",
)
# Every test here runs the real command in a subprocess: seconds each.
pytestmark = pytest.mark.slow


def run(
    *args: str, cwd: Path = ROOT, hash_seed: str = "random"
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    return subprocess.run(
        [sys.executable, "-m", "selfplay_shell.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=180,
        check=False,
    )


def run_json(*args: str, code: int = 0, cwd: Path = ROOT) -> dict[str, Any]:
    done = run(*args, "--json", cwd=cwd)
    assert done.returncode == code, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


@pytest.fixture
def golden(tmp_path: Path) -> Path:
    """A copy of a golden log with its sidecar snapshot (tests may change the copy)."""
    log = tmp_path / GOLDEN.name
    shutil.copyfile(GOLDEN, log)
    shutil.copyfile(f"{GOLDEN}.snapshot.json", f"{log}.snapshot.json")
    return log


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(
        "[starvation]\nemergency_multiplier = 1.0\ncritical_multiplier = 1.0\n\n"
        "[weights]\nstaleness = 0.5\n",
        encoding="utf-8",
    )
    return path


# --- simulate --------------------------------------------------------------------------------


def test_the_main_job_runs_with_no_options_and_says_where_the_log_is(tmp_path: Path) -> None:
    command = shutil.which("selfplay-scheduler")
    args = [command] if command else [sys.executable, "-m", "selfplay_shell.cli"]
    done = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr
    log = tmp_path / "selfplay-runs" / "sim-seed1-24nodes-24h.jsonl"
    assert f"Log written to {log.relative_to(tmp_path)}" in done.stdout
    assert log.exists()
    assert (tmp_path / "selfplay-runs" / f"{log.name}.snapshot.json").exists()
    assert "replay" in done.stdout  # it tells what to do next
    # a realistic run: a day, 144 decisions, thousands of envelopes
    replayed = run_json("replay", str(log))
    assert replayed["decisions_checked"] == 144
    assert replayed["decisions_identical"] == 144
    assert replayed["applied"] > 3000


@needs_matplotlib
def test_simulate_json_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    png = tmp_path / "run.png"
    data = run_json(
        "simulate", "--nodes", "4", "--hours", "1", "--seed", "3", "--out", str(out),
        "--plot", str(png),
    )  # fmt: skip
    assert data["log"] == str(out)
    assert data["nodes"] == 4
    assert data["decisions"] == 6
    assert data["envelopes"] == len(out.read_bytes().splitlines())
    assert set(data["games_allocated"]) == set(data["final_elo"])
    assert len(data["games_allocated"]) == 12
    assert data["plot"] == str(png)
    assert png.read_bytes().startswith(PNG_MAGIC)


def test_simulate_is_byte_identical_whatever_the_hash_seed(tmp_path: Path) -> None:
    logs = []
    for seed in ("0", "98765"):
        out = tmp_path / f"h{seed}.jsonl"
        done = run("-q", "simulate", "--nodes", "5", "--hours", "1", "--seed", "9",
                   "--out", str(out), hash_seed=seed)  # fmt: skip
        assert done.returncode == 0, done.stderr
        logs.append(out.read_bytes())
    assert logs[0] == logs[1]
    other = tmp_path / "other-seed.jsonl"
    run("-q", "simulate", "--nodes", "5", "--hours", "1", "--seed", "10", "--out", str(other))
    assert other.read_bytes() != logs[0]


def test_simulate_refuses_to_overwrite_without_force(golden: Path) -> None:
    done = run("simulate", "--hours", "1", "--out", str(golden))
    assert done.returncode == 2
    assert "--force" in done.stderr
    assert golden.read_bytes() == GOLDEN.read_bytes()


# --- replay ----------------------------------------------------------------------------------


def test_replay_human_output_and_exit_code(golden: Path) -> None:
    done = run("replay", str(golden))
    assert done.returncode == 0, done.stderr
    assert "all 12 decision(s) identical; all 228 line(s) replayed" in done.stdout
    assert done.stderr == ""


def test_replay_json_shape(golden: Path) -> None:
    data = run_json("replay", str(golden))
    for key in ("applied", "unknown", "rejected", "decisions_checked", "decisions_identical"):
        assert isinstance(data[key], int)
    assert data["decisions_checked"] == data["decisions_identical"] == 12
    assert data["applied"] == data["items"] == len(golden.read_bytes().splitlines())
    assert data["first_difference"] is None
    assert data["started_from"].startswith("snapshot")
    assert data["verdict"] == {
        "kind": "identical",
        "ok": True,
        "message": "all 12 decision(s) identical; all 228 line(s) replayed",
    }
    assert (data["skipped"], data["first_skipped"]) == (0, None)


def _tamper(log: Path) -> str:
    """Change the games of one config in the third recorded decision; return that config."""
    lines = log.read_text(encoding="utf-8").splitlines()
    seen = 0
    for i, line in enumerate(lines):
        record = json.loads(line)
        if record["type"] != "allocation_decided":
            continue
        seen += 1
        if seen == 3:
            games = record["payload"]["result"]["games_by_config"]
            key = next(iter(games))
            games[key] += 7
            record["payload"]["result"]["unplaced"][key] = (
                record["payload"]["result"]["unplaced"].get(key, 0) + 7
            )
            lines[i] = json.dumps(record, separators=(",", ":"))
            log.write_text("\n".join(lines) + "\n", encoding="utf-8")
            return str(key)
    raise AssertionError("no third decision")


def test_a_differing_decision_exits_1_and_is_shown_in_full(golden: Path) -> None:
    key = _tamper(golden)
    data = run_json("replay", str(golden), code=1)
    assert data["decisions_identical"] == 11
    first = data["first_difference"]
    assert first["decision"] == 3
    assert first["path"] == f"games_by_config.{key}"
    assert (
        first["recorded"]["games_by_config"][key] == first["replayed"]["games_by_config"][key] + 7
    )
    assert data["verdict"]["kind"] == "differs"
    human = run("replay", str(golden))
    assert human.returncode == 1
    assert "Decision differs" in human.stdout
    assert f"games_by_config.{key}" in human.stdout
    assert human.stderr.count("\n") == 1
    assert "1 of 12 decision(s) differ; the first is decision 3" in human.stderr
    assert run("replay", str(golden), "--lenient").returncode == 1  # lenient about lines only


def test_a_bad_line_is_reported_and_strict_stops_there(golden: Path) -> None:
    lines = golden.read_bytes().splitlines(keepends=True)
    lines.insert(5, b'{"id": "broken", "type": "selfplay_complete", "at": NaN}\n')
    lines.insert(9, b"not json at all\n")
    golden.write_bytes(b"".join(lines))
    data = run_json("replay", str(golden), code=1)  # two lines not replayed: not exact
    assert data["rejected"] == 2
    assert data["decisions_identical"] == data["decisions_checked"] == 12
    assert any(":6:" in r for r in data["rejections"])
    assert any("invalid_json" in r for r in data["rejections"])
    assert data["verdict"]["kind"] == "incomplete"
    assert data["verdict"]["message"].startswith(
        f"2 line(s) not replayed (2 rejected), the first at {golden}:6: "
    )
    lenient = run_json("replay", str(golden), "--lenient")
    assert lenient["verdict"]["ok"] is True
    assert "(accepted: lenient)" in lenient["verdict"]["message"]
    strict = run_json("replay", str(golden), "--strict", code=1)
    assert strict["strict_stop"] is not None
    assert strict["final_position"] == 5
    human = run("replay", str(golden), "--strict")
    assert human.returncode == 1
    assert "--strict" in human.stderr


def test_counterfactual_under_a_toml_policy(
    golden: Path, policy_file: Path, tmp_path: Path
) -> None:
    png = tmp_path / "cf.png"
    data = run_json("replay", str(golden), "--policy", str(policy_file), "--plot", str(png))
    cf = data["counterfactual"]
    assert cf["decisions"] == 12
    assert len(cf["per_decision"]) == 12
    assert cf["decisions_differing"] >= 1
    totals = cf["totals"]
    for key, delta in totals["games_delta"].items():
        recorded = totals["recorded_games"].get(key, 0)
        assert totals["counterfactual_games"].get(key, 0) - recorded == delta
    per = [d["games_delta"] for d in cf["per_decision"]]
    for key, delta in totals["games_delta"].items():
        assert sum(d.get(key, 0) for d in per) == delta
    for side in ("recorded", "counterfactual"):
        figures = cf["starvation"][side]
        assert set(figures["longest_wait_seconds"]) == set(figures["share"])
        assert len(figures["share"]) == 12
        assert figures["windows"]
    assert png.read_bytes().startswith(PNG_MAGIC)
    human = run("replay", str(golden), "--policy", str(policy_file))
    assert human.returncode == 0  # differences are the point of a counterfactual
    assert "Counterfactual under" in human.stdout
    assert "Games per node" in human.stdout


@needs_matplotlib
def test_replay_plot_writes_a_png(golden: Path, tmp_path: Path) -> None:
    png = tmp_path / "replay.png"
    done = run("replay", str(golden), "--plot", str(png))
    assert done.returncode == 0, done.stderr
    assert png.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[starvation\nemergency_multiplier = 1.0\n", "not valid TOML"),
        ("[starvation]\nemergency_multiplier = 'lots'\n", "starvation.emergency_multiplier"),
        ("[no_such_group]\nx = 1\n", "no_such_group"),
    ],
)
def test_a_bad_policy_file_is_a_clear_error(
    golden: Path, tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    done = run("replay", str(golden), "--policy", str(path))
    assert done.returncode == 2
    assert str(path) in done.stderr
    assert needle in done.stderr


def test_missing_inputs_exit_2(tmp_path: Path, golden: Path) -> None:
    done = run("replay", str(tmp_path / "nope.jsonl"))
    assert done.returncode == 2
    assert "no event log" in done.stderr
    missing_policy = run("replay", str(golden), "--policy", str(tmp_path / "none.toml"))
    assert missing_policy.returncode == 2
    assert "does not exist" in missing_policy.stderr
    usage = run("explain", str(golden))  # neither --decision nor --at
    assert usage.returncode == 2


def test_snapshots_let_a_replay_resume(golden: Path, tmp_path: Path) -> None:
    lines = golden.read_bytes().splitlines(keepends=True)
    head = tmp_path / "head.jsonl"
    head.write_bytes(b"".join(lines[:100]))
    shutil.copyfile(f"{golden}.snapshot.json", f"{head}.snapshot.json")
    snapshot = tmp_path / "at-100.snapshot.json"
    first = run_json("replay", str(head), "--save-snapshot", str(snapshot))
    assert first["final_position"] == 100
    assert snapshot.exists()
    rest = run_json("replay", str(golden), "--snapshot", str(snapshot))
    assert rest["start_position"] == 100
    assert rest["items"] == len(lines) - 100
    whole = run_json("replay", str(golden))
    assert first["decisions_checked"] + rest["decisions_checked"] == whole["decisions_checked"]
    assert rest["decisions_identical"] == rest["decisions_checked"] > 0
    corrupt = tmp_path / "corrupt.snapshot.json"
    corrupt.write_text('{"format": "selfplay-scheduler/snapshot", "version": 9}', encoding="utf-8")
    bad = run("replay", str(golden), "--snapshot", str(corrupt))
    assert bad.returncode == 2
    assert "version" in bad.stderr


def _one_line_refusal(done: subprocess.CompletedProcess[str], needle: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert needle in done.stderr


def test_a_snapshot_of_another_log_or_position_exits_2(golden: Path, tmp_path: Path) -> None:
    lines = golden.read_bytes().splitlines(keepends=True)
    head = tmp_path / "head.jsonl"
    head.write_bytes(b"".join(lines[:100]))
    at_100 = tmp_path / "at-100.snapshot.json"
    run_json("replay", str(head), "--save-snapshot", str(at_100))
    at_end = tmp_path / "at-end.snapshot.json"
    run_json("replay", str(golden), "--save-snapshot", str(at_end))
    other = tmp_path / "other.jsonl"  # another simulated run: other envelopes everywhere
    assert run("-q", "simulate", "--nodes", "3", "--hours", "1", "--seed", "3", "--out",
               str(other)).returncode == 0  # fmt: skip
    for command in ("replay", "status"):
        _one_line_refusal(run(command, str(other), "--snapshot", str(at_100)), "another log")
    explain = run("explain", str(other), "--snapshot", str(at_100), "--decision", "1")
    _one_line_refusal(explain, "another log")
    _one_line_refusal(run("replay", str(head), "--snapshot", str(at_end)), "past its end")
    data = json.loads(at_100.read_text(encoding="utf-8"))
    data["position"], data["log"]["last"]["position"] = 150, 149  # edited, consistently
    edited = tmp_path / "edited.snapshot.json"
    edited.write_text(json.dumps(data), encoding="utf-8")
    _one_line_refusal(run("replay", str(golden), "--snapshot", str(edited)), "is not in this log")
    data["position"], data["log"]["last"]["position"] = 5000, 4999  # past the end
    edited.write_text(json.dumps(data), encoding="utf-8")
    _one_line_refusal(run("replay", str(golden), "--snapshot", str(edited)), "past its end")
    data["position"] = 120  # only the position edited
    edited.write_text(json.dumps(data), encoding="utf-8")
    _one_line_refusal(run("replay", str(golden), "--snapshot", str(edited)), "not just before")


# --- tampered and unreadable logs ------------------------------------------------------------


def _decision_lines(log: Path) -> list[int]:
    lines = log.read_text(encoding="utf-8").splitlines()
    return [i for i, line in enumerate(lines) if json.loads(line)["type"] == "allocation_decided"]


def _edit_line(log: Path, index: int, change: Any) -> None:
    lines = log.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[index])
    change(record, json.loads(lines[index - 3]))
    lines[index] = json.dumps(record, separators=(",", ":"))
    log.write_text("\n".join(lines) + "\n", encoding="utf-8")


TAMPERS = {
    "renamed type": (lambda r, _: r.update(type="allocation_decided_v2"), "of an unknown type"),
    "negative count": (
        lambda r, _: r["payload"]["request"].update(games_per_config=-20),
        "must not be negative",
    ),
    "string count": (
        lambda r, _: r["payload"]["request"].update(games_per_config="20"),
        "expected an integer, got str",
    ),
    "reused id": (lambda r, earlier: r.update(id=earlier["id"]), "duplicate id"),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_a_tampered_decision_exits_1_with_the_count_and_line(golden: Path, name: str) -> None:
    change, needle = TAMPERS[name]
    index = _decision_lines(golden)[4]
    _edit_line(golden, index, change)
    done = run("replay", str(golden))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "1 line(s) not replayed" in done.stderr
    assert f"{golden.name}:{index + 1}" in done.stderr
    assert needle in done.stderr
    assert "11 decision(s) checked" in done.stderr
    lenient = run_json("replay", str(golden), "--lenient")
    assert lenient["decisions_checked"] == lenient["decisions_identical"] == 11


def _unreadable(directory: Path) -> dict[str, tuple[Path, str]]:
    empty = directory / "empty.jsonl"
    empty.write_bytes(b"")
    garbage = directory / "garbage.jsonl"
    garbage.write_bytes(bytes(range(7, 256)) * 20 + b"\n" + b"\x00\xff" * 50)
    folder = directory / "a\ndirectory [x]"  # still one line, still its name
    folder.mkdir()
    return {
        "empty": (empty, "is empty"),
        "binary": (garbage, "is not an event log"),
        "directory": (folder, "is a directory"),
    }


def test_unreadable_input_exits_2_in_one_line_for_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from selfplay_shell.cli import main

    for path, needle in _unreadable(tmp_path).values():
        for args in (
            ["replay", str(path)],
            ["replay", str(path), "--json", "--lenient"],
            ["status", str(path)],
            ["validate", str(path), "--json"],
            ["explain", str(path), "--decision", "1"],
        ):
            code = main(args)
            out, err = capsys.readouterr()
            assert (code, out) == (2, ""), (args, err)
            assert err.count("\n") == 1
            assert needle in err
            assert " ".join(path.name.split()) in err  # on one line, "[x]" not read as markup
    _one_line_refusal(run("replay", str(path)), needle)  # and as a process: no traceback


# --- explain ---------------------------------------------------------------------------------


def test_explain_a_decision_like_sprio(golden: Path) -> None:
    done = run("explain", str(golden), "--decision", "2")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for needle in ("decision 2", "Priority terms", "Multipliers (×) and score", "staleness",
                   "starvation", "How each config's games came about", "hexagonal_4p"):  # fmt: skip
        assert needle in out
    data = run_json("explain", str(golden), "--decision", "2")
    assert data["decision"] == 2
    assert data["replays_identical"] is True
    rows = data["priorities"]
    assert len(rows) == 12
    assert [r["rank"] for r in rows] == list(range(1, 13))
    scores = [r["score"] for r in rows]
    assert scores == sorted(scores, reverse=True)
    for row in rows:
        assert set(row["factors"]) == set(row["weights"]) == set(row["terms"])
        assert len(row["multipliers"]) == 7
        base = sum(row["terms"][name] for name in row["terms"]) + row["quality_penalty"]
        assert base == pytest.approx(row["base"])
    allocation = data["allocation"]
    assert len(allocation["configs"]) == 12
    assert allocation["total_games"] == sum(c["games"] for c in allocation["configs"])
    assert {"throttle_multiplier", "health_factor", "unmet", "excluded_nodes", "nodes"} <= set(
        allocation
    )


def test_explain_at_a_time(golden: Path) -> None:
    data = run_json("explain", str(golden), "--at", "+65m")
    assert data["decision"] is None
    assert data["at"] == pytest.approx(1767225600.0 + 65 * 60)
    assert data["request"]["games_per_config"] == 20  # the last recorded request's shape
    iso = run_json("explain", str(golden), "--at", "2026-01-01T01:05:00Z")
    assert iso["priorities"] == data["priorities"]
    assert run("explain", str(golden), "--decision", "99").returncode == 2
    assert run("explain", str(golden), "--at", "yesterday").returncode == 2


# --- status and validate ---------------------------------------------------------------------


def test_status_after_the_last_envelope(golden: Path) -> None:
    done = run("status", str(golden))
    assert done.returncode == 0, done.stderr
    assert "Metrics" in done.stdout
    data = run_json("status", str(golden))
    assert set(data) >= {"metrics", "status", "health", "at"}
    assert data["metrics"]["allocations_decided"] == 12
    assert data["health"]["status"] in ("healthy", "degraded", "unhealthy")
    assert len(data["status"]["config_priorities"]) == 12
    assert data["at"] == 1767225600.0 + 2 * 3600


def test_validate_a_clean_and_a_broken_log(golden: Path) -> None:
    clean = run_json("validate", str(golden))
    assert clean["errors"] == 0
    assert clean["good"] == clean["records"]
    broken = run_json("validate", str(BAD / "invalid_json.jsonl"), code=1)
    assert broken["errors"] >= 1
    assert "invalid_json" in broken["errors_by_kind"]
    assert all({"line", "kind", "reason", "severity"} <= set(p) for p in broken["problems"])
    human = run("validate", str(BAD / "wrong_types.jsonl"))
    assert human.returncode == 1
    assert "has errors" in human.stdout
    warnings_only = run_json("validate", str(BAD / "out_of_order_timestamps.jsonl"), code=0)
    assert warnings_only["warnings"] >= 1
    assert warnings_only["errors"] == 0


# --- the broken-log corpus, in process ---------------------------------------------------------

CORPUS = sorted(p for p in BAD.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz")))


def _expected(log: Path) -> dict[str, Any]:
    name = log.name.removesuffix(".gz").removesuffix(".jsonl")
    data: dict[str, Any] = json.loads((BAD / f"{name}.expected.json").read_text("utf-8"))
    return data


@pytest.mark.parametrize("log", CORPUS, ids=lambda p: p.name)
def test_every_broken_log_replays_reports_and_validates(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from selfplay_shell.cli import main

    expected = _expected(log)
    records = expected["records"]
    errors = [r for r in records if not r["ok"]]
    if not any(r["ok"] for r in records):  # not an event log at all: every command says so
        for command in ("replay", "status", "validate"):
            assert main([command, str(log), "--json"]) == 2
            assert capsys.readouterr().out == ""
        return
    code = main(["replay", str(log), "--json"])
    report = json.loads(capsys.readouterr().out)
    # bad lines are reported, never fatal, and the replay is exact only without them
    assert code == (1 if report["skipped"] else 0)
    assert report["verdict"]["ok"] is (code == 0)
    assert report["skipped"] == report["rejected"] + report["unknown"] + report["duplicates"]
    assert main(["replay", str(log), "--json", "--lenient"]) == 0
    capsys.readouterr()
    assert report["rejected"] == len(errors)
    # an entry may stand for a run of good lines: {"lines": [first, last]}
    count = sum(r["lines"][1] - r["lines"][0] + 1 if "lines" in r else 1 for r in records)
    assert report["items"] == count
    for error in errors[: len(report["rejections"])]:
        assert any(f":{error['line']}" in text for text in report["rejections"])
    strict = main(["replay", str(log), "--strict", "--json"])
    stopped = json.loads(capsys.readouterr().out)
    if expected["strict_stops_at_line"] is None:
        assert strict == code  # nothing to stop at: the verdict as without --strict
        assert stopped["strict_stop"] is None
    else:
        assert strict == 1
        assert stopped["strict_stop"] is not None
    assert main(["validate", str(log), "--json"]) == (1 if errors else 0)
    validated = json.loads(capsys.readouterr().out)
    assert validated["errors"] == len(errors)
    assert main(["status", str(log), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["status"]["events_rejected"] == len(errors)
