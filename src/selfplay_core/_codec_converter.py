"""The codec's one cattrs converter, configured once at import, and the payload pre-step.

`CONVERTER` turns plain JSON-shaped data into core values and back. It is strict about JSON
types (no silent str→float or 1→True), refuses strings the UTF-8 log could not write, reads
config-keyed mappings into `FrozenConfigMap`s in canonical order, and runs with cattrs'
detailed validation, so a failure carries the path of the field that failed and no second pass
is needed to word it. The envelope hook (tag → event class dispatch) is registered on this same
converter by `selfplay_core.codec`.

`prepare_payload` is the pre-step on a raw event payload: the publishers' field aliases and the
null-means-absent rule (see the codec's docstring).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import (
    homogenous_tuple_structure_factory,
    list_structure_factory,
    mapping_structure_factory,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from selfplay_core._validators import check_utf8
from selfplay_core.configs import ALL_CONFIGS, ConfigKey, ConfigKeyError
from selfplay_core.events import (
    EVENT_CLASSES,
    CurriculumRebalanced,
    FrozenConfigMap,
    HostOffline,
    NewGamesAvailable,
    NodeActivated,
    NodeOverloaded,
    NodeRecovered,
    NodeTerminated,
    NodeUnhealthy,
    P2PClusterUnhealthy,
    P2PNodeDead,
    SelfplayRateChanged,
)

# --- strict primitive hooks: JSON types only ---


def _structure_float(value: Any, _type: Any) -> float:
    kind = type(value)
    if kind is float:
        number: float = value  # typed without a cast() call: this runs once per field
        return number
    if kind is int:
        return float(value)
    raise TypeError(f"expected a number, got {kind.__name__}")


def _structure_int(value: Any, _type: Any) -> int:
    kind = type(value)
    if kind is int:
        integer: int = value
        return integer
    if kind is float and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {kind.__name__}")


def _structure_str(value: Any, _type: Any) -> str:
    if type(value) is not str:
        raise TypeError(f"expected a string, got {type(value).__name__}")
    if not value.isascii():  # ASCII always encodes
        check_utf8("", value)  # the field's name comes from cattrs' path
    return value


def _structure_bool(value: Any, _type: Any) -> bool:
    if type(value) is bool:
        return value
    raise TypeError(f"expected true or false, got {type(value).__name__}")


_BY_TEXT: Final[dict[str, ConfigKey]] = {str(key): key for key in ALL_CONFIGS}
_TEXT: Final[dict[ConfigKey, str]] = {key: str(key) for key in ALL_CONFIGS}


def _structure_config_key(value: Any, _type: Any) -> ConfigKey:
    if type(value) is not str:
        raise TypeError(f"expected a config key string, got {type(value).__name__}")
    found = _BY_TEXT.get(value)
    return found if found is not None else ConfigKey.parse(value)


def _structure_str_or_int(value: Any, _type: Any) -> str | int:
    if type(value) is int:
        return value
    return _structure_str(value, str)


def _lenient_config_weights(value: Any, _type: Any) -> dict[ConfigKey, float]:
    """CURRICULUM_REBALANCED `weights`: entries for unknown configs are skipped (§events step 3)."""
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    out: dict[ConfigKey, float] = {}
    for key, weight in value.items():
        try:
            config = _structure_config_key(key, ConfigKey)
        except (TypeError, ConfigKeyError):
            continue
        out[config] = _structure_float(weight, float)
    return out


def _config_index(item: tuple[ConfigKey, Any]) -> int:
    return item[0].index


# --- which hook factory a type gets ---


def _is_config_mapping(tp: Any) -> bool:
    args = get_args(tp)
    return _is_mapping(tp) and bool(args) and args[0] is ConfigKey


def _is_mapping(tp: Any) -> bool:
    return get_origin(tp) in (Mapping, dict, types.MappingProxyType)


def _is_sequence(tp: Any) -> bool:
    origin = get_origin(tp)
    if origin is tuple:
        args = get_args(tp)
        return len(args) == 2 and args[1] is Ellipsis
    return origin in (list, Sequence)


def _is_optional(tp: Any) -> bool:
    """`X | None` for one type X (wider unions keep cattrs' own handling)."""
    args = get_args(tp)
    return get_origin(tp) in (Union, types.UnionType) and len(args) == 2 and types.NoneType in args


def _is_set(tp: Any) -> bool:
    return tp in (set, frozenset) or get_origin(tp) in (set, frozenset)


def _sort_key(item: Any) -> tuple[int, str]:
    # Sets hold one kind of item in practice; sort by (kind, text) so mixed sets stay total.
    return (0, "") if item is None else (1, repr(item))


def _configure(converter: cattrs.Converter) -> None:
    converter.register_structure_hook(float, _structure_float)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(bool, _structure_bool)
    converter.register_structure_hook(ConfigKey, _structure_config_key)
    converter.register_structure_hook_func(lambda tp: tp == (str | int), _structure_str_or_int)
    converter.register_unstructure_hook(ConfigKey, str)

    def unstructure_config_mapping(tp: Any) -> Callable[[Mapping[ConfigKey, Any]], Any]:
        value_type = get_args(tp)[1] if len(get_args(tp)) > 1 else Any
        hook = converter.get_unstructure_hook(value_type)

        def unstructure(mapping: Mapping[ConfigKey, Any]) -> dict[str, Any]:
            items = mapping.items()
            if type(mapping) is not FrozenConfigMap:  # a FrozenConfigMap is already canonical
                items = sorted(items, key=_config_index)  # type: ignore[assignment]
            return {_TEXT[k]: hook(v) for k, v in items}

        return unstructure

    converter.register_unstructure_hook_factory(_is_config_mapping, unstructure_config_mapping)

    def structure_mapping(tp: Any) -> Callable[[Any, Any], Mapping[Any, Any]]:
        # Only JSON objects are mappings (cattrs alone would call .items() on anything).
        # A field typed abstract `Mapping[...]` is read-only in the core; keyed by ConfigKey it
        # is a FrozenConfigMap in canonical order, otherwise a mappingproxy.
        key_type, value_type = (*get_args(tp), Any, Any)[:2]
        inner = mapping_structure_factory(dict[key_type, value_type], converter)  # type: ignore[valid-type]
        canonical = key_type is ConfigKey
        read_only = get_origin(tp) is not dict

        def structure(value: Any, _tp: Any) -> Mapping[Any, Any]:
            if type(value) is not dict and not isinstance(value, Mapping):  # dict: no ABC check
                raise TypeError(f"expected an object, got {type(value).__name__}")
            built = inner(value, dict)
            if canonical:  # walk the 12 configs in order: no sort, no key function per item
                return FrozenConfigMap([(key, built[key]) for key in ALL_CONFIGS if key in built])
            return types.MappingProxyType(built) if read_only else built

        return structure

    converter.register_structure_hook_factory(_is_mapping, structure_mapping)

    def structure_sequence(tp: Any) -> Callable[[Any, Any], Any]:
        # Only JSON arrays are sequences (not strings, not objects' keys).
        args = get_args(tp)
        if get_origin(tp) is tuple:
            inner = homogenous_tuple_structure_factory(tp, converter)
        else:
            item_type: Any = args[0] if args else Any
            inner = list_structure_factory(list[item_type], converter)
        as_tuple = get_origin(tp) is Sequence

        def structure(value: Any, _tp: Any) -> Any:
            if not isinstance(value, list | tuple):
                raise TypeError(f"expected an array, got {type(value).__name__}")
            built = inner(value, tp)
            return tuple(built) if as_tuple else built

        return structure

    converter.register_structure_hook_factory(_is_sequence, structure_sequence)

    def structure_optional(tp: Any) -> Callable[[Any, Any], Any]:
        # `X | None`: X's hook looked up once here, not dispatched again on every value.
        inner_type = next(arg for arg in get_args(tp) if arg is not types.NoneType)
        inner = converter.get_structure_hook(inner_type)

        def structure(value: Any, _tp: Any) -> Any:
            return None if value is None else inner(value, inner_type)

        return structure

    converter.register_structure_hook_factory(_is_optional, structure_optional)

    def unstructure_set(tp: Any) -> Callable[[Any], list[Any]]:
        args = get_args(tp)
        hook = converter.get_unstructure_hook(args[0]) if args else converter.unstructure
        return lambda value: sorted((hook(v) for v in value), key=_sort_key)

    converter.register_unstructure_hook_factory(_is_set, unstructure_set)

    def unstructure_runtime_mapping(value: Mapping[Any, Any]) -> dict[Any, Any]:
        # A mapping met without a declared type (an `Any` field): keys and values by runtime type.
        pairs = [(k, converter.unstructure(v)) for k, v in value.items()]
        if value and all(isinstance(k, ConfigKey) for k in value):
            pairs.sort(key=_config_index)
        return {converter.unstructure(k): v for k, v in pairs}

    converter.register_unstructure_hook(types.MappingProxyType, unstructure_runtime_mapping)
    converter.register_unstructure_hook(FrozenConfigMap, unstructure_runtime_mapping)
    converter.register_unstructure_hook(dict, unstructure_runtime_mapping)

    # Hand-written (non-attrs) core values opt in with the snapshot protocol: an instance
    # method `__to_data__(self) -> plain data` and a classmethod `__from_data__(cls, data)`
    # that raises TypeError/ValueError on bad data.
    converter.register_unstructure_hook_func(
        lambda tp: isinstance(tp, type) and hasattr(tp, "__to_data__"),
        lambda value: converter.unstructure(value.__to_data__()),
    )
    converter.register_structure_hook_func(
        lambda tp: isinstance(tp, type) and hasattr(tp, "__from_data__"),
        lambda data, tp: tp.__from_data__(data),
    )

    # Event classes: cattrs-generated functions, with the one lenient field.
    for cls in EVENT_CLASSES:
        overrides = _OVERRIDES.get(cls, {})
        converter.register_structure_hook(cls, make_dict_structure_fn(cls, converter, **overrides))
        converter.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, converter))


