"""One log line <-> one JSON object: compact, deterministic, strictly finite.

Python's json accepts NaN/Infinity by default; a log line holding them is rejected
here (`parse_constant`), with the field path of the first one.

Reading is the replay's hot path, so `parse_line_bytes` lets orjson (about 5x faster than
the stdlib scanner on a log line) parse the lines where the two cannot disagree, and sends
every other line, and every line orjson refuses, to the stdlib: the value is always the one
`parse_line` gives, and errors are always the stdlib's (see `parse_line_bytes`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson

__all__ = [
    "MAX_NESTING",
    "NonFiniteNumberError",
    "checked_nesting",
    "dumps_line",
    "find_non_finite",
    "needs_stdlib",
    "parse_line",
    "parse_line_bytes",
]


class NonFiniteNumberError(ValueError):
    """A JSON text used NaN, Infinity or -Infinity."""

    def __init__(self, constant: str) -> None:
        super().__init__(f"non-finite number {constant} is not allowed")
        self.constant = constant


def _reject_constant(constant: str) -> Any:
    raise NonFiniteNumberError(constant)


class _NonFinite:
    """Marks where a non-finite constant sat, for `find_non_finite`."""

    __slots__ = ("constant",)

    def __init__(self, constant: str) -> None:
        self.constant = constant


#: The deepest nesting of arrays and objects any JSON text we read may have: orjson's limit.
#: The stdlib parser's own limit depends on the interpreter (about 1,000 levels of Python
#: recursion on 3.11, the C stack on 3.12+), so the rule is stated here, once, for all.
MAX_NESTING: Final = 1024
_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET: Final = re.compile(r"[\[\]{}]")


def checked_nesting(text: str) -> str:
    """`text`, or `RecursionError` when it nests arrays and objects deeper than
    `MAX_NESTING` (what the stdlib raises itself when its recursion runs out, so callers
    handle both the same way). Texts with fewer brackets than the limit skip the scan."""
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return text
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub("", text)):
        depth += 1 if bracket.group() in "[{" else -1
        if depth > MAX_NESTING:
            raise RecursionError(f"nested deeper than {MAX_NESTING} levels")
    return text


# One decoder, built once: `json.loads(..., parse_constant=...)` would build one per call.
_STRICT = json.JSONDecoder(parse_constant=_reject_constant)
_MARKING = json.JSONDecoder(parse_constant=_NonFinite)
_ENCODER = json.JSONEncoder(
    separators=(",", ":"), sort_keys=True, allow_nan=False, ensure_ascii=False
)


# Set by JSONDecoder.__init__ (the C scanner when available); typeshed does not declare it.
_SCAN: Callable[[str, int], tuple[Any, int]] = _STRICT.scan_once  # type: ignore[attr-defined]


def parse_line(text: str) -> Any:
    """Parse one line's JSON; raises `json.JSONDecodeError` (also for nesting too deep for
    the parser's recursion, and for an integer past the interpreter's digit limit) or
    `NonFiniteNumberError`.

    Calls the C scanner directly for the usual `{...}\n` line, skipping the two regex
    whitespace matches `JSONDecoder.decode` makes; anything else takes the full path,
    which also produces the proper error.
    """
    try:
        checked_nesting(text)
        try:
            value, end = _SCAN(text, 0)
        except StopIteration:
            return _STRICT.decode(text)
        rest = len(text) - end
        if rest == 0 or (rest == 1 and text[end] == "\n"):
            return value
        return _STRICT.decode(text)
    except RecursionError:
        # The stdlib parser recurses per nesting level: a hostile line is bad JSON, not a crash.
        raise json.JSONDecodeError("nesting too deep to parse", text, 0) from None
    except (json.JSONDecodeError, NonFiniteNumberError):
        raise
    except ValueError:
        # int() refuses integers past the interpreter's digit limit (4,300 by default).
        raise json.JSONDecodeError("an integer too long to parse", text, 0) from None


# orjson and the stdlib agree on every JSON text but one kind: an integer outside orjson's
# 64-bit range [-2**63, 2**64 - 1], which orjson turns into a float and the stdlib keeps exact.
# Such an integer has at least 19 digits in a row (2**63 has 19); so has any number that
# orjson might round differently from `float()`. A line with such a run goes to the stdlib.
# Finding it costs two C calls: map every digit to "0" and everything else to " ", then look
# for nineteen "0"s. (The writer's floats have at most 17 significant digits.)
_DIGITS_ONLY: bytes = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_DIGIT_RUN: bytes = b"0" * 19


def needs_stdlib(line: bytes) -> bool:
    """Whether `line` holds a run of 19 or more digits (orjson would not parse it exactly)."""
    return _LONG_DIGIT_RUN in line.translate(_DIGITS_ONLY)


def parse_line_bytes(line: bytes) -> Any:
    """`parse_line(line.decode("utf-8"))`: the same value, or the same exception.

    orjson parses the line when `needs_stdlib` says it may. It refuses everything the stdlib
    refuses here (invalid UTF-8, NaN/Infinity, numbers that overflow to infinity, lone
    surrogates, control characters in strings, trailing garbage) and then the stdlib parses
    again, to raise its own error; it also refuses a text the stdlib takes (nesting deeper
    than 1,024), which the stdlib then parses. A property test holds the
    two to the same value, type for type.
    """
    if not needs_stdlib(line):
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            pass
    return parse_line(line.decode("utf-8"))


# Writing: orjson writes JSON data the way `_ENCODER` does, byte for byte (a property test
# holds the two together), about nine times faster, except where it refuses the value
# (`JSONEncodeError`: an integer past 64 bits, a lone surrogate, a key that is not a str,
# nesting past 255 levels, a subclass of a builtin type) or where its output shows it differs:
# - NaN and ±Infinity, which it writes as `null` where the stdlib refuses them;
# - a float whose decimal exponent is -5 to -9, which it writes `0.00001` or `2.5e-7` where
#   the stdlib writes `1e-05` or `2.5e-07`.
# A value it refuses, or whose output holds one of those marks (even inside a string, which
# only costs the second encoding), is written by the stdlib: the bytes are always its bytes.
_ORJSON_LINE: Final = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_APPEND_NEWLINE
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
# Each mark has its own pattern, starting with a literal the regex engine finds quickly (one
# alternation of the three scans the line several times slower); the exponent's digit before
# `e-` is checked last, by a lookbehind, so that `node-7` is not taken for `2.5e-7`.
_NULL: Final = re.compile(rb"null").search
_TINY_DECIMAL: Final = re.compile(rb"0\.0000").search
_SMALL_EXPONENT: Final = re.compile(rb"e-[5-9](?![0-9])(?<=[0-9]e-[5-9])").search


def _orjson_may_differ(line: bytes) -> bool:
    return (
        _NULL(line) is not None
        or _TINY_DECIMAL(line) is not None
        or _SMALL_EXPONENT(line) is not None
    )


def dumps_line(obj: Mapping[str, Any]) -> bytes:
    """The canonical bytes of one log line, newline included: `obj` as compact JSON with
    sorted keys, UTF-8, finite numbers only (`ValueError` for NaN or Infinity, and for a lone
    surrogate; `TypeError` for what JSON cannot hold). `obj` is JSON data: dicts, lists,
    tuples, str, int, float, bool and None, as `codec.encode` returns (an enum member or a
    UUID, which no encoder of ours returns, would be written as its value)."""
    try:
        line = orjson.dumps(obj, option=_ORJSON_LINE)
    except orjson.JSONEncodeError:
        pass
    else:
        if not _orjson_may_differ(line):
            return line
    return (_ENCODER.encode(obj) + "\n").encode("utf-8")


def find_non_finite(text: str) -> tuple[str, str] | None:
    """(field path, constant) of the first NaN/Infinity in `text`, or None.

    Paths are dotted like the codec's (`payload.elos.1.hex8_2p`).

    Only called on the error path, so the second parse costs nothing in the common case.
    """
    try:
        value = _MARKING.decode(text)
    except (ValueError, RecursionError):
        return None
    return _first_marker(value, "")


def _first_marker(value: Any, path: str) -> tuple[str, str] | None:
    if isinstance(value, _NonFinite):
        return path, value.constant
    if isinstance(value, dict):
        # JSON object order, which is the line's order: the first one written.
        for key, item in value.items():
            found = _first_marker(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_marker(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None
