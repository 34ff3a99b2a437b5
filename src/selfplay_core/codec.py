"""The wire codec: envelopes ⇄ JSON-ready dicts, and any core value ⇄ plain data for snapshots.

Wire format (one JSON object per envelope)::

    {"id": "…", "type": "selfplay_complete", "schema_version": 1, "at": 1767225600.0,
     "source": "…", "payload": {…}}

Decoding is two-speed. The fast path resolves the publishers' field aliases, then runs a
cattrs-generated structure function (no detailed validation) and the attrs validators. Only when
that fails does the slow path run the detailed variant to name the field path and the problem.
`decode` never raises: every failure is a `DecodeError` in a `Failure`.

Aliases (events.md §3, §8.13): `config` for `config_key` on every config-keyed event;
`node_name` and `host` for `node_id` (HOST_OFFLINE, NODE_TERMINATED and NODE_OVERLOADED read
`host` first, as the reference does); `rate_multiplier` when `new_rate` is falsy;
`alive_peers` for `healthy_nodes`; `total_peers`/`node_count` for `total_nodes`. An alias is used
when the preferred name is absent or falsy, like the reference's `a or b` fallbacks. A `null`
field that cannot be null counts as absent. Unknown payload fields are ignored. An upper-case
type string (the router's canonical names, e.g. "SELFPLAY_COMPLETE") decodes to its lower-case tag.

Encoding writes canonical names only (a zero `new_rate` also as `rate_multiplier`, so the
fallback above reads it back), config-keyed mappings in canonical order, sets sorted, arrays as
lists: `decode(encode(e)) == e` and the dict survives `json.dumps`/`json.loads` unchanged.

`encode_value`/`decode_value` do the same for any core value (policy, allocation results,
state) for snapshots. A hand-written, non-attrs value opts in with `__to_data__(self)` and a
classmethod `__from_data__(cls, data)`.

Schema versions: 1 is current; older envelopes are upcast step by step (`UPCASTERS`); a newer
one is a `DecodeError`. Version 0 (defined here, for old logs and tests): the envelope has
`timestamp` instead of `at`, may lack `source`, and payloads name the config `config`.
"""

from __future__ import annotations

import math
import re
import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NoReturn, TypeVar, cast, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import (
    homogenous_tuple_structure_factory,
    list_structure_factory,
    mapping_structure_factory,
)
from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from returns.result import Failure, Result, Success

from selfplay_core._fast_structure import Unsupported, Wrapping, build_envelope_decoder
from selfplay_core.configs import ALL_CONFIGS, ConfigKey, ConfigKeyError
from selfplay_core.events import (
    EVENT_CLASSES,
    EVENT_TYPES,
    SCHEMA_VERSION,
    CurriculumRebalanced,
    Envelope,
    Event,
    FieldProblem,
    FrozenConfigMap,
    HostOffline,
    NodeActivated,
    NodeOverloaded,
    NodeRecovered,
    NodeTerminated,
    NodeUnhealthy,
    P2PClusterUnhealthy,
    P2PNodeDead,
    SelfplayRateChanged,
    UnknownEvent,
    event_class_for,
    freeze_config_map,
    tag_of,
)

T = TypeVar("T")

# --- the error value ---

MISSING: Final = "missing"
WRONG_TYPE: Final = "wrong_type"
NOT_FINITE: Final = "not_finite"
NEGATIVE: Final = "negative"
UNKNOWN_CONFIG: Final = "unknown_config"
EMPTY: Final = "empty"
NOT_JSON: Final = "not_json"
FUTURE_VERSION: Final = "future_version"
UNSUPPORTED_VERSION: Final = "unsupported_version"
INVALID: Final = "invalid"


@attrs.frozen
class DecodeError:
    """Why a record is not an envelope: which event type (None if not known yet), the field path
    on the wire (``payload.config_key``, ``payload.weights.hex8_2p``, ``at``), the problem kind
    (one of the constants above) and a human message."""

    event_type: str | None
    path: str
    problem: str
    message: str

    def __str__(self) -> str:
        where = f"{self.event_type or '<envelope>'} @ {self.path or '<root>'}"
        return f"{where}: {self.problem}: {self.message}"


