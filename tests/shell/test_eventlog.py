"""EventLog writer and read_log reader on real files: round trips, rotation, gzip, fsync
policies, torn-tail quarantine and a real SIGKILL crash."""

from __future__ import annotations

import base64
import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from selfplay_core.codec import encode
from selfplay_core.events import (
    ConfigBoosted,
    Envelope,
    NodeUnhealthy,
    SelfplayComplete,
    Tick,
    UnknownEvent,
    make_envelope,
)
from selfplay_shell import EventLog, read_log
from selfplay_shell.eventlog import (
    FsyncPolicy,
    LogBusyError,
    LogError,
    LogRecord,
    LogWriteError,
    NotAnEventLogError,
    ProblemKind,
)
from selfplay_shell.eventlog.jsonline import dumps_line
from selfplay_shell.eventlog.manifest import manifest_path_for, read_manifest, write_manifest
from selfplay_shell.eventlog.recovery import quarantine_path_for

SRC = Path(__file__).resolve().parents[2] / "src"


def envelope(i: int, at: float | None = None) -> Envelope:
    """A small, varied envelope: the kind of each depends on `i`."""
    when = float(i) if at is None else at
    events = (
        Tick(at=when),
        SelfplayComplete(config_key="hex8_2p"),
        NodeUnhealthy(node_id=f"node-{i % 7}"),
        ConfigBoosted(config_key="square19_4p", multiplier=1.5),
        UnknownEvent(type="future_thing", payload={"n": i, "tags": ["a", "b"]}),
    )
    return make_envelope(events[i % len(events)], id=f"e{i}", at=when, source="test")


def envelopes(records: list[LogRecord]) -> list[Envelope]:
    assert all(isinstance(r.result, Success) for r in records), [
        r.result for r in records if isinstance(r.result, Failure)
    ]
    return [r.result.unwrap() for r in records]


def failed(record: LogRecord) -> bool:
    return isinstance(record.result, Failure)


# -- round trip ---------------------------------------------------------------------------


