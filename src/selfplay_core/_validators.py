"""The one family of attrs validators every core value uses, and the typed problems they raise.

A problem is a `FieldProblem` (a `ValueError`; `WrongType` is also a `TypeError`) whose message
reads ``"<field>: <detail>"`` and whose class says the machine-readable kind, so the codec names
the problem without parsing messages and the policy loader places a message on its field.
Each check is defined here once; modules import the ones they need.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Final

import attrs


class FieldProblem(ValueError):
    """A field value rejected at construction; `problem` is a stable machine-readable kind."""

    problem: ClassVar[str] = "invalid"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


class WrongType(FieldProblem, TypeError):
    problem = "wrong_type"


class NotFinite(FieldProblem):
    problem = "not_finite"


class Negative(FieldProblem):
    problem = "negative"


class Empty(FieldProblem):
    problem = "empty"


class NotUtf8(FieldProblem):
    """A string the UTF-8 log cannot write (a lone surrogate)."""

    problem = "not_utf8"


Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def finite(_inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    """A real number (int or float, not bool), not NaN or ±inf."""
    kind = type(value)
    if kind is float:
        if value - value == 0.0:  # type: ignore[operator]  # false for NaN and ±inf
            return
        raise NotFinite(attribute.name, f"must be finite, got {value!r}")
    if kind is int:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WrongType(attribute.name, f"expected a number, got {kind.__name__}")
    if not math.isfinite(value):  # a float or int subclass
        raise NotFinite(attribute.name, f"must be finite, got {value!r}")


optional_finite: Final[Validator] = attrs.validators.optional(finite)
"""None, or what `finite` accepts."""


def non_negative(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is float and 0.0 <= value < math.inf:  # the common case, one comparison
        return
    finite(inst, attribute, value)
    if value < 0:  # type: ignore[operator]
        raise Negative(attribute.name, f"must not be negative, got {value!r}")


def count(_inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    """An integer (not bool) ≥ 0."""
    if type(value) is not int and (isinstance(value, bool) or not isinstance(value, int)):
        raise WrongType(attribute.name, f"expected an integer, got {type(value).__name__}")
    if value < 0:
        raise Negative(attribute.name, f"must not be negative, got {value!r}")


def all_plain_counts(values: Iterable[object]) -> bool:
    """Whether every value is a plain int ≥ 0: what `count` accepts, decided without a call per
    value (a validator over many counts runs `count` only when this says no, for its message;
    an int subclass other than bool is then accepted there)."""
    for value in values:  # noqa: SIM110 - a loop: cheaper than all() over a generator here
        if type(value) is not int or value < 0:
            return False
    return True


optional_count: Final[Validator] = attrs.validators.optional(count)
optional_non_negative: Final[Validator] = attrs.validators.optional(non_negative)
"""None, or what `count` accepts."""


def check_utf8(field: str, value: str) -> None:
    """Raise `NotUtf8` for a string UTF-8 cannot encode (what the log could not write)."""
    if value.isascii():
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NotUtf8(field, f"not encodable as UTF-8 ({exc.reason} at {exc.start})") from None


def text(_inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    """A string the log can write."""
    if type(value) is not str:
        raise WrongType(attribute.name, f"expected a string, got {type(value).__name__}")
    if not value.isascii():  # ASCII always encodes; only the rest needs the full check
        check_utf8(attribute.name, value)


optional_text: Final[Validator] = attrs.validators.optional(text)
"""None, or what `text` accepts."""


def non_empty_text(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    """A non-empty string the log can write (ids, node names)."""
    if type(value) is str and value and value.isascii():  # the common case
        return
    text(inst, attribute, value)
    if not value:
        raise Empty(attribute.name, "must not be empty")


def optional_bool(_inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and type(value) is not bool:
        raise WrongType(attribute.name, f"expected true/false, got {type(value).__name__}")


class EachValue:
    """Validator: `check` every value of a mapping (None passes); a problem names the key too.
    A class, not a closure, so test strategies can see which check it applies."""

    __slots__ = ("check",)

    def __init__(self, check: Validator) -> None:
        self.check = check

    def __call__(self, inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        check = self.check
        for key, val in value.items():
            try:
                check(inst, attribute, val)
            except FieldProblem as exc:
                # "name" → "name.key"; a nested EachValue's "name.inner" → "name.key.inner"
                where = f"{attribute.name}.{key}{exc.field[len(attribute.name) :]}"
                raise type(exc)(where, exc.detail) from None


__all__ = [
    "EachValue",
    "Empty",
    "FieldProblem",
    "Negative",
    "NotFinite",
    "NotUtf8",
    "WrongType",
    "all_plain_counts",
    "check_utf8",
    "count",
    "finite",
    "non_empty_text",
    "non_negative",
    "optional_bool",
    "optional_count",
    "optional_finite",
    "optional_non_negative",
    "optional_text",
    "text",
]