class _Reject(Exception):
    """Internal: carries a DecodeError out of nested helpers."""

    def __init__(self, error: DecodeError) -> None:
        super().__init__(str(error))
        self.error = error


def _fail(event_type: str | None, path: str, problem: str, message: str) -> _Reject:
    return _Reject(DecodeError(event_type, path, problem, message))


# --- strict primitive hooks: JSON types only, no silent str→float or 1→True ---


def _structure_float(value: Any, _type: Any) -> float:
    kind = type(value)
    if kind is float:
        return cast(float, value)
    if kind is int:
        return float(value)
    raise TypeError(f"expected a number, got {kind.__name__}")


def _structure_int(value: Any, _type: Any) -> int:
    kind = type(value)
    if kind is int:
        return cast(int, value)
    if kind is float and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {kind.__name__}")


def _structure_str(value: Any, _type: Any) -> str:
    if type(value) is str:
        return value
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _structure_bool(value: Any, _type: Any) -> bool:
    if type(value) is bool:
        return value
    raise TypeError(f"expected true or false, got {type(value).__name__}")


def _structure_config_key(value: Any, _type: Any) -> ConfigKey:
    if type(value) is not str:
        raise TypeError(f"expected a config key string, got {type(value).__name__}")
    return ConfigKey.parse(value)


def _structure_str_or_int(value: Any, _type: Any) -> str | int:
    if type(value) is str or type(value) is int:
        return value
    raise TypeError(f"expected a string or an integer, got {type(value).__name__}")


def _lenient_config_weights(value: Any, _type: Any) -> dict[ConfigKey, float]:
    """CURRICULUM_REBALANCED `weights`: entries for unknown configs are skipped (§3.6 step 3)."""
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


def _is_config_mapping(tp: Any) -> bool:
    origin = get_origin(tp)
    if origin not in (Mapping, dict, types.MappingProxyType):
        return False
    args = get_args(tp)
    return bool(args) and args[0] is ConfigKey


def _is_mapping(tp: Any) -> bool:
    return get_origin(tp) in (Mapping, dict, types.MappingProxyType)


def _is_sequence(tp: Any) -> bool:
    origin = get_origin(tp)
    if origin is tuple:
        args = get_args(tp)
        return len(args) == 2 and args[1] is Ellipsis
    return origin in (list, Sequence)


def _is_set(tp: Any) -> bool:
    return tp in (set, frozenset) or get_origin(tp) in (set, frozenset)


def _sort_key(item: Any) -> tuple[int, str]:
    # Sets hold one kind of item in practice; sort by (kind, text) so mixed sets stay total.
    return (0, "") if item is None else (1, repr(item))


