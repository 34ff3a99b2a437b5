"""Policies as plain data and back: one cattrs converter, configured once.

`structure_policy` reads a mapping that gives any subset of the policy, down to one entry of
one table: it is laid over the reference policy's own mapping first, so everything it does not
name keeps the reference's value. Anything malformed is rejected with a `PolicyError` naming
the dotted path of the bad field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.errors import (
    BaseValidationError,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from selfplay_core.configs import ALL_CONFIGS, ConfigKey, ConfigKeyError
from selfplay_core.policy_groups import ConfigTable, FieldError, PlayerTable

__all__ = ["PolicyError", "overlay", "structure_policy", "unstructure_policy"]

_T = TypeVar("_T")


class PolicyError(ValueError):
    """A policy mapping was rejected. `path` is the dotted path of the (first) bad field."""

    def __init__(self, problems: tuple[tuple[str, str], ...]) -> None:
        self.problems = problems
        self.path, self.problem = problems[0]
        text = "; ".join(f"{path or '<policy>'}: {problem}" for path, problem in problems)
        super().__init__(text)


# --- the converter (configured once) -------------------------------------------------------------


def _structure_float(value: object, _type: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"must be finite, got {value!r}")
    return float(value)


def _structure_int(value: object, _type: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _structure_bool(value: object, _type: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected a boolean, got {type(value).__name__}")
    return value


def _structure_str(value: object, _type: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _structure_config_table(value: object, _type: object) -> ConfigTable:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping of config keys, got {type(value).__name__}")
    found: dict[ConfigKey, float] = {}
    for raw_key, raw in value.items():
        try:
            key = ConfigKey.parse(raw_key)
        except ConfigKeyError as exc:
            raise FieldError(str(raw_key), f"unknown config key: {exc}") from None
        try:
            found[key] = _structure_float(raw, float)
        except (TypeError, ValueError) as exc:
            raise FieldError(str(key), str(exc)) from None
    missing = [str(key) for key in ALL_CONFIGS if key not in found]
    if missing:
        raise FieldError(missing[0], "required config missing")
    return ConfigTable(tuple(found[key] for key in ALL_CONFIGS))


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(ConfigTable, _structure_config_table)
    conv.register_unstructure_hook(ConfigTable, lambda table: table.as_dict())
    conv.register_structure_hook(
        PlayerTable,
        _mapping_only(
            make_dict_structure_fn(
                PlayerTable,
                conv,
                p2=override(rename="2p"),
                p3=override(rename="3p"),
                p4=override(rename="4p"),
            )
        ),
    )
    conv.register_unstructure_hook(
        PlayerTable,
        make_dict_unstructure_fn(
            PlayerTable,
            conv,
            p2=override(rename="2p"),
            p3=override(rename="3p"),
            p4=override(rename="4p"),
        ),
    )

    def attrs_factory(cl: type[Any]) -> Callable[[object, object], Any]:
        return _mapping_only(make_dict_structure_fn(cl, conv))

    conv.register_structure_hook_factory(
        lambda t: attrs.has(t) and t not in (PlayerTable, ConfigTable), attrs_factory
    )
    return conv


def _mapping_only(fn: Callable[[Any, Any], _T]) -> Callable[[object, object], _T]:
    """A group must be a table/object; say so rather than let cattrs fail on iteration."""

    def structure(value: object, cl: object) -> _T:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected a mapping, got {type(value).__name__}")
        return fn(value, cl)

    return structure


_CONVERTER: Final = _make_converter()


# Attribute names whose mapping key differs (PlayerTable's "2p", "3p", "4p").
_EXTERNAL_NAMES: Final = {f"p{n}": f"{n}p" for n in (2, 3, 4)}


def _problems(exc: BaseException, path: str, cl: object = None) -> list[tuple[str, str]]:
    """Flatten cattrs' exception tree into (dotted path, problem) pairs.

    `cl` is the class being built at `path`: a validator message of the shared form
    ``"<field>: problem"`` (selfplay_core._validators) that names one of its fields is placed
    under that field.
    """
    if isinstance(exc, ClassValidationError | IterableValidationError):
        with_notes, without = exc.group_exceptions()
        found: list[tuple[str, str]] = []
        for sub, note in with_notes:
            name = getattr(note, "name", None)
            step = str(name) if name is not None else str(getattr(note, "index", "?"))
            step = _EXTERNAL_NAMES.get(step, step)
            found += _problems(sub, f"{path}.{step}" if path else step, getattr(note, "type", None))
        for sub in without:
            found += _problems(sub, path, getattr(exc, "cl", cl))
        return found
    if isinstance(exc, ForbiddenExtraKeysError):
        return [
            (f"{path}.{key}" if path else key, "unknown key") for key in sorted(exc.extra_fields)
        ]
    if isinstance(exc, FieldError) and exc.field is not None:
        field = _EXTERNAL_NAMES.get(exc.field, exc.field)
        return [(f"{path}.{field}" if path else field, str(exc))]
    if isinstance(exc, KeyError):
        return [(path, f"required field missing: {exc}")]
    text = str(exc)
    field, sep, problem = text.partition(": ")
    if sep and isinstance(cl, type) and attrs.has(cl) and field in attrs.fields_dict(cl):
        return [(f"{path}.{field}" if path else field, problem)]
    return [(path, text)]


def overlay(reference: object, given: object) -> object:
    """`given` laid over `reference`: where both are mappings, each key of `given` replaces (or,
    for a nested mapping, is laid over) the reference's entry and every other entry is kept;
    anywhere else `given` wins whole (a number, a list, or a value of the wrong shape, which
    the converter then rejects with its path). Neither argument is modified."""
    if not isinstance(reference, Mapping) or not isinstance(given, Mapping):
        return given
    merged = dict(reference)
    for key, value in given.items():
        merged[key] = overlay(reference[key], value) if key in reference else value
    return merged


def structure_policy(mapping: Mapping[str, Any], cls: type[_T], reference: Mapping[str, Any]) -> _T:
    """`mapping`, a subset of `cls`'s mapping form, laid over `reference` (the full mapping of
    the policy it changes) and structured into `cls`. Raises `PolicyError`."""
    if not isinstance(mapping, Mapping):
        raise PolicyError((("", f"expected a mapping, got {type(mapping).__name__}"),))
    try:
        return _CONVERTER.structure(overlay(reference, mapping), cls)
    except (BaseValidationError, TypeError, ValueError) as exc:
        problems = _problems(exc, "")
        raise PolicyError(tuple(problems) or (("", str(exc)),)) from exc


def unstructure_policy(policy: object) -> dict[str, Any]:
    """Plain data (string keys, numbers, lists); `structure_policy` reads it back."""
    result: dict[str, Any] = _CONVERTER.unstructure(policy)
    return result
