"""Every broken log in `tests/replay/bad/` yields exactly its expected report.

Each case is `<name>.jsonl` (or `.jsonl.gz`) with `<name>.expected.json`: one entry per
line read (`line`, or `lines: [first, last]` for a run of good lines of one type), each
either good (`type`, optional `warnings`) or a problem (`kind`, `field_path`, `detail`,
and a `reason` that must appear in the reported reason). `strict_stops_at_line` is where
`read_log(strict=True)` must raise (null: it reads to the end). The 50 MB case is
generated at runtime rather than committed.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from returns.result import Failure

from selfplay_core.codec import encode
from selfplay_core.events import Tick, make_envelope
from selfplay_shell.eventlog import LogError, LogRecord, read_log
from selfplay_shell.eventlog.jsonline import dumps_line

BAD = Path(__file__).parent / "bad"
FIFTY_MIB = 50 * 1024 * 1024


def tick_line(i: int) -> bytes:
    return dumps_line(encode(make_envelope(Tick(at=float(i)), id=f"t{i}", at=float(i), source="")))


def make_long_line_log(directory: Path) -> Path:
    """good line, a 50 MiB line that would decode if it were allowed, good line."""
    path = directory / "long_line_50mb.jsonl"
    head = b'{"at":2.0,"id":"big","payload":{"at":2.0,"pad":"'
    tail = b'"},"schema_version":1,"source":"","type":"tick"}'
    pad = FIFTY_MIB - len(head) - len(tail)
    with path.open("wb") as out:
        out.write(tick_line(1))
        out.write(head)
        block = b"x" * (1024 * 1024)
        for _ in range(pad // len(block)):
            out.write(block)
        out.write(b"x" * (pad % len(block)))
        out.write(tail + b"\n")
        out.write(tick_line(3))
    assert path.stat().st_size == len(tick_line(1)) + FIFTY_MIB + 1 + len(tick_line(3))
    return path


GENERATED = {"long_line_50mb": make_long_line_log}


def cases() -> list[str]:
    return sorted(p.name.removesuffix(".expected.json") for p in BAD.glob("*.expected.json"))


def input_for(name: str, tmp_path: Path) -> Path:
    if name in GENERATED:
        return GENERATED[name](tmp_path)
    for suffix in (".jsonl", ".jsonl.gz"):
        if (BAD / f"{name}{suffix}").exists():
            return BAD / f"{name}{suffix}"
    raise AssertionError(f"no input for {name}")


def report(records: list[LogRecord], directory: Path) -> list[dict[str, Any]]:
    """The reader's output in the expected files' shape (paths made relative)."""
    prefix = f"{directory}/"
    out: list[dict[str, Any]] = []
    for record in records:
        entry: dict[str, Any] = {"line": record.line_no}
        if isinstance(record.result, Failure):
            problem = record.result.failure()
            entry |= {
                "ok": False,
                "kind": problem.kind.value,
                "field_path": problem.field_path,
                "detail": problem.detail,
                "reason": problem.reason.replace(prefix, ""),
            }
        else:
            entry |= {"ok": True, "type": record.result.unwrap().type}
            if record.warnings:
                entry["warnings"] = [
                    {"kind": w.kind.value, "field_path": w.field_path, "reason": w.reason}
                    for w in record.warnings
                ]
                for warning in entry["warnings"]:
                    warning["reason"] = warning["reason"].replace(prefix, "")
        out.append(entry)
    return out


def expand(expected: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in expected:
        if "lines" in entry:
            first, last = entry["lines"]
            rest = {k: v for k, v in entry.items() if k != "lines"}
            out.extend({"line": n, **rest} for n in range(first, last + 1))
        else:
            out.append(entry)
    return out


def reasons_match(actual: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Everything equal, except that an expected reason need only appear in the actual one."""
    if actual.keys() != expected.keys():
        return False
    for key, want in expected.items():
        got = actual[key]
        if key == "reason":
            if want not in got:
                return False
        elif key == "warnings":
            if len(got) != len(want) or not all(
                reasons_match(g, w) for g, w in zip(got, want, strict=True)
            ):
                return False
        elif got != want:
            return False
    return True


def test_every_input_has_an_expected_report() -> None:
    inputs = {p.name.removesuffix(".gz").removesuffix(".jsonl") for p in BAD.glob("*.jsonl*")}
    assert inputs | set(GENERATED) == set(cases())


@pytest.mark.parametrize("name", cases())
def test_bad_log_yields_its_expected_report(name: str, tmp_path: Path) -> None:
    expected = json.loads((BAD / f"{name}.expected.json").read_text(encoding="utf-8"))
    path = input_for(name, tmp_path)
    actual = report(list(read_log(path)), path.parent)
    want = expand(expected["records"])
    assert [a["line"] for a in actual] == [w["line"] for w in want]
    for got, wanted in zip(actual, want, strict=True):
        assert reasons_match(got, wanted), (got, wanted)


@pytest.mark.parametrize("name", cases())
def test_strict_stops_at_the_first_error(name: str, tmp_path: Path) -> None:
    expected = json.loads((BAD / f"{name}.expected.json").read_text(encoding="utf-8"))
    path = input_for(name, tmp_path)
    stop = expected["strict_stops_at_line"]
    good_before = sum(
        1
        for entry in expand(expected["records"])
        if entry["ok"] and (stop is None or entry["line"] < stop)
    )
    seen = []
    records = read_log(path, strict=True)
    if stop is None:
        seen = list(records)
    else:
        with pytest.raises(LogError) as raised:
            seen.extend(records)
        assert raised.value.problem.line_no == stop
    assert len(seen) == good_before


def test_a_50mb_line_costs_a_bounded_buffer_not_50mb(tmp_path: Path) -> None:
    path = make_long_line_log(tmp_path)
    tracemalloc.start()
    try:
        records = list(read_log(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r.line_no for r in records] == [1, 2, 3]
    assert peak < 12 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB while reading a 50 MiB line"