def _configure(converter: cattrs.Converter, *, fast: bool) -> None:
    """The single configuration, applied to the fast and the detailed converter alike."""
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
            if type(mapping) is FrozenConfigMap:  # already canonical
                return {_TEXT[k]: hook(v) for k, v in mapping.items()}
            return {_TEXT[k]: hook(mapping[k]) for k in sorted(mapping, key=_config_index)}

        return unstructure

    converter.register_unstructure_hook_factory(_is_config_mapping, unstructure_config_mapping)

    def structure_mapping(tp: Any) -> Callable[[Any, Any], Mapping[Any, Any]]:
        # Only JSON objects are mappings (cattrs alone would call .items() on anything).
        # A field typed abstract `Mapping[...]` is read-only in the core; keyed by ConfigKey it
        # is a FrozenConfigMap in canonical order, otherwise a mappingproxy.
        key_type, value_type = (*get_args(tp), Any, Any)[:2]
        inner = mapping_structure_factory(dict[key_type, value_type], converter)  # type: ignore[valid-type]
        value_hook = converter.get_structure_hook(value_type)
        canonical = key_type is ConfigKey
        read_only = get_origin(tp) is not dict

        def structure(value: Any, _tp: Any) -> Mapping[Any, Any]:
            if not isinstance(value, Mapping):
                raise TypeError(f"expected an object, got {type(value).__name__}")
            if canonical:
                if fast:
                    # Canonical strings sort by a str-keyed table: one ConfigKey hash per entry.
                    try:
                        texts = sorted(value, key=_TEXT_INDEX.__getitem__)
                    except (KeyError, TypeError):
                        pass  # an unknown key: the generic path below names it
                    else:
                        return FrozenConfigMap(
                            [(_BY_TEXT[t], value_hook(value[t], value_type)) for t in texts]
                        )
                return freeze_config_map(inner(value, dict))
            built = inner(value, dict)
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

    def unstructure_set(tp: Any) -> Callable[[Any], list[Any]]:
        args = get_args(tp)
        hook = converter.get_unstructure_hook(args[0]) if args else converter.unstructure
        return lambda value: sorted((hook(v) for v in value), key=_sort_key)

    converter.register_unstructure_hook_factory(_is_set, unstructure_set)

    def unstructure_runtime_mapping(value: Mapping[Any, Any]) -> dict[Any, Any]:
        # A mapping met without a declared type (an `Any` field): keys and values by runtime type.
        pairs = [(converter.unstructure(k), converter.unstructure(v)) for k, v in value.items()]
        if value and all(isinstance(k, ConfigKey) for k in value):
            pairs.sort(key=lambda kv: _TEXT_INDEX[kv[0]])
        return dict(pairs)

    converter.register_unstructure_hook(types.MappingProxyType, unstructure_runtime_mapping)
    converter.register_unstructure_hook(FrozenConfigMap, unstructure_runtime_mapping)
    converter.register_unstructure_hook(dict, unstructure_runtime_mapping)

    # Hand-written (non-attrs) core values opt in with the snapshot protocol: an instance
    # method `__to_data__(self) -> plain data` and a classmethod `__from_data__(cls, data)`
    # that raises TypeError/ValueError on bad data. Plain data here means what `encode_value`
    # returns: nested dicts/lists of JSON scalars, or core values the converter can encode.
    converter.register_unstructure_hook_func(
        lambda tp: isinstance(tp, type) and hasattr(tp, "__to_data__"),
        lambda value: converter.unstructure(value.__to_data__()),
    )
    converter.register_structure_hook_func(
        lambda tp: isinstance(tp, type) and hasattr(tp, "__from_data__"),
        lambda data, tp: tp.__from_data__(data),
    )


_TEXT_INDEX: Final[dict[str, int]] = {str(key): key.index for key in ALL_CONFIGS}
_BY_TEXT: Final[dict[str, ConfigKey]] = {str(key): key for key in ALL_CONFIGS}
_TEXT: Final[dict[ConfigKey, str]] = {key: str(key) for key in ALL_CONFIGS}


def _config_index(key: ConfigKey) -> int:
    return key.index


_FAST: Final = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)
_DETAILED: Final = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
_configure(_FAST, fast=True)
_configure(_DETAILED, fast=False)

# Per-field hook overrides, applied to the generated functions of both converters.
_OVERRIDES: Final[Mapping[type[Any], Mapping[str, Any]]] = {
    CurriculumRebalanced: {"weights": override(struct_hook=_lenient_config_weights)},
}


for _cls in EVENT_CLASSES:
    for _conv in (_FAST, _DETAILED):
        _conv.register_structure_hook(
            _cls, make_dict_structure_fn(_cls, _conv, **_OVERRIDES.get(_cls, {}))
        )
        _conv.register_unstructure_hook(_cls, make_dict_unstructure_fn(_cls, _conv))

_STRUCTURE: Final[dict[type[Any], Callable[[Any, Any], Any]]] = {
    cls: _FAST.get_structure_hook(cls) for cls in EVENT_CLASSES
}
_STRUCTURE_DETAILED: Final[dict[type[Any], Callable[[Any, Any], Any]]] = {
    cls: _DETAILED.get_structure_hook(cls) for cls in EVENT_CLASSES
}
_UNSTRUCTURE: Final[dict[type[Any], Callable[[Any], dict[str, Any]]]] = {
    cls: _FAST.get_unstructure_hook(cls) for cls in EVENT_CLASSES
}

