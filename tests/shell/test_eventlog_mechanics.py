"""The codec-free mechanics of the event log: bounded lines, strict JSON, manifest, recovery."""

from __future__ import annotations

import base64
import gzip
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfplay_shell.eventlog.jsonline import (
    _STRICT,
    NonFiniteNumberError,
    dumps_line,
    find_non_finite,
    needs_stdlib,
    parse_line,
    parse_line_bytes,
)
from selfplay_shell.eventlog.lines import PREVIEW_BYTES, LineFlaw, iter_raw_lines, opened
from selfplay_shell.eventlog.manifest import (
    Manifest,
    ManifestError,
    SegmentInfo,
    manifest_path_for,
    read_manifest,
    segment_path,
    write_manifest,
)
from selfplay_shell.eventlog.recovery import quarantine_path_for, recover_tail

# -- bounded lines ------------------------------------------------------------------------

line_bodies = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"x"))


@given(st.lists(line_bodies, max_size=20), st.integers(min_value=1, max_value=30), st.booleans())
def test_raw_lines_match_split_and_cap_long_ones(
    bodies: list[bytes], limit: int, final_newline: bool
) -> None:
    data = b"\n".join(bodies) + (b"\n" if final_newline and bodies else b"")
    got = list(iter_raw_lines(io.BytesIO(data), limit))
    expected = data.split(b"\n")
    if expected[-1] == b"":
        expected.pop()
    assert [line_no for line_no, *_ in got] == list(range(1, len(expected) + 1))
    for (_, head, flaw, length), body in zip(got, expected, strict=True):
        assert length == len(body)
        if len(body) > limit:
            assert flaw is LineFlaw.TOO_LONG
            assert body.startswith(head)
            assert 0 < len(head) <= PREVIEW_BYTES
        else:
            assert head == body
            assert flaw in (None, LineFlaw.NO_NEWLINE)
    if data and not data.endswith(b"\n") and len(expected[-1]) <= limit:
        assert got[-1][2] is LineFlaw.NO_NEWLINE


def test_an_over_long_line_is_skipped_and_the_next_line_still_read() -> None:
    data = b"a\n" + b"x" * 5_000_000 + b"\nb\n"
    got = list(iter_raw_lines(io.BytesIO(data), 1000))
    assert got[0] == (1, b"a", None, 1)
    assert got[1][0] == 2
    assert got[1][2] is LineFlaw.TOO_LONG
    assert got[1][3] == 5_000_000
    assert got[1][1] == b"x" * PREVIEW_BYTES
    assert got[2] == (3, b"b", None, 1)


