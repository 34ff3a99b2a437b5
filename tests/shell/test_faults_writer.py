"""Fault injection on the event-log writer: files that are not its logs, repeated ids, and a
disk that fills up at any point (append, rotation, manifest, recovery, close).

Every refusal is checked to leave the files byte-identical; every disk failure to lose no
record that was accepted, leave no temp file, release the lock and recover once space
returns.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_disk import Filler, small_disk, tree_digest
from returns.result import Failure, Success

from selfplay_core.codec import encode
from selfplay_core.events import Envelope, UnknownEvent, make_envelope
from selfplay_shell import EventLog, read_log
from selfplay_shell.eventlog import (
    LogWriteError,
    ManifestError,
    NotAnEventLogError,
    ProblemKind,
)
from selfplay_shell.eventlog.jsonline import dumps_line
from selfplay_shell.eventlog.manifest import manifest_path_for
from selfplay_shell.eventlog.recovery import quarantine_path_for


def envelope(i: int, size: int = 10) -> Envelope:
    event = UnknownEvent(type="thing", payload={"n": i, "pad": "x" * size})
    return make_envelope(event, id=f"e{i}", at=float(i), source="faults")


def log_bytes(count: int) -> bytes:
    return b"".join(dumps_line(encode(envelope(i))) for i in range(count))


def read_ids(path: Path) -> list[str]:
    records = list(read_log(path))
    problems = [r.result.failure() for r in records if isinstance(r.result, Failure)]
    assert problems == [], problems
    return [r.result.unwrap().id for r in records if isinstance(r.result, Success)]


# -- files that are not the writer's logs ----------------------------------------------------

FOREIGN = {
    "gzip'd log": gzip.compress(log_bytes(5)),
    "bzip2'd log": bz2.compress(log_bytes(5)),
    "xz'd log": lzma.compress(log_bytes(5)),
    "text": b"# my notes\nnothing to see\n",
    "csv": b"config,games\nhex8_2p,10\n",
    "binary": bytes(range(256)) * 4,
    "json array": b"[1, 2, 3]\n",
    "object without an id": b'{"name": "not an envelope"}\n' + log_bytes(2),
    "one unterminated foreign line": b"hello",
    "zeros": b"\0" * 4096,
}


@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_a_file_that_is_not_a_log_is_refused_and_left_byte_identical(
    tmp_path: Path, name: str
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(FOREIGN[name])
    before = tree_digest(tmp_path)
    for _ in range(2):  # the second try is refused the same way: no lock was left behind
        with pytest.raises(NotAnEventLogError) as raised:
            EventLog(path, max_segment_bytes=1000)
        assert raised.value.path == path
        assert str(path) in str(raised.value)
    assert tree_digest(tmp_path) == before  # no quarantine, no manifest, nothing appended


def test_a_gzip_log_is_refused_with_the_reason_and_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(gzip.compress(log_bytes(5)))
    with pytest.raises(NotAnEventLogError, match="gzip-compressed"):
        EventLog(path)
    assert read_ids(path) == [f"e{i}" for i in range(5)]


@pytest.mark.parametrize("target_kind", ["log", "other file", "missing"])
def test_a_symlink_at_the_log_path_is_refused_and_its_target_untouched(
    tmp_path: Path, target_kind: str
) -> None:
    target = tmp_path / "elsewhere" / "data.txt"
    target.parent.mkdir()
    if target_kind == "log":
        target.write_bytes(log_bytes(3) + b'{"at":3.0,"id":"to')  # even a torn tail
    elif target_kind == "other file":
        target.write_bytes(b"precious\nlast line without newline")
    path = tmp_path / "events.jsonl"
    path.symlink_to(target)
    before = tree_digest(tmp_path)
    with pytest.raises(NotAnEventLogError, match="symbolic link"):
        EventLog(path)
    assert tree_digest(tmp_path) == before
    assert target.exists() == (target_kind != "missing")  # a dangling link creates nothing


def test_links_beside_the_log_are_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    precious = tmp_path / "precious.txt"
    precious.write_bytes(b"keep me\n")
    # A quarantine file that is a link: recovery would append the torn tail to its target.
    path.write_bytes(log_bytes(3) + b'{"at":3.0,"id":"torn')
    quarantine_path_for(path).symlink_to(precious)
    before = tree_digest(tmp_path)
    with pytest.raises(NotAnEventLogError, match="symbolic link"):
        EventLog(path)
    assert tree_digest(tmp_path) == before
    quarantine_path_for(path).unlink()
    # A manifest that is a link.
    manifest_path_for(path).symlink_to(precious)
    before = tree_digest(tmp_path)
    with pytest.raises(NotAnEventLogError, match="symbolic link"):
        EventLog(path)
    assert tree_digest(tmp_path) == before


def test_a_directory_or_a_foreign_manifest_is_refused_creating_nothing(tmp_path: Path) -> None:
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(NotAnEventLogError, match="not a regular file"):
        EventLog(tmp_path / "dir.jsonl")
    path = tmp_path / "events.jsonl"
    manifest_path_for(path).write_text('{"something": "else"}\n')
    before = tree_digest(tmp_path)
    with pytest.raises(ManifestError):
        EventLog(path)
    assert tree_digest(tmp_path) == before
    assert not path.exists()


def test_a_torn_tail_is_not_cut_when_an_earlier_line_is_not_an_envelope(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(log_bytes(2) + b"some note someone added\n" + log_bytes(1)[:-5])
    before = tree_digest(tmp_path)
    with pytest.raises(NotAnEventLogError, match="line 3 is not an envelope"):
        EventLog(path)
    assert tree_digest(tmp_path) == before


def test_a_foreign_line_in_the_middle_with_a_sound_tail_still_opens(tmp_path: Path) -> None:
    # A line the reader reports (bit rot, a hand edit) does not make the log someone else's;
    # appending after a complete line damages nothing.
    path = tmp_path / "events.jsonl"
    path.write_bytes(log_bytes(2) + b"a hand-written note\n" + dumps_line(encode(envelope(5))))
    with EventLog(path) as log:
        log.append(envelope(7))
        assert log.recovery == ()
    kinds = [r.result.failure().kind for r in read_log(path) if isinstance(r.result, Failure)]
    assert kinds == [ProblemKind.INVALID_JSON]


def test_the_torn_first_write_of_a_new_log_is_recovered(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_bytes(log_bytes(1)[:17])  # `{"at":0.0,"id":"e` — the only line, cut short
    with EventLog(path) as log:
        assert len(log.recovery) == 1
        log.append(envelope(1))
    assert read_ids(path) == ["e1"]


# -- ids --------------------------------------------------------------------------------------


def test_a_repeated_id_is_refused_loudly_and_not_written(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        log.extend(envelope(i) for i in range(3))
        with pytest.raises(
            LogWriteError, match=r"id 'e1' is already in the log \(events.jsonl:2\)"
        ):
            log.append(envelope(1))
        with pytest.raises(LogWriteError, match="this batch"):
            log.extend([envelope(3), envelope(4), envelope(3)])
        assert log.appended == 3
    with EventLog(path) as log:  # after a restart the window is read back from the file
        with pytest.raises(LogWriteError, match="already in the log"):
            log.append(envelope(0))
        log.append(envelope(3))
    assert read_ids(path) == ["e0", "e1", "e2", "e3"]


def test_the_id_window_spans_rotated_segments_and_matches_the_readers(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventLog(path, max_segment_bytes=400) as log:
        log.extend(envelope(i) for i in range(12))
        assert len(log.segments) > 3
    with (
        EventLog(path, max_segment_bytes=400) as log,
        pytest.raises(LogWriteError, match=r"already in the log \(events.jsonl:1\)"),
    ):
        log.append(envelope(0))  # in the first segment, three rotations back
    with EventLog(path, max_segment_bytes=400, id_window=3) as log:
        log.append(envelope(0))  # outside a 3-id window: the reader's window agrees
    duplicates = [r for r in read_log(path, dedup_window=3) if isinstance(r.result, Failure)]
    assert duplicates == []


def test_the_highest_id_number_of_a_prefix(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    ids = ["run-1", "run-12", "run-3", "other-99", "run-x7", "runner-40", "run-" + "9" * 30]
    with EventLog(path, max_segment_bytes=300) as log:
        for n, ident in enumerate(ids):
            log.append(make_envelope(UnknownEvent("t", {}), id=ident, at=float(n), source=""))
        assert log.highest_id_number("run") == 12
        assert log.highest_id_number("other") == 99
        assert log.highest_id_number("none") == 0


# -- a full disk -------------------------------------------------------------------------------


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "disk") as mounted:
        yield mounted


def append_until_it_fails(log: EventLog, accepted: list[str]) -> None:
    for i in range(10_000):
        log.append(envelope(i, size=300))
        accepted.append(f"e{i}")


def no_temp_files(directory: Path) -> bool:
    return not [p for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_disk_full_on_append_loses_nothing_and_recovers(disk: Path) -> None:
    filler = Filler(disk)
    path = disk / "events.jsonl"
    accepted: list[str] = []
    with EventLog(path, fsync="always") as log:
        filler.fill(room=8192)
        with pytest.raises(LogWriteError, match="No space left") as raised:
            append_until_it_fails(log, accepted)
        assert "appending to" in str(raised.value)
        assert len(accepted) > 5
        assert read_ids(path) == accepted  # no partial line behind the accepted ones
        filler.free()
        log.append(envelope(len(accepted) + 1))  # space returned: the same writer goes on
        accepted.append(f"e{len(accepted) + 1}")
    assert read_ids(path) == accepted
    with EventLog(path) as log:  # the lock was released: reopening in this process works
        assert log.recovery == ()


@pytest.mark.slow
def test_disk_full_at_any_point_of_a_rotating_log(disk: Path) -> None:
    """Leave less and less room, so that the disk fills during an append, a rotation's
    manifest, the creation of a segment or the final manifest; after each failure free the
    disk and check that the writer goes on, nothing accepted is lost and no temp is left."""
    seen: set[str] = set()
    for trial, room in enumerate(range(0, 48 * 1024, 2048)):
        directory = disk / f"t{trial}"
        directory.mkdir()
        path = directory / "events.jsonl"
        filler = Filler(disk)
        accepted: list[str] = []
        log = EventLog(path, fsync="always", max_segment_bytes=1500)
        filler.fill(room=room)
        for i in range(400):
            try:
                log.append(envelope(i, size=40 + (i * 37) % 300))
            except LogWriteError as error:
                seen.add(_where(str(error)))
                break
            accepted.append(f"e{i}")
        assert no_temp_files(directory)
        try:
            log.close()
        except LogWriteError as error:  # the final manifest did not fit: lock released anyway
            seen.add(_where(str(error)))
        assert no_temp_files(directory)
        filler.free()
        with EventLog(path, fsync="always", max_segment_bytes=1500) as again:
            again.append(envelope(1000))
        assert read_ids(path) == [*accepted, "e1000"], f"room {room}"
        filler.path.unlink()
        for file in directory.iterdir():
            file.unlink()
        directory.rmdir()
    assert {"append", "manifest"} <= seen, seen


def _where(message: str) -> str:
    if "manifest" in message:
        return "manifest"
    if "appending" in message:
        return "append"
    return "segment" if "segment" in message else message


def test_reopening_on_a_still_full_disk_fails_cleanly_then_works(disk: Path) -> None:
    path = disk / "events.jsonl"
    with EventLog(path, max_segment_bytes=600) as log:
        log.extend(envelope(i) for i in range(10))
    filler = Filler(disk)
    filler.fill()
    before = tree_digest(disk)
    with pytest.raises(LogWriteError, match="manifest"):
        EventLog(path, max_segment_bytes=600)
    assert no_temp_files(disk)
    assert tree_digest(disk) == before
    filler.free()
    with EventLog(path, max_segment_bytes=600) as log:  # not LogBusyError: the lock is free
        log.append(envelope(10))
    assert read_ids(path) == [f"e{i}" for i in range(11)]


def test_recovery_on_a_full_disk_changes_nothing_until_space_returns(disk: Path) -> None:
    path = disk / "events.jsonl"
    path.write_bytes(log_bytes(4) + b'{"at":4.0,"id":"e4","pay')
    filler = Filler(disk)
    filler.fill()
    before = tree_digest(disk)
    with pytest.raises(LogWriteError, match="recovering the tail"):
        EventLog(path)
    assert tree_digest(disk) == before  # no half-written quarantine file, the tail still there
    filler.free()
    with EventLog(path) as log:
        assert len(log.recovery) == 1
    assert read_ids(path) == [f"e{i}" for i in range(4)]


def test_close_on_a_full_disk_releases_the_lock(disk: Path) -> None:
    path = disk / "events.jsonl"
    log = EventLog(path, max_segment_bytes=10_000)
    log.extend(envelope(i) for i in range(5))
    filler = Filler(disk)
    filler.fill()
    with pytest.raises(LogWriteError, match="manifest"):
        log.close()
    assert log.closed
    assert no_temp_files(disk)
    filler.free()
    with EventLog(path, max_segment_bytes=10_000) as again:
        again.append(envelope(5))
    assert read_ids(path) == [f"e{i}" for i in range(6)]
