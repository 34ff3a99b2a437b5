"""Tampered golden logs: a replay's verdict is exact.

A replay is `identical` only when every line of the log was replayed and every decision in it
was decided again identically. A renamed decision type, a negative or string count, a reused
id, garbage: each is reported with the count of lines not replayed and where the first one
is, never passed over (the CLI's exit codes for the same logs: tests/shell/test_cli.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from returns.result import Success

from selfplay_core.codec import decode
from selfplay_core.events import EVENT_TYPES, AllocationDecided
from selfplay_core.replay import ReplayReport, Verdict, VerdictKind, replay_report, replay_verdict
from selfplay_shell.replay_files import locate, log_items, sidecar_snapshot, starting_point

GOLDEN = Path(__file__).parent / "golden" / "sim-seed7-6nodes-2h.jsonl"
LINES: tuple[bytes, ...] = tuple(GOLDEN.read_bytes().splitlines(keepends=True))
DECISION_LINES: tuple[int, ...] = tuple(
    i for i, line in enumerate(LINES) if json.loads(line)["type"] == "allocation_decided"
)


def _write(directory: Path, lines: list[bytes]) -> Path:
    log = directory / "tampered.jsonl"
    log.write_bytes(b"".join(lines))
    shutil.copyfile(sidecar_snapshot(GOLDEN), sidecar_snapshot(log))
    return log


def _replay(log: Path) -> tuple[ReplayReport, Verdict]:
    start, _ = starting_point(log, None)
    report = replay_report(start.state, log_items(log), start.policy)
    first = report.first_skipped
    where = None if first is None else locate(log, first.position)
    return report, replay_verdict(report, first_skipped_at=where)


def _edit(line: bytes, change: Any) -> bytes:
    record = json.loads(line)
    change(record)
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def _decisions_as_read(lines: list[bytes]) -> int:
    """Lines that read as a decision, counted without the reader or the fold."""
    count = 0
    for line in lines:
        try:
            result = decode(json.loads(line))
        except ValueError:
            continue
        if isinstance(result, Success) and isinstance(result.unwrap().event, AllocationDecided):
            count += 1
    return count


def test_the_golden_log_replays_identical() -> None:
    report, verdict = _replay(GOLDEN)
    assert verdict.kind == VerdictKind.IDENTICAL, verdict.message
    assert report.items == len(LINES)
    assert report.decisions_checked == len(DECISION_LINES) == 12


def _rename(record: dict[str, Any]) -> None:
    record["type"] = "allocation_decided_v2"


def _negative_games(record: dict[str, Any]) -> None:
    record["payload"]["request"]["games_per_config"] = -20


def _string_games(record: dict[str, Any]) -> None:
    record["payload"]["request"]["games_per_config"] = "20"


def _negative_result(record: dict[str, Any]) -> None:
    games = record["payload"]["result"]["games_by_config"]
    games[next(iter(games))] = -1


TAMPERS = {
    "renamed decision type": (_rename, "1 of an unknown type", "allocation_decided_v2"),
    "negative count": (_negative_games, "1 rejected", "games_per_config"),
    "string count": (_string_games, "1 rejected", "games_per_config"),
    "negative result count": (_negative_result, "1 rejected", "games_by_config"),
}


@pytest.mark.parametrize("name", sorted(TAMPERS))
def test_a_tampered_decision_is_reported_with_its_line(name: str, tmp_path: Path) -> None:
    change, kind_text, needle = TAMPERS[name]
    index = DECISION_LINES[5]
    lines = list(LINES)
    lines[index] = _edit(lines[index], change)
    report, verdict = _replay(_write(tmp_path, lines))
    assert verdict.kind == VerdictKind.INCOMPLETE, verdict.message
    assert report.decisions_checked == 11
    assert f"1 line(s) not replayed ({kind_text})" in verdict.message
    assert f"tampered.jsonl:{index + 1}" in verdict.message
    assert needle in verdict.message
    assert verdict.message.endswith("11 decision(s) checked")


def test_a_decision_reusing_an_earlier_id_is_reported(tmp_path: Path) -> None:
    index = DECISION_LINES[5]
    earlier = json.loads(LINES[index - 3])["id"]
    lines = list(LINES)
    lines[index] = _edit(lines[index], lambda r: r.update(id=earlier))
    report, verdict = _replay(_write(tmp_path, lines))
    assert verdict.kind == VerdictKind.INCOMPLETE
    assert report.decisions_checked == 11
    assert f"tampered.jsonl:{index + 1}" in verdict.message
    assert f"duplicate id {earlier!r}" in verdict.message


# --- any single-line mutation ------------------------------------------------------------------


def _mutations(line_count: int) -> st.SearchStrategy[tuple[int, str, Any]]:
    kinds = st.sampled_from(["type", "known type", "id", "field", "byte", "garbage", "drop key"])
    return st.tuples(st.integers(0, line_count - 1), kinds, st.randoms(use_true_random=False))


def _mutate(lines: list[bytes], index: int, kind: str, rnd: Any) -> None:
    record = json.loads(lines[index])
    if kind == "type":
        record["type"] = rnd.choice(["", "x", record["type"] + "_v2", record["type"].upper()])
    elif kind == "known type":
        record["type"] = rnd.choice(sorted(EVENT_TYPES))
    elif kind == "id":
        record["id"] = json.loads(lines[rnd.randrange(len(lines))])["id"]
    elif kind == "field":
        _set_a_leaf(record["payload"], rnd, rnd.choice([-1, "7", None, 10**30, 0.5, True]))
    elif kind == "drop key":
        record.pop(rnd.choice(sorted(record)))
    elif kind == "byte":
        raw = bytearray(lines[index])
        raw[rnd.randrange(len(raw) - 1)] = rnd.randrange(32, 127)
        lines[index] = bytes(raw)
        return
    else:
        lines[index] = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 40))) + b"\n"
        return
    lines[index] = json.dumps(record, separators=(",", ":")).encode() + b"\n"


def _set_a_leaf(value: Any, rnd: Any, new: Any) -> None:
    while True:
        keys = list(value) if isinstance(value, dict) else list(range(len(value)))
        if not keys:
            return
        key = rnd.choice(keys)
        if not isinstance(value[key], dict | list) or not value[key]:
            value[key] = new
            return
        value = value[key]


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_mutations(len(LINES)))
def test_any_single_line_mutation_is_reported_or_replays_identically(
    tmp_path: Path, mutation: tuple[int, str, Any]
) -> None:
    index, kind, rnd = mutation
    lines = list(LINES)
    _mutate(lines, index, kind, rnd)
    report, verdict = _replay(_write(tmp_path, lines))
    if verdict.ok:
        # identical means: every line replayed, and every decision the log holds (as it
        # reads now) decided again identically; never fewer decisions than it holds
        assert report.items == len(lines)
        assert report.skipped == 0
        assert report.decisions_checked == _decisions_as_read(lines)
        assert report.decisions_identical == report.decisions_checked
    else:
        assert verdict.kind in (VerdictKind.DIFFERS, VerdictKind.INCOMPLETE)
        if verdict.kind == VerdictKind.INCOMPLETE:
            assert "tampered.jsonl:" in verdict.message
