"""attrs validators shared by every value: numbers are finite, counts are not negative."""

from __future__ import annotations

import math
from typing import Any

import attrs


def finite(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{attribute.name}: expected a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{attribute.name}: must be finite, got {value!r}")


def non_negative(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    finite(_inst, attribute, value)
    if value < 0:
        raise ValueError(f"{attribute.name}: must not be negative, got {value!r}")


def count(_inst: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name}: expected an integer, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{attribute.name}: must not be negative, got {value!r}")


def optional_finite(_inst: Any, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None:
        finite(_inst, attribute, value)
