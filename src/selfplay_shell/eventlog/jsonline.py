"""One log line <-> one JSON object: compact, deterministic, strictly finite.

Python's json accepts NaN/Infinity by default; a log line holding them is rejected
here (`parse_constant`), with the field path of the first one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["NonFiniteNumberError", "dumps_line", "find_non_finite", "parse_line"]


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


# One decoder, built once: `json.loads(..., parse_constant=...)` would build one per call.
_STRICT = json.JSONDecoder(parse_constant=_reject_constant)
_MARKING = json.JSONDecoder(parse_constant=_NonFinite)
_ENCODER = json.JSONEncoder(
    separators=(",", ":"), sort_keys=True, allow_nan=False, ensure_ascii=False
)


# Set by JSONDecoder.__init__ (the C scanner when available); typeshed does not declare it.
_SCAN: Callable[[str, int], tuple[Any, int]] = _STRICT.scan_once  # type: ignore[attr-defined]


def parse_line(text: str) -> Any:
    """Parse one line's JSON; raises `json.JSONDecodeError` or `NonFiniteNumberError`.

    Calls the C scanner directly for the usual `{...}\n` line, skipping the two regex
    whitespace matches `JSONDecoder.decode` makes; anything else takes the full path,
    which also produces the proper error.
    """
    try:
        value, end = _SCAN(text, 0)
    except StopIteration:
        return _STRICT.decode(text)
    rest = len(text) - end
    if rest == 0 or (rest == 1 and text[end] == "\n"):
        return value
    return _STRICT.decode(text)


def dumps_line(obj: Mapping[str, Any]) -> bytes:
    """The canonical bytes of one log line, newline included."""
    return (_ENCODER.encode(obj) + "\n").encode("utf-8")


def find_non_finite(text: str) -> tuple[str, str] | None:
    """(field path, constant) of the first NaN/Infinity in `text`, or None.

    Paths are dotted like the codec's (`payload.elos.1.hex8_2p`).

    Only called on the error path, so the second parse costs nothing in the common case.
    """
    try:
        value = _MARKING.decode(text)
    except ValueError:
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