# Exact lower-case tag → (class, fast structure function): one lookup on the hot path.
_FAST_PATH: Final[dict[str, tuple[type[Any], Callable[[Any, Any], Any]]]] = {
    cls.TAG: (cls, _STRUCTURE[cls]) for cls in EVENT_CLASSES
}

# --- aliases: for each field, the wire names to try in order (first truthy wins) ---

_CONFIG_ALIASES: Final = ("config_key", ("config_key", "config"))
_NODE_ALIASES: Final = ("node_id", ("node_id", "node_name", "host"))
_HOST_ALIASES: Final = ("node_id", ("host", "node_id", "node_name"))

AliasSpec = tuple[str, tuple[str, ...]]


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


def _prepare(
    cls: type[Any], payload: Mapping[str, Any], wire_names: dict[str, str] | None = None
) -> Mapping[str, Any]:
    """Apply the alias fallbacks and the null-means-absent rule; copy only when needed."""
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
                # reference: `new_rate or rate_multiplier or-default 1.0` (events.md §3.7)
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


class _FastDecoders(dict[str, Any]):
    """Exact lower-case tag → its fast decoder (`Success(envelope)` or None), generated on
    first use; None for a tag without one (an unknown type, SELFPLAY_RATE_CHANGED's
    `new_rate` fallback chain, a class the generator cannot check inline). Only known tags
    are remembered, so hostile type strings cannot grow it."""

    def __init__(self, *, json_only: bool) -> None:
        super().__init__()
        self.json_only = json_only

    def __missing__(self, tag: str) -> Any:
        cls = EVENT_TYPES.get(tag)
        if cls is None:
            return None
        decoder = self._build(cls)
        self[tag] = decoder
        return decoder

    def _build(self, cls: type[Any]) -> Any:
        if cls is SelfplayRateChanged:
            return None
        overrides = _OVERRIDES.get(cls, {})
        lenient = frozenset(
            name for name, o in overrides.items() if o.struct_hook is _lenient_config_weights
        )
        if len(lenient) != len(overrides):
            return None  # a hook the fast path does not know
        try:
            return build_envelope_decoder(
                cls,
                _ALIASES[cls],
                _NULL_MEANS_ABSENT[cls],
                lenient,
                Wrapping(Success, _SUCCESS_SETTER),
                json_only=self.json_only,
            )
        except Unsupported:
            return None


# --- upcasters: version n → n+1, on the plain dict, before anything else ---


def _upcast_v0(raw: dict[str, Any]) -> dict[str, Any]:
    """v0 → v1: `timestamp` → `at`, a missing `source` → "", payload `config` → `config_key`."""
    out = dict(raw)
    if "at" not in out and "timestamp" in out:
        out["at"] = out.pop("timestamp")
    out.setdefault("source", "")
    payload = out.get("payload")
    if isinstance(payload, Mapping) and "config" in payload and "config_key" not in payload:
        payload = {("config_key" if k == "config" else k): v for k, v in payload.items()}
        out["payload"] = payload
    out["schema_version"] = 1
    return out


UPCASTERS: Final[Mapping[int, Callable[[dict[str, Any]], dict[str, Any]]]] = types.MappingProxyType(
    {0: _upcast_v0}
)
"""`UPCASTERS[n]` turns a version-n envelope dict into a version-(n+1) one."""


# --- decode ---


def _success_setter() -> Any:
    """The slot setter of returns' containers, if `Success` built through it is exactly
    `Success(value)` (it skips two Python-level __init__ calls, a third of a simple decode);
    None if the library's internals moved, and the plain constructor is used."""
    try:
        from returns.primitives.container import BaseContainer

        set_inner = BaseContainer.__dict__["_inner_value"].__set__
        probe = object()
        made: Any = object.__new__(Success)
        set_inner(made, probe)
        if made == Success(probe) and made.unwrap() is probe and repr(made) == repr(Success(probe)):
            return set_inner
    except Exception:
        pass
    return None