def test_opened_reads_gzip_by_magic_number_whatever_the_name(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"  # no .gz suffix on purpose
    path.write_bytes(gzip.compress(b'{"a":1}\n{"b":2}\n'))
    with opened(path) as stream:
        assert [data for _, data, _, _ in iter_raw_lines(stream)] == [b'{"a":1}', b'{"b":2}']


# -- strict JSON ----------------------------------------------------------------------------


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_constants_are_rejected_with_their_path(constant: str) -> None:
    text = f'{{"id":"x","event":{{"elos":[1.0,{{"hex8_2p":{constant}}}]}}}}'
    with pytest.raises(NonFiniteNumberError):
        parse_line(text)
    assert find_non_finite(text) == ("event.elos.1.hex8_2p", constant)


def test_dumps_line_is_compact_sorted_utf8_and_refuses_nan() -> None:
    assert dumps_line({"b": 1, "a": "é"}) == '{"a":"é","b":1}\n'.encode()
    with pytest.raises(ValueError, match="Out of range"):
        dumps_line({"a": float("nan")})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _stdlib_line(value: object) -> bytes:
    text = json.dumps(
        value, separators=(",", ":"), sort_keys=True, allow_nan=False, ensure_ascii=False
    )
    return (text + "\n").encode("utf-8")


def _outcome(encode: Callable[[Any], bytes], value: object) -> object:
    try:
        return encode(value)
    except (TypeError, ValueError) as error:
        return type(error)


# Every float orjson writes differently (decimal exponents -5 to -9), the non-finite ones it
# writes as null, integers past its 64 bits, lone surrogates, and text that merely looks like
# one of those marks ("null", "0.00001", "1e-7" inside a string).
_tricky_floats = (
    st.floats()
    | st.sampled_from([1e-5, 2.5e-7, -9.99e-9, 1.5e-6, 1e-4, 1e-10, 1e16, 1.5e16, -0.0, 5e-324])
    | st.sampled_from([math.nan, math.inf, -math.inf])
)
_tricky_text = st.text() | st.sampled_from(
    ["null", "0.00001", "1e-7", "node-6", "2.5e-07", "lone \udc80 surrogate"]
)
_tricky_leaf = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(2**63 - 2, 2**64 + 2).map(lambda n: n * (-1) ** n)
    | _tricky_floats
    | _tricky_text
)
_tricky_json = st.recursive(
    _tricky_leaf,
    lambda inner: (
        st.lists(inner, max_size=4).map(tuple)
        | st.lists(inner, max_size=4)
        | st.dictionaries(_tricky_text, inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_tricky_text, _tricky_leaf)
def test_dumps_line_writes_each_value_as_the_stdlib_encoder(key: str, value: object) -> None:
    """orjson writes the line only where it gives the stdlib's bytes; every other value gets
    the stdlib's own bytes, or its own error."""
    assert _outcome(dumps_line, {key: value}) == _outcome(_stdlib_line, {key: value})


@given(st.dictionaries(_tricky_text, _tricky_json, max_size=6))
def test_dumps_line_writes_nested_data_as_the_stdlib_encoder(value: dict[str, object]) -> None:
    assert _outcome(dumps_line, value) == _outcome(_stdlib_line, value)


@pytest.mark.parametrize(
    "value", [1e-5, -2.5e-7, 9.99e-9, 1.5e-6, float("nan"), float("inf"), 2**64, "\ud800", None]
)
def test_dumps_line_agrees_where_orjson_would_not(value: object) -> None:
    assert _outcome(dumps_line, {"v": value}) == _outcome(_stdlib_line, {"v": value})


@given(st.dictionaries(st.text(), json_values, max_size=6))
def test_dumps_then_parse_round_trips_and_is_one_line(value: dict[str, object]) -> None:
    line = dumps_line(value)
    assert line.count(b"\n") == 1
    assert line.endswith(b"\n")
    assert parse_line(line.decode("utf-8")) == value
    assert dumps_line(parse_line(line.decode("utf-8"))) == line


# -- manifest -------------------------------------------------------------------------------


def test_segment_names() -> None:
    base = Path("/logs/events.jsonl")
    assert segment_path(base, 0) == base
    assert segment_path(base, 3) == Path("/logs/events.000003.jsonl")
    assert manifest_path_for(base) == Path("/logs/events.jsonl.manifest.json")


def test_manifest_round_trips_and_leaves_no_temp_file(tmp_path: Path) -> None:
    manifest = Manifest(
        (
            SegmentInfo("e.jsonl", 1, 10, 999, "a", 1.0, "j", 10.0, closed=True),
            SegmentInfo("e.000001.jsonl", 11, 10),
        )
    )
    path = tmp_path / "e.jsonl.manifest.json"
    write_manifest(path, manifest)
    assert read_manifest(path) == manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.jsonl.manifest.json"]
    assert json.loads(path.read_text())["segments"][1]["records"] == 0


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"format":"other"}',
        '{"format":"selfplay-eventlog-manifest","version":99,"segments":[]}',
        '{"format":"selfplay-eventlog-manifest","version":1,"segments":[{"file":"../x"'
        ',"first_line":1,"last_line":0}]}',
        '{"format":"selfplay-eventlog-manifest","version":1,"segments":[{"first_line":1}]}',
        "[" * 5000 + "]" * 5000,
        '{"format":' + "9" * 5000 + "}",
    ],
)
def test_bad_manifests_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "m.manifest.json"
    path.write_text(text)
    with pytest.raises(ManifestError):
        read_manifest(path)