def test_round_trip_writes_one_canonical_line_per_envelope(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    written = [envelope(i) for i in range(25)]
    with EventLog(path, fsync="never") as log:
        for item in written:
            log.append(item)
        assert log.appended == 25
    assert log.closed
    assert path.read_bytes() == b"".join(dumps_line(encode(item)) for item in written)
    records = list(read_log(path))
    assert [r.line_no for r in records] == list(range(1, 26))
    assert {r.path for r in records} == {str(path)}
    assert envelopes(records) == written
    assert all(r.warnings == () for r in records)


@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.floats(0, 1e9, allow_nan=False)),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from([None, 150, 400, 2000]),
)
def test_any_sequence_round_trips_with_or_without_rotation(
    specs: list[tuple[int, float]], max_segment_bytes: int | None
) -> None:
    written = [
        make_envelope(envelope(kind).event if kind else Tick(at=at), id=f"id{i}", at=at, source="s")
        for i, (kind, at) in enumerate(specs)
    ]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "log.jsonl"
        with EventLog(path, fsync="never", max_segment_bytes=max_segment_bytes) as log:
            log.extend(written[: len(written) // 2])
            for item in written[len(written) // 2 :]:
                log.append(item)
        records = list(read_log(path))
        assert [r.result.unwrap() for r in records] == written
        ats = [at for _, at in specs]
        warned = [i for i, r in enumerate(records) if r.warnings]
        assert warned == [i for i in range(1, len(ats)) if ats[i] < ats[i - 1]]
        if max_segment_bytes is not None:
            manifest = read_manifest(manifest_path_for(path))
            assert sum(s.records for s in manifest.segments) == len(written)
            for segment in manifest.segments:
                size = (Path(directory) / segment.file).stat().st_size
                assert size == segment.bytes
                assert segment.records == 1 or size <= max_segment_bytes


def test_extend_and_append_write_identical_bytes(tmp_path: Path) -> None:
    items = [envelope(i) for i in range(12)]
    with EventLog(tmp_path / "a.jsonl", fsync="never") as one:
        for item in items:
            one.append(item)
    with EventLog(tmp_path / "b.jsonl", fsync="never") as two:
        two.extend(items)
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_reopening_appends_after_what_is_there(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        log.extend(envelope(i) for i in range(3))
    with EventLog(path) as log:
        assert log.recovery == ()
        log.extend(envelope(i) for i in range(3, 6))
    assert [e.id for e in envelopes(list(read_log(path)))] == [f"e{i}" for i in range(6)]


def test_an_unusable_envelope_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    big = make_envelope(UnknownEvent(type="big", payload={"x": "y" * 500}), id="b", at=0, source="")
    with EventLog(path, max_line_bytes=200) as log:
        log.append(envelope(0))
        with pytest.raises(LogWriteError, match="200-byte line limit"):
            log.append(big)
        log.append(envelope(1))
    with pytest.raises(ValueError, match="closed"):
        log.append(envelope(2))
    assert [e.id for e in envelopes(list(read_log(path)))] == ["e0", "e1"]


# -- rotation and manifest ------------------------------------------------------------------


def test_rotation_splits_into_segments_listed_in_order(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    written = [envelope(i) for i in range(40)]
    with EventLog(path, fsync="always", max_segment_bytes=1000) as log:
        for item in written:
            log.append(item)
        segments = log.segments
    assert len(segments) > 3
    manifest = read_manifest(manifest_path_for(path))
    assert [s.file for s in manifest.segments] == [p.name for p in segments]
    assert segments[0] == path
    assert segments[1].name == "events.000001.jsonl"
    # Lines are numbered log-wide in the manifest, contiguously.
    assert manifest.segments[0].first_line == 1
    for before, after in zip(manifest.segments, manifest.segments[1:], strict=False):
        assert after.first_line == before.last_line + 1
        assert before.closed
    assert manifest.segments[-1].last_line == 40
    assert manifest.segments[0].first_id == "e0"
    assert manifest.segments[-1].last_id == "e39"
    assert all(p.stat().st_size <= 1000 for p in segments)
    # The reader follows the manifest, from the base path or the manifest itself.
    for where in (path, manifest_path_for(path)):
        records = list(read_log(where))
        assert envelopes(records) == written
        assert records[0].path == str(path)
        assert records[-1].path == str(segments[-1])
        assert records[-1].line_no == manifest.segments[-1].records


def test_a_rotated_log_reopens_and_continues_in_its_last_segment(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventLog(path, max_segment_bytes=600) as log:
        log.extend(envelope(i) for i in range(10))
        before = log.segments
    with EventLog(path, max_segment_bytes=600) as log:
        log.extend(envelope(i) for i in range(10, 20))
        after = log.segments
    assert after[: len(before)] == before
    manifest = read_manifest(manifest_path_for(path))
    assert manifest.segments[-1].last_line == 20
    assert [e.id for e in envelopes(list(read_log(path)))] == [f"e{i}" for i in range(20)]


def test_a_manifest_listing_a_missing_segment_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventLog(path, max_segment_bytes=400) as log:
        log.extend(envelope(i) for i in range(12))
        middle = log.segments[1]
    middle.unlink()
    records = list(read_log(path))
    problems = [r.result.failure() for r in records if isinstance(r.result, Failure)]
    assert len(problems) == 1
    assert problems[0].kind is ProblemKind.UNREADABLE
    assert problems[0].path == str(middle)
    assert "missing" in problems[0].reason


# -- gzip -----------------------------------------------------------------------------------


def test_gzipped_logs_and_compressed_old_segments_are_read(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    written = [envelope(i) for i in range(30)]
    with EventLog(path, max_segment_bytes=800) as log:
        log.extend(written)
        first_segment = log.segments[1]
    single = tmp_path / "single.jsonl.gz"
    single.write_bytes(gzip.compress(b"".join(dumps_line(encode(e)) for e in written)))
    assert envelopes(list(read_log(single))) == written
    # An old segment gzip'd in place (name + ".gz") is found through the manifest.
    Path(f"{first_segment}.gz").write_bytes(gzip.compress(first_segment.read_bytes()))
    first_segment.unlink()
    assert envelopes(list(read_log(path))) == written


def test_a_truncated_gzip_stream_is_reported_not_raised(tmp_path: Path) -> None:
    data = gzip.compress(b"".join(dumps_line(encode(envelope(i))) for i in range(200)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    records = list(read_log(path))
    assert isinstance(records[-1].result, Failure)
    assert records[-1].result.failure().kind is ProblemKind.UNREADABLE
    assert all(isinstance(r.result, Success) for r in records[:-1])


# -- fsync policies -------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_fsync_always_syncs_every_append(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.fdatasync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counting)
    with EventLog(tmp_path / "a.jsonl", fsync=FsyncPolicy.always()) as log:
        for i in range(5):
            log.append(envelope(i))
        assert log.syncs == 5
    assert len(calls) == 5  # nothing left unsynced, so close adds none


def test_fsync_never_never_syncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(os, "fdatasync", calls.append)
    monkeypatch.setattr(os, "fsync", calls.append)
    with EventLog(tmp_path / "a.jsonl", fsync="never", max_segment_bytes=300) as log:
        log.extend(envelope(i) for i in range(10))
        assert log.syncs == 0
    assert calls == []


def test_fsync_interval_by_records(tmp_path: Path) -> None:
    with EventLog(tmp_path / "a.jsonl", fsync=FsyncPolicy.interval(seconds=None, records=3)) as log:
        for i in range(10):
            log.append(envelope(i))
        assert log.syncs == 3  # after appends 3, 6 and 9
    assert log.syncs == 4  # close syncs the tenth


def test_fsync_interval_by_time(tmp_path: Path) -> None:
    clock = FakeClock()
    log = EventLog(tmp_path / "a.jsonl", fsync=FsyncPolicy.interval(seconds=2.0), clock=clock)
    log.append(envelope(0))
    clock.now = 1.9
    log.append(envelope(1))
    assert log.syncs == 0
    clock.now = 2.0
    log.append(envelope(2))
    assert log.syncs == 1
    clock.now = 3.0
    log.append(envelope(3))
    assert log.syncs == 1
    log.close()
    assert log.syncs == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "sometimes"}, "must be in"),
        ({"mode": "interval", "every_seconds": None, "every_records": None}, "needs"),
        ({"every_seconds": -1.0}, "positive"),
    ],
)
def test_bad_fsync_policies_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FsyncPolicy(**kwargs)  # type: ignore[arg-type]


def test_fsync_policy_names() -> None:
    assert FsyncPolicy.coerce("always").mode == "always"
    assert FsyncPolicy.coerce("never").mode == "never"
    assert FsyncPolicy.coerce("interval") == FsyncPolicy()
    with pytest.raises(ValueError, match="unknown fsync policy"):
        FsyncPolicy.coerce("hourly")


# -- torn tail ------------------------------------------------------------------------------


def test_reopening_quarantines_a_torn_tail_and_reports_it(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        log.extend(envelope(i) for i in range(5))
    torn = dumps_line(encode(envelope(5)))[:40]
    with path.open("ab") as handle:
        handle.write(torn)
    with EventLog(path) as log:
        assert len(log.recovery) == 1
        recovery = log.recovery[0]
        assert recovery.line_no == 6
        assert recovery.length == len(torn)
        assert "torn" in recovery.reason
        assert recovery.quarantine_path == str(quarantine_path_for(path))
        log.append(envelope(6))
    quarantined = json.loads(quarantine_path_for(path).read_text())
    assert quarantined["line_no"] == 6
    assert [e.id for e in envelopes(list(read_log(path)))] == ["e0", "e1", "e2", "e3", "e4", "e6"]


def test_reopening_quarantines_a_garbage_last_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        log.extend(envelope(i) for i in range(3))
    with path.open("ab") as handle:
        handle.write(b"\x00" * 64 + b"\n")  # what a lost page can look like after power loss
    log = EventLog(path)
    log.close()
    assert len(log.recovery) == 1
    assert "corrupt last line" in log.recovery[0].reason
    assert len(envelopes(list(read_log(path)))) == 3


def test_a_valid_but_undecodable_last_line_is_left_for_the_reader(tmp_path: Path) -> None:
    # Not a crash artefact: recovery keeps it, the reader reports it.
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        log.append(envelope(0))
    with path.open("ab") as handle:
        handle.write(b'{"id":"z","type":"tick","schema_version":1,"at":-1,"payload":{}}\n')
    log = EventLog(path)
    log.close()
    assert log.recovery == ()
    last = list(read_log(path))[-1]
    assert isinstance(last.result, Failure)
    assert last.result.failure().field_path == "at"


def test_a_torn_tail_in_the_last_segment_is_recovered_and_the_manifest_recounted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.jsonl"
    with EventLog(path, max_segment_bytes=500) as log:
        log.extend(envelope(i) for i in range(9))
        last = log.segments[-1]
    with last.open("ab") as handle:
        handle.write(b'{"at":1.0,"id":"half')
    with EventLog(path, max_segment_bytes=500) as log:
        assert len(log.recovery) == 1
        assert log.recovery[0].path == str(last)
    manifest = read_manifest(manifest_path_for(path))
    assert manifest.segments[-1].last_line == 9
    assert manifest.segments[-1].bytes == last.stat().st_size


# -- reader behaviour ----------------------------------------------------------------------


def test_strict_stops_at_the_first_error_but_not_at_warnings(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    lines = [dumps_line(encode(envelope(i, at=at))) for i, at in ((0, 5.0), (1, 1.0))]
    path.write_bytes(b"".join(lines) + b"{oops\n" + dumps_line(encode(envelope(2))))
    records = read_log(path, strict=True)
    seen = [next(records), next(records)]
    with pytest.raises(LogError) as raised:
        next(records)
    assert len(seen) == 2  # the out-of-order second line is only a warning
    assert seen[1].warnings[0].kind is ProblemKind.OUT_OF_ORDER
    assert raised.value.problem.line_no == 3
    assert raised.value.problem.kind is ProblemKind.INVALID_JSON
    assert len(list(read_log(path))) == 4  # lenient: goes on after the bad line


def test_a_missing_log_raises_at_once(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_log(tmp_path / "nope.jsonl")


def test_duplicates_are_found_within_the_window_only(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    ids = ["a", "b", "c", "a", "d", "e", "f", "b"]
    path.write_bytes(
        b"".join(
            dumps_line(encode(make_envelope(Tick(at=1.0), id=i, at=1.0, source=""))) for i in ids
        )
    )
    unbounded = [
        r.line_no for r in read_log(path, dedup_window=None) if isinstance(r.result, Failure)
    ]
    windowed = [r.line_no for r in read_log(path, dedup_window=3) if isinstance(r.result, Failure)]
    assert unbounded == [4, 8]
    assert windowed == [4]  # "b" fell out of a 3-id window before line 8


# -- a real crash ----------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys
    from selfplay_core.events import Tick, make_envelope
    from selfplay_shell import EventLog

    path, rotate, batch = sys.argv[1], int(sys.argv[2]) or None, int(sys.argv[3])
    log = EventLog(path, fsync="never", max_segment_bytes=rotate)
    i = 0
    while True:
        log.extend(
            make_envelope(Tick(at=float(n)), id=f"e{n}", at=float(n), source="crash" * 8)
            for n in range(i, i + batch)
        )
        i += batch
        print(i, flush=True)
    """
)


@pytest.mark.slow  # takes seconds
@pytest.mark.parametrize(("rotate", "batch"), [(0, 1), (0, 4000), (200_000, 500)])
def test_sigkill_while_appending_leaves_a_log_that_reopens_clean(
    tmp_path: Path, rotate: int, batch: int
) -> None:
    path = tmp_path / "crash.jsonl"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(rotate), str(batch)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert child.stdout is not None
    acknowledged = 0
    deadline = time.monotonic() + 30
    while acknowledged < 20_000 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        acknowledged = int(line)
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert acknowledged >= 2_000, "the child did not get going"

    log = EventLog(path, fsync="never", max_segment_bytes=rotate or None)
    log.close()
    assert len(log.recovery) <= 1
    ids = [e.id for e in envelopes(list(read_log(path)))]
    # Every line the child finished writing is there, in order, with no gap.
    assert len(ids) >= acknowledged
    assert ids == [f"e{n}" for n in range(len(ids))]
    if log.recovery:
        assert log.recovery[0].line_no > 0
        assert Path(log.recovery[0].quarantine_path).exists()


BIG_CHILD = textwrap.dedent(
    """
    import sys
    from selfplay_core.events import Tick, UnknownEvent, make_envelope
    from selfplay_shell import EventLog

    log = EventLog(sys.argv[1], fsync="never", max_line_bytes=16_000_000)
    blob = "x" * 4_000_000
    i = 0
    while True:
        log.append(make_envelope(Tick(at=float(i)), id=f"t{i}", at=float(i), source=""))
        big = UnknownEvent(type="blob", payload={"blob": blob})
        log.append(make_envelope(big, id=f"b{i}", at=float(i), source=""))
        i += 1
        print(i, flush=True)
    """
)


@pytest.mark.slow  # takes seconds
def test_sigkill_in_the_middle_of_a_big_write_tears_a_line_that_is_quarantined(
    tmp_path: Path,
) -> None:
    # A 4 MB write is cut short by SIGKILL (the kernel checks for fatal signals page by
    # page), so this produces real torn lines; a few trials at different delays find one.
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    torn = 0
    for trial in range(20):
        path = tmp_path / f"crash{trial}.jsonl"
        child = subprocess.Popen(
            [sys.executable, "-c", BIG_CHILD, str(path)], stdout=subprocess.PIPE, env=env, text=True
        )
        assert child.stdout is not None
        acknowledged = 0
        while acknowledged < 1:
            acknowledged = int(child.stdout.readline())
        time.sleep(0.0037 * trial)
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        log = EventLog(path, fsync="never", max_line_bytes=16_000_000)
        log.close()
        assert len(log.recovery) <= 1
        ids = [e.id for e in envelopes(list(read_log(path, max_line_bytes=16_000_000)))]
        assert len(ids) >= 2 * acknowledged
        assert ids == [f"{kind}{n}" for n in range(len(ids) // 2 + 1) for kind in "tb"][: len(ids)]
        if log.recovery:
            torn += 1
            recovery = log.recovery[0]
            assert recovery.line_no == len(ids) + 1
            assert recovery.offset == path.stat().st_size
            assert 0 < recovery.length < 4_000_100
            break
    if not torn:
        pytest.skip("no SIGKILL landed inside a write in 20 trials on this machine")


# -- one writer at a time -------------------------------------------------------------------


def test_a_second_writer_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    first = EventLog(path)
    first.append(envelope(0))
    with pytest.raises(LogBusyError):
        EventLog(path)
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\nfrom selfplay_shell import EventLog\n"
            "from selfplay_shell.eventlog import LogBusyError\n"
            "try:\n    EventLog(sys.argv[1])\nexcept LogBusyError:\n    sys.exit(3)\n",
            str(path),
        ],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        check=False,
    )
    assert probe.returncode == 3  # refused in another process too
    first.close()
    with EventLog(path) as second:
        second.append(envelope(1))
    assert [e.id for e in envelopes(list(read_log(path)))] == ["e0", "e1"]


# -- properties: nothing is lost, the reader never raises ----------------------------------

valid_lines = st.lists(st.integers(0, 40), min_size=1, max_size=12).map(
    lambda ids: [dumps_line(encode(envelope(i))) for i in ids]
)


def _foreign_line_before_a_damaged_tail(tail: bytes) -> bool:
    """Whether `tail`, after whole envelope lines, holds a complete line that is not an
    envelope and then a last line that recovery would quarantine."""
    *whole, last = tail.split(b"\n")
    if not whole:
        return False
    damaged = last != b"" or _not_an_object(whole[-1])
    before_last = whole if last != b"" else whole[:-1]
    return damaged and any(_not_an_envelope(line) for line in before_last)


def _not_an_object(line: bytes) -> bool:
    try:
        return not isinstance(json.loads(line), dict)
    except ValueError:
        return True


def _not_an_envelope(line: bytes) -> bool:
    try:
        value = json.loads(line)
    except ValueError:
        return True
    return not (isinstance(value, dict) and isinstance(value.get("id"), str))


@given(valid_lines, st.binary(max_size=300))
def test_reopening_after_any_garbage_tail_loses_no_byte(lines: list[bytes], tail: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "log.jsonl"
        before = b"".join(lines) + tail
        path.write_bytes(before)
        if _foreign_line_before_a_damaged_tail(tail):
            # Garbage that is a whole line before a damaged tail: the tail is not ours to cut.
            with pytest.raises(NotAnEventLogError, match="is not an envelope"):
                EventLog(path, fsync="never")
            assert path.read_bytes() == before
            return
        log = EventLog(path, fsync="never")
        log.close()
        after = path.read_bytes()
        quarantined = b""
        for recovery in log.recovery:
            entries = Path(recovery.quarantine_path).read_text().splitlines()
            quarantined += b"".join(
                base64.b64decode(json.loads(entry)["data_b64"]) for entry in entries
            )
        assert after + quarantined == before  # moved, never dropped
        assert after.startswith(b"".join(lines))
        assert after == b"" or after.endswith(b"\n")


@given(valid_lines, st.data())
def test_corrupted_lines_are_reported_and_every_intact_line_still_read(
    lines: list[bytes], data: st.DataObject
) -> None:
    bad = data.draw(st.sets(st.integers(0, len(lines) - 1)))
    garbage = st.binary(max_size=60).map(lambda b: b"#" + b.replace(b"\n", b""))
    corrupted = [data.draw(garbage) + b"\n" if i in bad else line for i, line in enumerate(lines)]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "log.jsonl"
        path.write_bytes(b"".join(corrupted))
        records = list(read_log(path, dedup_window=None))
    assert [r.line_no for r in records] == list(range(1, len(lines) + 1))
    ids_seen: set[str] = set()
    for index, record in enumerate(records):
        if index in bad:
            assert failed(record)
            continue
        original = json.loads(lines[index])
        if original["id"] in ids_seen:
            assert record.result.failure().kind is ProblemKind.DUPLICATE_ID
        else:
            assert encode(record.result.unwrap()) == original
            ids_seen.add(original["id"])


@given(st.binary(max_size=500))
def test_the_reader_reports_but_never_raises_on_arbitrary_bytes(blob: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "log.jsonl"
        path.write_bytes(blob)
        records = list(read_log(path, max_line_bytes=64))
    if not blob:
        assert records[0].result.failure().kind is ProblemKind.EMPTY_FILE
    else:
        assert len(records) == blob.count(b"\n") + (0 if blob.endswith(b"\n") else 1)


# JSON that is well-formed, or nearly, but hostile to a parser: deep nesting, numbers too long
# for an int or a float, long strings; alone or put into a real envelope at any field.
hostile_values = st.one_of(
    st.integers(0, 5000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 6000).map(lambda n: b"9" * n),
    st.integers(1, 400).map(lambda n: b"-0." + b"0" * n + b"1"),
    st.sampled_from(
        [b"1e999", b"-1e999", b"1e-999", b"NaN", b"-Infinity", b"18446744073709551616"]
    ),
    st.integers(0, 3000).map(lambda n: b'"' + b"\\u00e9" * n + b'"'),
)


@given(valid_lines, st.data())
def test_hostile_values_anywhere_are_reported_line_by_line_never_raised(
    lines: list[bytes], data: st.DataObject
) -> None:
    spoiled = []
    for line in lines:
        value = data.draw(hostile_values)
        if data.draw(st.booleans()):
            spoiled.append(b'{"a":' + value + b"}\n")
            continue
        record = json.loads(line)
        field = data.draw(st.sampled_from(["at", "id", "type", "schema_version", "payload"]))
        text = json.dumps({**record, field: "\x00HOLE"}, sort_keys=True)
        spoiled.append(text.replace('"\\u0000HOLE"', value.decode()).encode() + b"\n")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "log.jsonl"
        path.write_bytes(b"".join(spoiled))
        records = list(read_log(path, dedup_window=None))
    assert [record.line_no for record in records] == list(range(1, len(lines) + 1))


FULL_DISK_CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    from selfplay_core.events import Tick, make_envelope
    from selfplay_shell import EventLog
    from selfplay_shell.eventlog import LogWriteError

    # A real short write: the kernel stops at the file-size limit mid-line (EFBIG).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (5000, 5000))
    log = EventLog(sys.argv[1], fsync="always")
    n = 0
    try:
        while True:
            log.append(make_envelope(Tick(at=float(n)), id=f"e{n}", at=float(n), source=""))
            n += 1
    except LogWriteError as error:
        print(n, error)
    log.close()
    """
)


def test_a_short_write_is_cut_back_so_no_torn_line_is_left_behind(tmp_path: Path) -> None:
    path = tmp_path / "full.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK_CHILD, str(path)],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        check=True,
    )
    written = int(done.stdout.split()[0])
    assert "File too large" in done.stdout
    data = path.read_bytes()
    assert 0 < len(data) <= 5000
    assert data.endswith(b"\n")  # the partial line was truncated away
    assert [e.id for e in envelopes(list(read_log(path)))] == [f"e{n}" for n in range(written)]
    log = EventLog(path)
    log.close()
    assert log.recovery == ()


def test_a_crash_between_manifest_and_new_segment_is_harmless(tmp_path: Path) -> None:
    # Rotation lists the new segment in the manifest first, then creates it: a crash in
    # between leaves a listed, missing, empty segment, which is neither an error to the
    # reader nor a problem for the next writer.
    path = tmp_path / "events.jsonl"
    with EventLog(path, max_segment_bytes=500) as log:
        log.extend(envelope(i) for i in range(8))
        segments = log.segments
    newest = segments[-1]
    newest.unlink()
    manifest = read_manifest(manifest_path_for(path))
    without_newest = attrs.evolve(
        manifest,
        segments=(
            *manifest.segments[:-2],
            attrs.evolve(manifest.segments[-2], closed=True),
            attrs.evolve(
                manifest.segments[-1],
                last_line=manifest.segments[-1].first_line - 1,
                bytes=0,
                first_id=None,
                first_at=None,
                last_id=None,
                last_at=None,
            ),
        ),
    )
    write_manifest(manifest_path_for(path), without_newest)
    kept = [e.id for e in envelopes(list(read_log(path)))]
    assert kept == [f"e{i}" for i in range(8)][: len(kept)]
    assert all(not failed(r) for r in read_log(path))
    with EventLog(path, max_segment_bytes=500) as log:
        assert log.recovery == ()
        log.append(envelope(100))
        assert log.segments[-1] == newest
    assert [e.id for e in envelopes(list(read_log(path)))] == [*kept, "e100"]


HASHSEED_CHILD = textwrap.dedent(
    """
    import sys
    from selfplay_core.configs import ALL_CONFIGS
    from selfplay_core.events import SourcesRefreshed, UnknownEvent, make_envelope
    from selfplay_shell import EventLog

    refresh = SourcesRefreshed(
        current_elos={str(key): 1500.0 + key.index for key in reversed(ALL_CONFIGS)},
        game_counts={str(key): 7 * key.index for key in ALL_CONFIGS},
    )
    odd = UnknownEvent(type="x", payload={"zeta": 1, "alpha": {"b": 2, "a": [3, "é"]}})
    with EventLog(sys.argv[1], fsync="never") as log:
        log.append(make_envelope(refresh, id="r", at=1.0, source="s"))
        log.append(make_envelope(odd, id="u", at=2.0, source="s"))
    """
)


@pytest.mark.slow  # takes seconds
def test_the_bytes_written_do_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    outputs = []
    for seed in ("0", "1", "4242"):
        path = tmp_path / f"seed{seed}.jsonl"
        subprocess.run(
            [sys.executable, "-c", HASHSEED_CHILD, str(path)],
            env={**os.environ, "PYTHONPATH": str(SRC), "PYTHONHASHSEED": seed},
            check=True,
        )
        outputs.append(path.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]
    assert "é".encode() in outputs[0]  # UTF-8, not \\u escapes


def test_long_numbers_are_read_exactly_and_an_over_long_one_is_a_bad_line() -> None:
    """The reader's own path (orjson for most lines) keeps a 30-digit count exact, where
    orjson alone would round it to a float (tests/replay/bad/long_numbers.jsonl)."""
    log = Path(__file__).resolve().parents[1] / "replay" / "bad" / "long_numbers.jsonl"
    records = list(read_log(log))
    assert [record.line_no for record in records] == [1, 2, 3, 4, 5, 6]
    assert isinstance(records[1].result, Failure)
    assert records[1].result.failure().reason.endswith("an integer too long to parse")
    refresh = records[3].result.unwrap().event
    counts = dict(refresh.game_counts)
    assert [(str(key), value) for key, value in counts.items()] == [
        ("hex8_2p", 123456789012345678901234567890)
    ]
    assert type(counts[next(iter(counts))]) is int
    assert records[4].result.unwrap().event.at == 5.0  # 5.000…01 rounds like float() does