def _make_success_factory(setter: Any) -> Callable[[Envelope], Result[Envelope, DecodeError]]:
    if setter is None:
        return Success
    new = object.__new__

    def success(value: Envelope) -> Result[Envelope, DecodeError]:
        made: Result[Envelope, DecodeError] = new(Success)
        setter(made, value)
        return made

    return success


_SUCCESS_SETTER: Final = _success_setter()
_success: Final = _make_success_factory(_SUCCESS_SETTER)
_FAST_DECODERS: Final = _FastDecoders(json_only=False)
_FAST_JSON_DECODERS: Final = _FastDecoders(json_only=True)


def decode(raw: object) -> Result[Envelope, DecodeError]:
    """Any Python value → an `Envelope`, or a `DecodeError` saying what and where. Never raises."""
    return _decode_using(_FAST_DECODERS, raw)


def decode_json(raw: object) -> Result[Envelope, DecodeError]:
    """`decode` for a value straight from a JSON parser (only JSON types inside): the same
    result, without a comparison that only non-JSON objects can make fail. The log reader's
    decoder."""
    return _decode_using(_FAST_JSON_DECODERS, raw)


def _decode_using(fast_decoders: _FastDecoders, raw: object) -> Result[Envelope, DecodeError]:
    """The fast structure function for the envelope's type when there is one and it is sure of
    its answer; the general path for everything else."""
    if type(raw) is dict:
        type_name = raw.get("type")
        if type(type_name) is str:
            fast = fast_decoders[type_name]
            if fast is not None:
                try:
                    decoded = fast(raw)
                except Exception:  # anything unexpected: the general path below decides
                    decoded = None
                if decoded is not None:
                    return decoded  # type: ignore[no-any-return]
    return _decode_general(raw)


def _decode_general(raw: object) -> Result[Envelope, DecodeError]:
    """`decode` without the fast path: aliases, cattrs, validators, precise errors."""
    try:
        return _success(_decode(raw))
    except _Reject as reject:
        return Failure(reject.error)
    except Exception as exc:  # a hostile object (raising __eq__, deep nesting, …): still a value
        return Failure(DecodeError(None, "", INVALID, f"{type(exc).__name__}: {exc}"))


def _decode(raw: object) -> Envelope:
    if type(raw) is not dict:
        if not isinstance(raw, Mapping):
            raise _fail(None, "", WRONG_TYPE, f"expected an object, got {type(raw).__name__}")
        raw = dict(raw)
    record = cast(dict[str, Any], raw)

    type_name = record.get("type")
    if type(type_name) is not str:
        if type_name is None:
            raise _fail(None, "type", MISSING, "no event type")
        raise _fail(None, "type", WRONG_TYPE, f"expected a string, got {type(type_name).__name__}")

    version = record.get("schema_version")
    if version != SCHEMA_VERSION or type(version) is not int:
        record = _upcast(record, type_name, version)

    event_id = record.get("id")
    if type(event_id) is not str or not event_id:
        _envelope_field_error(type_name, "id", event_id, "a non-empty string")
    at = record.get("at")
    if type(at) is not float:
        if type(at) is int:
            at = float(at)
        else:
            _envelope_field_error(type_name, "at", at, "a number")
    if not (at >= 0.0 and at != math.inf):  # also rejects NaN
        problem = NEGATIVE if at < 0 else NOT_FINITE
        raise _fail(type_name, "at", problem, f"must be finite and not negative, got {at!r}")
    source = record.get("source", "")
    if type(source) is not str:
        _envelope_field_error(type_name, "source", source, "a string")
    payload = record.get("payload")
    if payload is None:
        payload = {}
    elif not isinstance(payload, Mapping):
        raise _fail(
            type_name, "payload", WRONG_TYPE, f"expected an object, got {type(payload).__name__}"
        )

    event: Any
    fast = _FAST_PATH.get(type_name)
    if fast is not None:
        cls, structure = fast
        try:
            event = structure(_prepare(cls, payload), cls)
        except Exception:
            raise _Reject(_explain(cls, payload)) from None
    else:
        other = event_class_for(type_name)  # another case of a known tag, or unknown
        if other is None:
            payload = _checked_json(type_name, payload, "payload")
            event = UnknownEvent(type=type_name, payload=payload)
        else:
            type_name = other.TAG
            try:
                event = _STRUCTURE[other](_prepare(other, payload), other)
            except Exception:
                raise _Reject(_explain(other, payload)) from None
    set_id, set_type, set_version, set_at, set_source, set_event = _SET_ENVELOPE
    envelope = object.__new__(Envelope)
    set_id(envelope, event_id)
    set_type(envelope, type_name)
    set_version(envelope, SCHEMA_VERSION)
    set_at(envelope, at)
    set_source(envelope, source)
    set_event(envelope, event)
    return envelope