_OVERRIDES: Final[Mapping[type[Any], Mapping[str, Any]]] = {
    CurriculumRebalanced: {"weights": override(struct_hook=_lenient_config_weights)},
}

CONVERTER: Final = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
_configure(CONVERTER)

#: Event class → its structure / unstructure function on `CONVERTER` (looked up once).
STRUCTURE_EVENT: Final[Mapping[type[Any], Callable[[Any, Any], Any]]] = {
    cls: CONVERTER.get_structure_hook(cls) for cls in EVENT_CLASSES
}
UNSTRUCTURE_EVENT: Final[Mapping[type[Any], Callable[[Any], dict[str, Any]]]] = {
    cls: CONVERTER.get_unstructure_hook(cls) for cls in EVENT_CLASSES
}

# --- the payload pre-step: aliases (first truthy name wins) and null-means-absent ---

AliasSpec = tuple[str, tuple[str, ...]]
_CONFIG_ALIASES: Final[AliasSpec] = ("config_key", ("config_key", "config"))
_NODE_ALIASES: Final[AliasSpec] = ("node_id", ("node_id", "node_name", "host"))
_HOST_ALIASES: Final[AliasSpec] = ("node_id", ("host", "node_id", "node_name"))


def _alias_specs(cls: type[Any]) -> tuple[AliasSpec, ...]:
    names = {field.name for field in attrs.fields(cls)}
    specs: list[AliasSpec] = []
    if "config_key" in names:
        specs.append(_CONFIG_ALIASES)
    if cls in (NodeUnhealthy, P2PNodeDead, NodeRecovered, NodeActivated):
        specs.append(_NODE_ALIASES)
    if cls in (HostOffline, NodeTerminated, NodeOverloaded):
        specs.append(_HOST_ALIASES)
    if cls is P2PClusterUnhealthy:
        specs.append(("healthy_nodes", ("healthy_nodes", "alive_peers")))
        specs.append(("total_nodes", ("total_nodes", "total_peers", "node_count")))
    if cls is SelfplayRateChanged:
        specs.append(("new_rate", ("new_rate", "rate_multiplier")))
    if cls is NewGamesAvailable:
        specs.append(("new_games", ("new_games", "games_added", "games_count", "count")))
    return tuple(specs)


