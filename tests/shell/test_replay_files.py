"""The file side of replay: TOML policies, snapshot files, rotated logs, line counts."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import pytest
from rich.console import Console

from selfplay_core.configs import ALL_CONFIGS
from selfplay_core.events import SelfplayComplete, Tick, make_envelope
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.replay import Snapshot, replay_report, snapshot_of
from selfplay_core.state import SchedulerState
from selfplay_shell.cli import PROGRESS_MIN_LINES, Output
from selfplay_shell.eventlog import EventLog
from selfplay_shell.replay_files import (
    ReplayInputError,
    StrictStop,
    check_readable,
    count_lines,
    load_policy,
    locate,
    log_items,
    read_snapshot,
    sidecar_snapshot,
    starting_point,
    write_snapshot,
)


def test_a_policy_file_changes_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[starvation]\nemergency_multiplier = 2.5\n", encoding="utf-8")
    policy = load_policy(path)
    assert policy.starvation.emergency_multiplier == 2.5
    reference = SchedulerPolicy()
    assert policy.starvation.critical_multiplier == reference.starvation.critical_multiplier
    assert policy.weights == reference.weights


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "does not exist"),
        ("x = [", "not valid TOML"),
        ("[weights]\nstaleness = -1.0\n", "weights.staleness"),
        ("[weights]\nstaleness = " + "9" * 5000 + "\n", "an integer too long to parse"),
        ("a = " + "[" * 5000 + "]" * 5000 + "\n", "nesting too deep to parse"),
    ],
)
def test_policy_errors_say_what_is_wrong(tmp_path: Path, content: str | None, needle: str) -> None:
    path = tmp_path / "p.toml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ReplayInputError, match=needle):
        load_policy(path)


def test_snapshot_files_round_trip(tmp_path: Path) -> None:
    policy = SchedulerPolicy.from_mapping({"weights": {"voi": 0.3}})
    _rotated_log(tmp_path / "log.jsonl", 17)
    report = replay_report(SchedulerState.initial(policy), log_items(tmp_path / "log.jsonl"))
    snapshot = snapshot_of(report, policy)
    assert (snapshot.position, snapshot.last_envelope_id) == (17, "e16")
    path = tmp_path / "s.json"
    write_snapshot(path, snapshot)
    assert read_snapshot(path) == snapshot
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ReplayInputError, match="cannot be read"):
        read_snapshot(path)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"position":' + "9" * 5000 + "}", "an integer too long to parse"),
        ("[" * 5000 + "]" * 5000, "nesting too deep to parse"),
    ],
)
def test_a_hostile_snapshot_file_is_an_error_not_a_crash(
    tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "s.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ReplayInputError, match=needle):
        read_snapshot(path)


def test_starting_point_prefers_the_given_snapshot_then_the_sidecar(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text("", encoding="utf-8")
    start, origin = starting_point(log, None)
    assert origin == "reference policy"
    assert start.position == 0
    policy = SchedulerPolicy.from_mapping({"weights": {"voi": 0.3}})
    write_snapshot(sidecar_snapshot(log), Snapshot(SchedulerState.initial(policy), policy, 0))
    start, origin = starting_point(log, None)
    assert start.policy == policy
    assert origin.startswith("snapshot")
    other = tmp_path / "other.json"
    _rotated_log(tmp_path / "three.jsonl", 3)
    three = replay_report(SchedulerState.initial(), log_items(tmp_path / "three.jsonl"))
    write_snapshot(other, snapshot_of(three, SchedulerPolicy()))
    start, origin = starting_point(log, other)
    assert start.position == 3
    assert str(other) in origin


def _rotated_log(path: Path, count: int) -> None:
    with EventLog(path, fsync="never", max_segment_bytes=2_000) as log:
        for i in range(count):
            event = SelfplayComplete(config_key=ALL_CONFIGS[i % 12]) if i % 2 else Tick(at=i)
            log.append(make_envelope(event, id=f"e{i}", at=float(i), source="t"))


def test_a_rotated_log_replays_and_counts_across_segments(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jsonl"
    _rotated_log(path, 120)
    assert len(list(tmp_path.glob("rotated*.jsonl"))) > 2  # really rotated
    assert count_lines(path) == 120
    report = replay_report(SchedulerState.initial(), log_items(path))
    assert report.items == report.applied == 120
    tail = replay_report(SchedulerState.initial(), log_items(path, start=100), start_position=100)
    assert tail.items == 20
    assert tail.final_position == 120


def test_strict_stops_at_the_first_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    _rotated_log(tmp_path / "good.jsonl", 5)
    lines = (tmp_path / "good.jsonl").read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([*lines[:3], b"{oops\n", *lines[3:]]))
    relaxed = replay_report(SchedulerState.initial(), log_items(path))
    assert (relaxed.items, relaxed.rejected) == (6, 1)
    with pytest.raises(StrictStop) as stop:
        replay_report(SchedulerState.initial(), log_items(path, strict=True))
    assert stop.value.position == 3
    with pytest.raises(ReplayInputError, match="no event log"):
        log_items(tmp_path / "missing.jsonl")
    assert count_lines(tmp_path / "missing.jsonl") is None


# --- unreadable input, and snapshots of another log -----------------------------------------


def _not_logs(directory: Path) -> dict[str, tuple[Path, str]]:
    """Inputs that are not event logs, and what the error must say."""
    empty = directory / "empty.jsonl"
    empty.write_bytes(b"")
    binary = directory / "garbage.bin"
    binary.write_bytes(bytes(range(256)) * 40 + b"\n\x00\xff\n")
    other = directory / "other.jsonl"
    other.write_text('{"name": "not an envelope"}\n[1, 2]\n', encoding="utf-8")
    folder = directory / "folder"
    folder.mkdir()
    return {
        "empty": (empty, "is empty"),
        "binary": (binary, "not an event log"),
        "other JSON": (other, r"none of its 2 line\(s\) is an envelope"),
        "directory": (folder, "is a directory"),
        "missing": (directory / "missing.jsonl", "no event log"),
    }


def test_what_is_not_an_event_log_is_refused_in_one_line(tmp_path: Path) -> None:
    for name, (path, needle) in _not_logs(tmp_path).items():
        with pytest.raises(ReplayInputError, match=needle) as raised:
            check_readable(path)
        assert "\n" not in str(raised.value), name
        with pytest.raises(ReplayInputError, match=needle):
            log_items(path)


def test_a_log_with_some_bad_lines_is_still_a_log(tmp_path: Path) -> None:
    _rotated_log(tmp_path / "good.jsonl", 3)
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"\x89PNG\x00\n{oops\n" + (tmp_path / "good.jsonl").read_bytes())
    check_readable(path)
    report = replay_report(SchedulerState.initial(), log_items(path))
    assert (report.items, report.rejected, report.applied) == (5, 2, 3)
    assert locate(path, 0) == f"{path}:1"
    assert locate(path, 4) == f"{path}:5"
    assert locate(path, 5) is None


def test_a_snapshot_resumes_its_own_log_rotated_or_grown(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jsonl"
    _rotated_log(path, 60)
    head = replay_report(SchedulerState.initial(), itertools.islice(log_items(path), 40))
    snapshot = snapshot_of(head, SchedulerPolicy())
    rest = replay_report(
        snapshot.state, log_items(path, start=snapshot), start_position=snapshot.position
    )
    assert (rest.items, rest.final_position) == (20, 60)
    whole = replay_report(SchedulerState.initial(), log_items(path))
    assert rest.final_state == whole.final_state


def test_a_snapshot_of_another_log_or_position_is_refused(tmp_path: Path) -> None:
    _rotated_log(tmp_path / "a.jsonl", 30)
    snapshot = snapshot_of(
        replay_report(SchedulerState.initial(), log_items(tmp_path / "a.jsonl")), SchedulerPolicy()
    )
    other = tmp_path / "b.jsonl"
    with EventLog(other, fsync="never") as log:
        for i in range(40):
            log.append(make_envelope(Tick(at=i), id=f"b{i}", at=float(i), source="b"))
    with pytest.raises(ReplayInputError, match=r"not of .*another log"):
        log_items(other, start=snapshot)
    short = tmp_path / "short.jsonl"
    _rotated_log(short, 10)  # the same envelopes, but fewer of them
    with pytest.raises(ReplayInputError, match="past its end"):
        log_items(short, start=snapshot)


def test_strict_after_a_snapshot_judges_only_the_rest(tmp_path: Path) -> None:
    _rotated_log(tmp_path / "good.jsonl", 6)
    lines = (tmp_path / "good.jsonl").read_bytes().splitlines(keepends=True)
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"".join([lines[0], b"{oops\n", *lines[1:4], b"{again\n", *lines[4:]]))
    head = replay_report(SchedulerState.initial(), itertools.islice(log_items(path), 5))
    snapshot = snapshot_of(head, SchedulerPolicy())
    assert snapshot.position == 5
    with pytest.raises(StrictStop) as stop:
        list(log_items(path, start=snapshot, strict=True))
    assert stop.value.position == 5


def test_the_progress_bar_runs_on_a_terminal_for_long_logs() -> None:
    out = Output()
    sink = io.StringIO()
    out.err = Console(file=sink, force_terminal=True, width=100)
    with out.progress(PROGRESS_MIN_LINES - 1, "short") as none:
        assert none is None
    with out.progress(PROGRESS_MIN_LINES, "replaying") as advance:
        assert advance is not None
        for _ in range(PROGRESS_MIN_LINES):
            advance(None)
    assert "replaying" in sink.getvalue()
