"""Snapshots: plain data through the codec, bound to their log, refused for any other log or
position (the CLI side is in tests/shell/test_cli.py and tests/shell/test_replay_files.py)."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from _replay_support import SCRIPT, counts, record, refresh
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from selfplay_core.codec import decode, encode
from selfplay_core.events import SelfplayComplete, Tick, make_envelope
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.replay import (
    EnvelopeMark,
    LogIdentity,
    Rejected,
    Snapshot,
    decode_snapshot,
    encode_snapshot,
    envelope_digest,
    items_after,
    replay,
    replay_report,
    snapshot_of,
)
from selfplay_core.state import SchedulerState

POLICY = SchedulerPolicy.from_mapping({"weights": {"staleness": 0.4}})


def _snapshot(log: list[Any], cut: int, policy: SchedulerPolicy = POLICY) -> Snapshot:
    return snapshot_of(replay_report(SchedulerState.initial(policy), log[:cut], policy), policy)


def _through_json(snapshot: Snapshot) -> Snapshot:
    result = decode_snapshot(json.loads(json.dumps(encode_snapshot(snapshot))))
    assert isinstance(result, Success), result
    return result.unwrap()


def _refusal(snapshot: Snapshot, items: list[Any]) -> str:
    result = items_after(snapshot, items)
    assert isinstance(result, Failure), "the snapshot was accepted"
    return str(result.failure())


# --- plain data --------------------------------------------------------------------------------


def test_a_snapshot_records_its_log_and_round_trips_through_json() -> None:
    log = record(SCRIPT)
    snapshot = _snapshot(log, 6)
    assert snapshot.position == 6
    assert snapshot.log == LogIdentity(EnvelopeMark.of(0, log[0]), EnvelopeMark.of(5, log[5]))
    assert snapshot.last_envelope_id == "e00005"
    assert _through_json(snapshot) == snapshot
    text = json.dumps(encode_snapshot(snapshot))
    assert json.dumps(encode_snapshot(_through_json(snapshot))) == text
    assert list(json.loads(text))[:4] == ["format", "version", "position", "log"]


def test_the_digest_follows_the_envelope_not_its_spelling() -> None:
    envelope = record(SCRIPT)[1]
    again = json.loads(json.dumps(encode(envelope), sort_keys=True))
    assert envelope_digest(decode(again).unwrap()) == envelope_digest(envelope)
    assert envelope_digest(attrs.evolve(envelope, at=envelope.at + 1)) != envelope_digest(envelope)
    assert envelope_digest(envelope).startswith("sha256:")


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (
            lambda d: d["state"]["books"]["sources"]["reported"].update(x=[1]),
            "state.books.sources.reported.x",
        ),
        (lambda d: d.update(format="other"), "format"),
        (lambda d: d.update(version=3), "version"),
        (lambda d: d.update(position=-1), "position"),
        (lambda d: d.update(position="6"), "position"),
        (lambda d: d.update(position=7), "log"),  # edited: no longer just after its envelope
        (lambda d: d.update(log=None), "log"),  # past 0 a snapshot must say which log
        (lambda d: d["log"]["last"].update(position=-2), "log.last.position"),
        (lambda d: d["log"]["first"].pop("digest"), "log.first.digest"),
        (lambda d: d.pop("policy"), "policy"),
        (lambda d: d.pop("state"), "state"),
        (lambda d: d["policy"]["weights"].update(staleness="x"), "policy.weights.staleness"),
        (lambda d: d["state"]["configs"].pop("hex8_2p"), "state.configs"),
        (lambda d: d["state"]["ledger"].update(ids=[1]), "state.ledger"),
        (lambda d: d["state"]["ledger"].update(last_at=float("nan")), "state.ledger"),
    ],
)
def test_a_bad_snapshot_names_the_field(mutate: Any, path: str) -> None:
    data = encode_snapshot(_snapshot(record(SCRIPT), 6))
    mutate(data)
    result = decode_snapshot(data)
    assert isinstance(result, Failure)
    assert result.failure().path.startswith(path), result.failure()


def test_a_version_1_snapshot_is_read_only_as_a_starting_point() -> None:
    start = encode_snapshot(Snapshot(SchedulerState.initial(POLICY), POLICY, 0))
    old = start | {"version": 1, "last_envelope_id": None}
    del old["log"]
    assert decode_snapshot(old).unwrap() == Snapshot(SchedulerState.initial(POLICY), POLICY, 0)
    moved = old | {"position": 6, "last_envelope_id": "e00005"}
    result = decode_snapshot(moved)
    assert isinstance(result, Failure)
    assert result.failure().path == "version"
    assert "does not record which log" in result.failure().message


def test_a_snapshot_past_zero_must_record_its_log() -> None:
    with pytest.raises(ValueError, match="must record its log"):
        Snapshot(SchedulerState.initial(), SchedulerPolicy(), 3)
    mark = EnvelopeMark(4, "x", "sha256:0")
    with pytest.raises(ValueError, match="not just before position 3"):
        Snapshot(SchedulerState.initial(), SchedulerPolicy(), 3, LogIdentity(mark, mark))


# --- resuming ----------------------------------------------------------------------------------


@given(st.integers(0, len(SCRIPT)))
def test_replay_from_a_snapshot_continues_exactly(cut: int) -> None:
    log = record(SCRIPT)
    policy = SchedulerPolicy()
    full = list(replay(SchedulerState.initial(), log, policy))
    resumed = _through_json(_snapshot(log, cut, policy))
    assert resumed.position == cut
    rest = items_after(resumed, log).unwrap()
    tail = list(replay(resumed.state, rest, resumed.policy, start_position=resumed.position))
    assert [s.position for s in tail] == [s.position for s in full[cut:]]
    assert [s.state for s in tail] == [s.state for s in full[cut:]]
    numbers = [s.check.number for s in tail if s.check is not None]
    assert numbers == [s.check.number for s in full[cut:] if s.check is not None]
    assert all(s.check.identical for s in tail if s.check is not None)


def test_a_snapshot_of_a_resumed_replay_keeps_the_first_envelope() -> None:
    log = record(SCRIPT)
    head = _snapshot(log, 4)
    rest = items_after(head, log[:8]).unwrap()
    report = replay_report(head.state, rest, POLICY, start_position=head.position)
    later = snapshot_of(report, POLICY, resumed_from=head)
    assert later.position == 8
    assert later.log == LogIdentity(EnvelopeMark.of(0, log[0]), EnvelopeMark.of(7, log[7]))
    assert isinstance(items_after(later, log), Success)


def test_a_snapshot_backs_up_over_trailing_bad_lines() -> None:
    # Lines the reader rejected after the last envelope change no state: the snapshot stops
    # just after the envelope, so a resumed replay reads (and reports) them again.
    log: list[Any] = [*record(SCRIPT)[:3], Rejected("x:4", "bad"), Rejected("x:5", "bad")]
    snapshot = _snapshot(log, 5)
    assert snapshot.position == 3
    rest = list(items_after(snapshot, log).unwrap())
    assert rest == log[3:]


def test_a_snapshot_of_nothing_is_a_starting_point() -> None:
    snapshot = _snapshot([Rejected("x:1", "bad")], 1)
    assert (snapshot.position, snapshot.log) == (0, None)
    assert list(items_after(snapshot, [1, 2]).unwrap()) == [1, 2]


def test_a_snapshot_from_another_log_is_refused() -> None:
    log = record(SCRIPT)
    other = record((refresh(counts(7)), *SCRIPT[1:]))  # same ids, other content
    snapshot = _snapshot(log, 6)
    reason = _refusal(snapshot, other)
    assert "another log" in reason
    assert "'e00000'" in reason
    assert "other content" in reason
    shifted = [make_envelope(Tick(at=1.0), id="t0", at=1.0, source="s"), *log]
    assert "another log" in _refusal(snapshot, shifted)


def test_a_snapshot_at_another_position_is_refused() -> None:
    log = record(SCRIPT)
    snapshot = _snapshot(log, 6)
    assert snapshot.log is not None
    # position and its pin both moved on by two: the log has other envelopes there
    moved_mark = attrs.evolve(snapshot.log.last, position=7)
    moved = attrs.evolve(snapshot, position=8, log=attrs.evolve(snapshot.log, last=moved_mark))
    assert "is not in this log" in _refusal(moved, log)
    # a log that lost its tail, or a position edited past the end
    assert "past its end" in _refusal(snapshot, log[:4])
    far_mark = attrs.evolve(snapshot.log.last, position=99)
    far = attrs.evolve(snapshot, position=100, log=attrs.evolve(snapshot.log, last=far_mark))
    assert "past its end" in _refusal(far, log)


def test_a_log_whose_pinned_line_went_bad_is_refused() -> None:
    log: list[Any] = record(SCRIPT)
    snapshot = _snapshot(log, 6)
    log[5] = Rejected("x:6", "invalid JSON")
    assert "item 5 is no envelope" in _refusal(snapshot, log)


def test_a_grown_log_still_matches_its_snapshot() -> None:
    log = record(SCRIPT)
    snapshot = _snapshot(log, 6)
    grown = [
        *log,
        make_envelope(SelfplayComplete(config_key="hex8_2p"), id="z", at=9e3, source="s"),
    ]
    assert list(items_after(snapshot, grown).unwrap()) == grown[6:]


@given(st.integers(1, len(SCRIPT)), st.integers(0, len(SCRIPT) - 1), st.data())
def test_any_edited_envelope_before_the_position_that_is_pinned_is_refused(
    cut: int, index: int, data: st.DataObject
) -> None:
    log = record(SCRIPT)
    snapshot = _snapshot(log, cut)
    assert snapshot.log is not None
    if index not in (snapshot.log.first.position, snapshot.log.last.position):
        index = snapshot.log.last.position
    edited = list(log)
    changed = data.draw(st.sampled_from(["at", "id", "source"]))
    value = {"at": log[index].at + 0.5, "id": "other", "source": "elsewhere"}[changed]
    edited[index] = attrs.evolve(log[index], **{changed: value})
    assert "not in this log" in _refusal(snapshot, edited) or "another log" in _refusal(
        snapshot, edited
    )
