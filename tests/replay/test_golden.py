"""Golden logs: every recorded decision replays byte for byte, whatever PYTHONHASHSEED is.

The logs in `golden/` were written by `selfplay-scheduler simulate` (see `GOLDEN` for the
options); each has a sidecar snapshot holding the policy it was recorded under. When the
decision logic changes on purpose, these tests fail: regenerate the logs with

    python -m tests.replay.test_golden

and say in the commit why the recorded decisions changed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from selfplay_core.events import AllocationDecided, Envelope
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.replay import (
    decode_snapshot,
    encode_snapshot,
    replay,
    replay_report,
    snapshot_of,
)
from selfplay_shell.eventlog import read_log
from selfplay_shell.replay_files import (
    load_policy,
    log_items,
    read_snapshot,
    sidecar_snapshot,
    starting_point,
)

GOLDEN_DIR = Path(__file__).parent / "golden"
POLICY = GOLDEN_DIR / "no-starvation-boost.toml"

# log name → the simulate options that wrote it
GOLDEN: dict[str, list[str]] = {
    "sim-seed7-6nodes-2h.jsonl": ["--nodes", "6", "--hours", "2", "--seed", "7"],
    "sim-seed11-5nodes-2h-policy.jsonl": [
        "--nodes",
        "5",
        "--hours",
        "2",
        "--seed",
        "11",
        "--policy",
        str(POLICY),
    ],
}
MAX_GOLDEN_BYTES = 300_000
ROOT = Path(__file__).resolve().parents[2]
CLI = (sys.executable, "-m", "selfplay_shell.cli")


def _golden(name: str) -> Path:
    return GOLDEN_DIR / name


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_log_is_small_and_clean(name: str) -> None:
    log = _golden(name)
    assert log.stat().st_size < MAX_GOLDEN_BYTES
    records = list(read_log(log))
    assert records
    assert all(not r.warnings for r in records)
    envelopes = [r.result.unwrap() for r in records]
    types = {e.type for e in envelopes}
    # a realistic mix, not just ticks: the world and the scheduler both speak
    assert {"tick", "sources_refreshed", "allocation_decided", "selfplay_complete"} <= types
    assert {"training_completed", "elo_updated"} <= types


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_every_golden_decision_replays_identical(name: str) -> None:
    log = _golden(name)
    start, origin = starting_point(log, None)
    assert origin.startswith("snapshot")
    assert start.position == 0
    report = replay_report(start.state, log_items(log), start.policy)
    assert report.rejected == 0
    assert report.unknown == 0
    assert report.decisions_checked == 12
    assert report.decisions_identical == report.decisions_checked, report.first_difference


def test_the_policy_log_needs_its_policy() -> None:
    # Recorded under no-starvation-boost.toml: under the reference policy it must not replay
    # identically (so the identity test above really depends on the recorded policy).
    log = _golden("sim-seed11-5nodes-2h-policy.jsonl")
    start, _ = starting_point(log, None)
    assert start.policy == load_policy(POLICY)
    assert start.policy != SchedulerPolicy()
    report = replay_report(start.state, log_items(log), SchedulerPolicy())
    assert report.decisions_checked == 12
    assert report.decisions_identical < report.decisions_checked


def test_golden_decisions_are_not_trivial() -> None:
    # The decisions vary over the run (otherwise identical replays would prove little).
    log = _golden("sim-seed7-6nodes-2h.jsonl")
    results = [
        e.event.result
        for e in (r.result.unwrap() for r in read_log(log))
        if isinstance(e, Envelope) and isinstance(e.event, AllocationDecided)
    ]
    totals = {r.total_games for r in results}
    placements = {tuple(sorted(n.node_id for n in r.nodes)) for r in results}
    assert len(totals) > 1
    assert len(placements) > 1


def _replay_json(log: Path, hash_seed: str) -> dict[str, Any]:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed)
    done = subprocess.run(
        [*CLI, "replay", str(log), "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


@pytest.mark.slow  # takes seconds
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_replays_identical_under_any_hash_seed(name: str) -> None:
    log = _golden(name)
    seeds = ("0", "1", "4242", "random")
    outputs = [_replay_json(log, seed) for seed in seeds]
    for data in outputs:
        assert data["decisions_checked"] == 12
        assert data["decisions_identical"] == 12
        assert data["rejected"] == 0
    assert all(data == outputs[0] for data in outputs)


@pytest.mark.slow  # takes seconds
def test_simulate_rewrites_the_golden_logs_byte_for_byte(tmp_path: Path) -> None:
    for name, options in GOLDEN.items():
        out = tmp_path / name
        env = dict(os.environ, PYTHONHASHSEED="random")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "selfplay_shell.cli",
                "-q",
                "simulate",
                *options,
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert out.read_bytes() == _golden(name).read_bytes(), f"{name} changed: see module doc"
        # the sidecar holds the same policy and start (compared as values: its text follows
        # the state's encoding, which may change without changing any decision)
        assert read_snapshot(sidecar_snapshot(out)) == read_snapshot(
            sidecar_snapshot(_golden(name))
        )


def test_decision_checks_see_the_state_before_the_decision() -> None:
    # Each check's state is the replayed state the decision was made from: its last envelope
    # time is at most the decision's.
    log = _golden("sim-seed7-6nodes-2h.jsonl")
    start, _ = starting_point(log, None)
    checks = [s.check for s in replay(start.state, log_items(log), start.policy) if s.check]
    assert [c.number for c in checks] == list(range(1, 13))
    assert all(c.state.last_at <= c.at for c in checks)
    assert all(c.state.allocations.decisions == c.number - 1 for c in checks)


def _regenerate() -> None:  # pragma: no cover - a maintenance entry point
    for name, options in GOLDEN.items():
        out = _golden(name)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "selfplay_shell.cli",
                "simulate",
                *options,
                "--out",
                str(out),
                "--force",
            ],
            check=True,
            cwd=ROOT,
        )


if __name__ == "__main__":  # pragma: no cover
    _regenerate()


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_the_state_after_a_golden_log_snapshots_exactly(name: str) -> None:
    # a real state (nodes, Elo history, boosts, source book) survives a snapshot as text
    log = _golden(name)
    start, _ = starting_point(log, None)
    report = replay_report(start.state, log_items(log), start.policy)
    assert report.final_state is not None
    assert report.final_state.elo.history  # the log trained models
    snapshot = snapshot_of(report, start.policy)
    assert snapshot.position == report.final_position
    assert snapshot.log is not None
    text = json.dumps(encode_snapshot(snapshot))
    back = decode_snapshot(json.loads(text)).unwrap()
    assert back == snapshot
    assert json.dumps(encode_snapshot(back)) == text