# Slot descriptors of the frozen Envelope: setting through them skips the frozen __setattr__
# and the attrs validators, which `_decode` has already done by hand (the hot path).
_SET_ENVELOPE: Final = tuple(
    Envelope.__dict__[name].__set__
    for name in ("id", "type", "schema_version", "at", "source", "event")
)


def _envelope_field_error(type_name: str, field: str, value: object, expected: str) -> NoReturn:
    if value is None:
        raise _fail(type_name, field, MISSING, f"expected {expected}")
    if field == "id" and value == "":
        raise _fail(type_name, field, EMPTY, "must not be empty")
    raise _fail(type_name, field, WRONG_TYPE, f"expected {expected}, got {type(value).__name__}")


def _upcast(record: dict[str, Any], type_name: str, version: object) -> dict[str, Any]:
    if version is None:
        raise _fail(type_name, "schema_version", MISSING, "no schema version")
    if type(version) is not int:
        raise _fail(
            type_name,
            "schema_version",
            WRONG_TYPE,
            f"expected an integer, got {type(version).__name__}",
        )
    if version > SCHEMA_VERSION:
        raise _fail(
            type_name,
            "schema_version",
            FUTURE_VERSION,
            f"version {version} is newer than this library's {SCHEMA_VERSION}",
        )
    if version not in UPCASTERS:
        raise _fail(type_name, "schema_version", UNSUPPORTED_VERSION, f"no upcaster from {version}")
    for step in range(version, SCHEMA_VERSION):
        record = UPCASTERS[step](record)
    return record


MAX_JSON_DEPTH: Final = 100