# -- torn-tail recovery ---------------------------------------------------------------------


def _quarantined_bytes(path: Path) -> bytes:
    entries = [json.loads(line) for line in quarantine_path_for(path).read_text().splitlines()]
    return b"".join(base64.b64decode(entry["data_b64"]) for entry in entries)


complete_lines = st.lists(
    st.dictionaries(st.sampled_from("abc"), st.integers(), max_size=2).map(dumps_line), max_size=6
)


@given(complete_lines, st.binary(min_size=1, max_size=50).map(lambda b: b.replace(b"\n", b"")))
def test_a_torn_tail_is_quarantined_byte_for_byte(lines: list[bytes], fragment: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "log.jsonl"
        path.write_bytes(b"".join(lines) + fragment)
        recovery = recover_tail(path, durable=False)
        if not fragment:
            assert recovery is None
            return
        assert recovery is not None
        assert path.read_bytes() == b"".join(lines)
        assert _quarantined_bytes(path) == fragment
        assert recovery.line_no == len(lines) + 1
        assert recovery.offset == len(b"".join(lines))
        assert recovery.length == len(fragment)
        assert recover_tail(path, durable=False) is None  # idempotent


@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        (b"\x00\x00\x00\x00\n", "invalid JSON"),
        (b"\xff\xfe garbage\n", "invalid UTF-8"),
        (b'{"a":NaN}\n', "non-finite"),
        (b"[1,2]\n", "not a JSON object"),
    ],
)
def test_a_corrupt_complete_last_line_is_quarantined(
    tmp_path: Path, tail: bytes, reason: str
) -> None:
    path = tmp_path / "log.jsonl"
    path.write_bytes(b'{"a":1}\n{"a":2}\n' + tail)
    recovery = recover_tail(path)
    assert recovery is not None
    assert reason in recovery.reason
    assert recovery.line_no == 3
    assert path.read_bytes() == b'{"a":1}\n{"a":2}\n'
    assert _quarantined_bytes(path) == tail


def test_a_clean_log_and_an_empty_one_are_left_alone(tmp_path: Path) -> None:
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(b'{"a":1}\n')
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert recover_tail(clean) is None
    assert recover_tail(empty) is None
    assert recover_tail(tmp_path / "missing.jsonl") is None
    assert clean.read_bytes() == b'{"a":1}\n'
    assert not quarantine_path_for(clean).exists()


def test_a_large_torn_tail_is_quarantined_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    fragment = b'{"a":"' + b"y" * 3_000_000
    path.write_bytes(b'{"a":1}\n' + fragment)
    recovery = recover_tail(path)
    assert recovery is not None
    assert recovery.length == len(fragment)
    assert _quarantined_bytes(path) == fragment
    assert len(quarantine_path_for(path).read_text().splitlines()) == 3


def _outcome(parse: object, text: str) -> tuple[str, object]:
    assert callable(parse)
    try:
        return "ok", parse(text)
    except ValueError as error:
        return "error", type(error).__name__


json_texts = st.one_of(
    st.builds(json.dumps, json_values),
    st.builds(
        lambda v, pad: pad[0] + json.dumps(v) + pad[1],
        json_values,
        st.tuples(
            st.sampled_from(["", " ", "\t", "\n"]),
            st.sampled_from(["", "\n", "\r\n", "  \n", " x", "}", "\u2028"]),
        ),
    ),
    st.text(max_size=20),
)


