"""What every reader gets (`ReadContext`) and gives back (`Reading`)."""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

import attrs

from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_shell.sources.config import AccessorConfig, Anchors

T = TypeVar("T")
V = TypeVar("V")


@attrs.frozen
class ReadContext:
    """One read: where things are, the wall-clock `now` (epoch s), the monotonic `deadline`."""

    anchors: Anchors
    config: AccessorConfig
    now: float
    deadline: float


@attrs.frozen
class Reading(Generic[T]):
    """A reader's result: the value, plus problems that did not stop it (partial reads)."""

    value: T
    problems: tuple[str, ...] = ()


Reader = Callable[[ReadContext], Reading[T]]


def per_config(values: Mapping[ConfigKey, V], default: V) -> Mapping[ConfigKey, V]:
    """All 12 configs in canonical order, read-only; configs without a value get `default`."""
    return types.MappingProxyType({key: values.get(key, default) for key in ALL_CONFIGS})


def parse_canonical(text: object) -> ConfigKey | None:
    """A canonical config for `text`, or None (the reference ignores non-canonical keys)."""
    if not isinstance(text, str):
        return None
    for key in ALL_CONFIGS:
        if str(key) == text:
            return key
    return None