def _not_nullable(cls: type[Any]) -> frozenset[str]:
    """Fields where a JSON null means "absent" (their type does not admit None)."""
    return frozenset(
        field.name
        for field in attrs.fields(cls)
        if not (field.type is None or "None" in str(field.type) or str(field.type) == "Any")
    )


_ALIASES: Final[dict[type[Any], tuple[AliasSpec, ...]]] = {
    cls: _alias_specs(cls) for cls in EVENT_CLASSES
}
_NULL_MEANS_ABSENT: Final[dict[type[Any], frozenset[str]]] = {
    cls: _not_nullable(cls) for cls in EVENT_CLASSES
}


def prepare_payload(
    cls: type[Any], payload: Mapping[str, Any], wire_names: dict[str, str] | None = None
) -> Mapping[str, Any]:
    """Apply the alias fallbacks and the null-means-absent rule; copy only when needed.
    `wire_names`, if given, receives field name → the wire name its value came from."""
    p: Mapping[str, Any] = payload
    owned = False
    for name, candidates in _ALIASES[cls]:
        for wire in candidates:
            value = p.get(wire)
            if value:
                if wire != name:
                    if not owned:
                        p, owned = dict(p), True
                    p[name] = value  # type: ignore[index]
                if wire_names is not None:
                    wire_names[name] = wire
                break
        else:
            if cls is SelfplayRateChanged and name == "new_rate":
                # reference: `new_rate or rate_multiplier or-default 1.0` (§events)
                # A null `rate_multiplier` says nothing: no rate, no change (the reference
                # leaves `mm` alone then); an absent one reads as 1.0.
                fallback = p.get("rate_multiplier", 1.0)
                if not owned:
                    p, owned = dict(p), True
                p["new_rate"] = fallback  # type: ignore[index]
                if wire_names is not None and fallback is not None:
                    wire_names[name] = "rate_multiplier"
    if None in p.values():
        drop = _NULL_MEANS_ABSENT[cls]
        p = {k: v for k, v in p.items() if v is not None or k not in drop}
    return p