@given(json_texts)
def test_parse_line_fast_path_agrees_with_the_full_decoder(text: str) -> None:
    assert _outcome(parse_line, text) == _outcome(_STRICT.decode, text)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ('{"a":1}\n', True),
        ('{"a":1}\r\n', True),
        (' {"a":1}', True),
        ('{"a":1} x', False),
        ('{"a":1}{"b":2}', False),
        ('{"a":1}\u2028', False),
        ("", False),
    ],
)
def test_parse_line_edges(text: str, ok: bool) -> None:
    if ok:
        assert parse_line(text) == {"a": 1}
    else:
        with pytest.raises(json.JSONDecodeError):
            parse_line(text)


# -- orjson where it agrees with the stdlib ----------------------------------------------------


def _typed(value: object) -> object:
    """`value` with every scalar's type made part of it (1 vs 1.0 vs True, 0.0 vs -0.0)."""
    if isinstance(value, dict):
        return ("dict", [(key, _typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [_typed(item) for item in value])
    return (type(value).__name__, repr(value))


def _bytes_outcome(parse: object, line: bytes) -> tuple[str, object]:
    assert callable(parse)
    try:
        return "ok", _typed(parse(line))
    except ValueError as error:  # JSONDecodeError, NonFiniteNumberError, UnicodeDecodeError
        return "error", (type(error).__name__, str(error))


def _stdlib(line: bytes) -> object:
    return parse_line(line.decode("utf-8"))


numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).map(str),
).map(lambda n: n if isinstance(n, str) else json.dumps(n))

line_bytes = st.one_of(
    st.builds(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8"), json_values),
    st.builds(lambda n: b'{"n":' + n.encode() + b"}\n", numbers),
    json_texts.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(max_size=30),
    # a valid line with one byte replaced: the texts near valid ones
    st.builds(
        lambda v, at, byte: _replace_byte(json.dumps(v).encode(), at, byte),
        json_values,
        st.integers(min_value=0, max_value=200),
        st.integers(min_value=0, max_value=255),
    ),
)


def _replace_byte(data: bytes, at: int, byte: int) -> bytes:
    if not data:
        return data
    at %= len(data)
    return data[:at] + bytes([byte]) + data[at + 1 :]


@given(line_bytes)
def test_parse_line_bytes_gives_the_stdlib_value_or_error_type_for_type(line: bytes) -> None:
    assert _bytes_outcome(parse_line_bytes, line) == _bytes_outcome(_stdlib, line)


@pytest.mark.parametrize(
    "line",
    [
        b'{"n":18446744073709551615}\n',  # 2**64 - 1: orjson exact
        b'{"n":18446744073709551616}\n',  # 2**64: orjson would give a float
        b'{"n":-9223372036854775808}\n',  # -2**63: orjson exact
        b'{"n":-9223372036854775809}\n',
        b'{"n":123456789012345678901234567890}\n',
        b'{"n":0.1000000000000000055511151231257827}\n',
        b'{"n":2.2250738585072011e-308}\n',
        b'{"n":1e400}\n',
        b'{"n":-0}\n',
        b'{"n":-0.0}\n',
        b'{"n":NaN}\n',
        b'{"s":"\\ud800"}\n',
        b'{"s":"\xed\xa0\x80"}\n',
        b'{"s":"\xff"}\n',
        b'{"s":"a\tb"}\n',
        b'\xef\xbb\xbf{"a":1}\n',
        b'{"a":1,"a":2}\n',
        b'{"a":1} \r\n',
        b'{"a":1} x\n',
        b"[" * 2000 + b"]" * 2000 + b"\n",
    ],
)
def test_parse_line_bytes_edges_match_the_stdlib(line: bytes) -> None:
    assert _bytes_outcome(parse_line_bytes, line) == _bytes_outcome(_stdlib, line)


def test_a_long_digit_run_is_left_to_the_stdlib() -> None:
    assert needs_stdlib(b'{"n":-1234567890123456789}')
    assert not needs_stdlib(b'{"n":123456789012345678,"m":0.123456789012345678}')
    assert parse_line_bytes(b'{"n":123456789012345678901234567890}') == {
        "n": 123456789012345678901234567890
    }