def _checked_json(type_name: str, value: Any, path: str, depth: int = 0) -> Any:
    """An unknown event's payload must be plain JSON (so it can be written back unchanged)."""
    kind = type(value)
    if value is None or kind is str or kind is bool or kind is int:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise _fail(type_name, path, NOT_FINITE, f"must be finite, got {value!r}")
        return value
    if depth >= MAX_JSON_DEPTH:
        raise _fail(type_name, path, NOT_JSON, f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _fail(type_name, path, NOT_JSON, f"object keys must be strings, got {key!r}")
            out[key] = _checked_json(type_name, item, f"{path}.{key}", depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [
            _checked_json(type_name, item, f"{path}.{i}", depth + 1) for i, item in enumerate(value)
        ]
    raise _fail(type_name, path, NOT_JSON, f"not a JSON value: {kind.__name__}")


# --- the slow path: say exactly what is wrong ---

_FIELD_PREFIX: Final = re.compile(r"^([A-Za-z_][\w.]*): ")
_QUOTED_FIELD: Final = re.compile(r"'([A-Za-z_]\w*)'")


def _explain(cls: type[Any], payload: Mapping[str, Any]) -> DecodeError:
    tag: str = cls.TAG
    wire_names: dict[str, str] = {}
    try:
        prepared = _prepare(cls, payload, wire_names)
        _STRUCTURE_DETAILED[cls](prepared, cls)
    except Exception as exc:
        path, leaf = _locate(exc, [])
        if path and path[0] in wire_names:
            path[0] = wire_names[path[0]]
        problem, message = _classify(leaf)
        return DecodeError(tag, ".".join(["payload", *path]), problem, message)
    return DecodeError(tag, "payload", INVALID, "rejected by the fast path only")


def _locate(exc: BaseException, path: list[str]) -> tuple[list[str], BaseException]:
    """Walk cattrs' exception groups (annotated with attribute / index notes) to the first leaf."""
    while isinstance(exc, BaseValidationError) and exc.exceptions:
        sub = exc.exceptions[0]
        for note in getattr(sub, "__notes__", ()):
            if isinstance(note, AttributeValidationNote):
                path.append(note.name)
                break
            if isinstance(note, IterableValidationNote):
                path.append(str(note.index))
                break
        exc = sub
    if isinstance(exc, FieldProblem):
        path.extend(exc.field.split(".") if not path or path[-1] != exc.field else [])
    elif not isinstance(exc, KeyError | ConfigKeyError | AttributeError):
        text = str(exc)
        match = _FIELD_PREFIX.match(text) or (
            _QUOTED_FIELD.search(text) if text.startswith("Length of") else None
        )
        if match:
            path.extend(match.group(1).split("."))
    elif isinstance(exc, KeyError) and not path and exc.args:
        path.append(str(exc.args[0]))
    return path, exc


def _classify(exc: BaseException) -> tuple[str, str]:
    text = str(exc)
    if isinstance(exc, FieldProblem):
        return exc.problem, text
    if isinstance(exc, KeyError):
        return MISSING, "required field is missing"
    if isinstance(exc, ConfigKeyError):
        return UNKNOWN_CONFIG, text
    if isinstance(exc, TypeError | AttributeError):
        return WRONG_TYPE, text
    if isinstance(exc, OverflowError):  # an integer too large for a float
        return NOT_FINITE, text
    if "finite" in text:
        return NOT_FINITE, text
    if "negative" in text:
        return NEGATIVE, text
    if "Length of" in text:
        return EMPTY, text
    return INVALID, text


# --- encode ---


def encode(envelope: Envelope) -> dict[str, Any]:
    """An envelope as a JSON-ready dict (str keys, finite floats, lists, canonical key order)."""
    event = envelope.event
    cls = type(event)
    if isinstance(event, UnknownEvent):
        payload = _thaw(event.payload)
    else:
        payload = _UNSTRUCTURE[cls](event)
        if cls is SelfplayRateChanged and not payload["new_rate"]:
            # a zero rate is falsy on the wire; say it twice so the fallback reads it back
            payload["rate_multiplier"] = payload["new_rate"]
    return {
        "id": envelope.id,
        "type": tag_of(event),
        "schema_version": envelope.schema_version,
        "at": envelope.at,
        "source": envelope.source,
        "payload": payload,
    }


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_thaw(item) for item in value]
    return value


# --- any core value (policy, allocation results, state) for snapshots ---


def encode_value(value: Any) -> Any:
    """Plain JSON-ready data for any core value. Envelopes encode as on the wire."""
    if isinstance(value, Envelope):
        return encode(value)
    return _FAST.unstructure(value)


def decode_value(value: object, cls: type[T]) -> Result[T, DecodeError]:
    """The inverse of `encode_value` for a known class; never raises."""
    if cls is Envelope:
        return cast("Result[T, DecodeError]", decode(value))
    try:
        return Success(_FAST.structure(value, cls))
    except Exception:  # the detailed pass below says what was wrong
        pass
    name = getattr(cls, "__name__", str(cls))
    try:
        _DETAILED.structure(value, cls)
    except Exception as exc:
        path, leaf = _locate(exc, [])
        problem, message = _classify(leaf)
        return Failure(DecodeError(name, ".".join(path), problem, message))
    return Failure(DecodeError(name, "", INVALID, "rejected by the fast path only"))


def event_payload(event: Event) -> dict[str, Any]:
    """Just the payload dict an event encodes to (for publishing on a bus)."""
    if isinstance(event, UnknownEvent):
        return cast(dict[str, Any], _thaw(event.payload))
    return _UNSTRUCTURE[type(event)](event)


__all__: Sequence[str] = (
    "UPCASTERS",
    "DecodeError",
    "decode",
    "decode_json",
    "decode_value",
    "encode",
    "encode_value",
    "event_payload",
)
