"""Config-keyed values for event fields: the `ConfigKey` converter and the read-only,
canonically ordered mapping (`FrozenConfigMap`) every config-keyed field holds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, NoReturn, TypeVar

from selfplay_core.configs import ALL_CONFIGS, ConfigKey, coerce_config_key

_KEY_BY_TEXT: Final[dict[str, ConfigKey]] = {str(key): key for key in ALL_CONFIGS}


def to_config_key(value: ConfigKey | str) -> ConfigKey:
    """attrs converter: a `ConfigKey` or its string (fast for the 12 canonical strings)."""
    if type(value) is ConfigKey:
        return value
    found = _KEY_BY_TEXT.get(value) if type(value) is str else None
    return found if found is not None else coerce_config_key(value)


def optional_config_key(value: ConfigKey | str | None) -> ConfigKey | None:
    return None if value is None else to_config_key(value)


_V = TypeVar("_V")


class FrozenConfigMap(dict[ConfigKey, _V]):
    """A read-only dict keyed by `ConfigKey`, in canonical order (never hash order).

    Built only by `freeze_config_map` (and the codec, which builds it in order directly), so
    freezing one again is free. Equal to any mapping with the same items."""

    __slots__ = ()

    def _read_only(self, *_args: object, **_kwargs: object) -> NoReturn:
        raise TypeError("a FrozenConfigMap is read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _read_only
    __ior__ = _read_only

    def __repr__(self) -> str:
        return f"FrozenConfigMap({dict.__repr__(self)})"

    def __hash__(self) -> int:  # type: ignore[override]  # immutable, so events stay hashable
        return hash(tuple(self.items()))

    def __reduce__(self) -> tuple[type[FrozenConfigMap[_V]], tuple[list[tuple[ConfigKey, _V]]]]:
        return (type(self), (list(self.items()),))


def freeze_config_map(value: Mapping[ConfigKey | str, _V]) -> Mapping[ConfigKey, _V]:
    """A read-only copy keyed by `ConfigKey`, in canonical order (never hash order)."""
    if type(value) is FrozenConfigMap:
        return value
    items = [(coerce_config_key(key), val) for key, val in value.items()]
    items.sort(key=lambda item: item[0].index)
    return FrozenConfigMap(items)


def optional_config_map(
    value: Mapping[ConfigKey | str, _V] | None,
) -> Mapping[ConfigKey, _V] | None:
    return None if value is None else freeze_config_map(value)
