"""Fast structure functions for event payloads, generated once per class from its attrs fields.

`codec.decode` tries one of these before its general path (alias fallbacks, the cattrs
converter, the attrs validators). A fast function reads the payload the way the general path
does (the same alias fallbacks; a JSON null read as absent where the field cannot be null), but
accepts a field only when its value is already of its final JSON type and passes the field's
validator, tested inline with the validator's own test. It then builds the event without
`__init__`, through the slot descriptors, as `__init__` would have. On anything else it returns
None (or raises), and `decode` runs the general path from the start, which returns the same
value or names the problem precisely. So the fast path only ever saves work; it never changes an
answer (`tests/properties/test_codec_fast_path.py` compares the two paths).

Nested attrs classes, tuples of them and mappings (keyed by canonical config strings, or by
plain strings) are built the same way, recursively. A converter is either one that leaves the
structured value as it is (`_IDENTITY_CONVERTERS`) or one of the known freezers of
`allocation_values` (`_FREEZERS`), whose result is built directly; a validator that checks
every value of a mapping is read as that check on each leaf (`_EachValue`, `_LEAF_VALIDATORS`);
an `__attrs_post_init__` is called on the built value, as `__init__` would. So an
`AllocationDecided` (its request and its whole `BatchAllocation`) has a fast function too.

A class with a field this module cannot check inline gets no fast function:
`build_payload_structure` raises `Unsupported`.
"""

from __future__ import annotations

import operator
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import attrs

from selfplay_core import _validators
from selfplay_core import events as ev
from selfplay_core.allocation import values as av
from selfplay_core.configs import ALL_CONFIGS, ConfigKey, coerce_config_key

__all__ = [
    "Unsupported",
    "Wrapping",
    "build_envelope_decoder",
    "build_nested_structure",
    "build_payload_structure",
]

FastStructure = Callable[[dict[str, Any]], Any]


class Unsupported(Exception):
    """A class (or one of its fields) the generator cannot check inline."""


_BY_TEXT: Final[dict[str, ConfigKey]] = {str(key): key for key in ALL_CONFIGS}
_TEXT_INDEX: Final[dict[str, int]] = {str(key): key.index for key in ALL_CONFIGS}
_ABSENT: Final = object()
_MIN_LEN: Final[type[Any]] = type(attrs.validators.min_len(1))

# What each known validator tests once the value has its final type, and whether it lets None
# through. Any other function validator is called as such (with no instance).
_CHECKS: Final[dict[Any, tuple[str, bool]]] = {
    ev._finite: ("finite", False),
    ev._optional_finite: ("finite", True),
    ev._non_negative: ("non_negative", False),
    ev._count: ("count", False),
    ev._optional_count: ("count", True),
    ev._text: ("text", False),
    ev._optional_text: ("text", True),
    ev._node_id: ("non_empty", False),
    ev._optional_bool: ("bool", True),
    ev._priority: ("str_or_int", False),
    _validators.finite: ("finite", False),
    _validators.optional_finite: ("finite", True),
    _validators.non_negative: ("non_negative", False),
    _validators.count: ("count", False),
    av._optional_count: ("count", True),
}

# Validators of a whole mapping that apply one known check to every leaf value (a mapping of
# mappings: to the inner values). Once each leaf has its final type, `_counts` and
# `_placements` test exactly what the "count" check tests.
_LEAF_VALIDATORS: Final[dict[Any, tuple[str, bool]]] = {
    av._counts: ("count", False),
    av._placements: ("count", False),
}

# Converters that leave an already-structured value as it is (or make an equal copy).
_IDENTITY_CONVERTERS: Final = (
    ev.to_config_key,
    ev._optional_config_key,
    ev.freeze_config_map,
    ev._optional_config_map,
    ev._config_tuple,
    coerce_config_key,
)

# How the mapping freezers of `allocation_values` turn the structured mapping (a
# `FrozenConfigMap` in canonical order, or a mappingproxy of a str-keyed dict) into the field's
# value: (the outer mapping, the inner mappings of a mapping of mappings).
_PROXY: Final = "proxy"  # a mappingproxy of a dict, in the order already built
_SORTED: Final = "sorted"  # a mappingproxy of a dict, keys sorted (node ids)
_FREEZERS: Final[dict[Any, tuple[str, str | None]]] = {
    av.freeze_config_counts: (_PROXY, None),
    av.freeze_config_text: (_PROXY, None),
    av.freeze_placements: (_PROXY, _SORTED),
    av.freeze_node_counts: (_SORTED, None),
    av.freeze_node_text: (_SORTED, None),
}


class _EachLeaf:
    """A mapping field's validator read as one check on every leaf value."""

    __slots__ = ("check",)

    def __init__(self, check: tuple[str, bool]) -> None:
        self.check = check


def _is_optional_tuple(converter: Any) -> bool:
    cells: tuple[Any, ...] = getattr(converter, "__closure__", None) or ()
    return (
        getattr(converter, "__qualname__", "") == "optional.<locals>.optional_converter"
        and len(cells) == 1
        and cells[0].cell_contents is tuple
    )


def _first_param_unused(validator: Any) -> bool:
    code = getattr(validator, "__code__", None)
    return code is not None and code.co_argcount == 3 and code.co_varnames[0].startswith("_")


class _Source:
    """Generated code and the names it refers to."""

    def __init__(self) -> None:
        self.names: dict[str, Any] = {"ABSENT": _ABSENT, "BY_TEXT": _BY_TEXT, "NEW": object.__new__}
        self.count = 0

    def name(self, prefix: str, value: Any) -> str:
        self.count += 1
        name = f"{prefix}_{self.count}"
        self.names[name] = value
        return name

    def function(self, name: str, lines: list[str]) -> Any:
        text = "\n".join(lines) + "\n"
        namespace = dict(self.names)
        exec(compile(text, f"<fast structure {name}>", "exec"), namespace)
        return namespace[name]


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args:
            rest = tuple(a for a in args if a is not type(None))
            inner = rest[0] if len(rest) == 1 else typing.Union[rest]  # noqa: UP007
            return inner, True
    return tp, False


def _check_lines(src: _Source, check: Any, field: attrs.Attribute[Any], value: str) -> list[str]:
    """The validator's test on `value` (already of its final type)."""
    if check is None:
        return []
    if isinstance(check, tuple):
        kind = check[0]
        if kind == "finite":
            return [f"if {value} - {value} != 0.0:", "    return None"]
        if kind == "non_negative":
            return [f"if {value} - {value} != 0.0 or {value} < 0.0:", "    return None"]
        if kind == "count":
            return [f"if {value} < 0:", "    return None"]
        if kind == "non_empty":
            return [f"if not {value}:", "    return None"]
        return []  # text, bool, str_or_int: the type test already did it
    call = src.name("VALIDATE", check)
    attribute = src.name("ATTRIBUTE", field)
    return [f"{call}(None, {attribute}, {value})"]


def _value_lines(
    src: _Source, tp: Any, check: Any, field: attrs.Attribute[Any], value: str, out: str
) -> list[str]:
    """Lines that set `out` from `value` (not None) as the general path would, or return None."""
    kind = check[0] if isinstance(check, tuple) else None
    if tp is float:
        if kind not in (None, "finite", "non_negative") and not callable(check):
            raise Unsupported(f"{field.name}: float with {check}")
        return [
            f"if type({value}) is float:",
            f"    {out} = {value}",
            f"elif type({value}) is int:",
            f"    {out} = float({value})",
            "else:",
            "    return None",
            *_check_lines(src, check, field, out),
        ]
    if tp is int:
        if kind not in (None, "count") and not callable(check):
            raise Unsupported(f"{field.name}: int with {check}")
        return [
            f"if type({value}) is not int:",
            "    return None",
            f"{out} = {value}",
            *_check_lines(src, check, field, out),
        ]
    if tp is str:
        if kind not in (None, "text", "non_empty") and not callable(check):
            raise Unsupported(f"{field.name}: str with {check}")
        if type(check) is _MIN_LEN and check.min_length == 1:
            check = ("non_empty", False)
        return [
            f"if type({value}) is not str:",
            "    return None",
            f"{out} = {value}",
            *_check_lines(src, check, field, out),
        ]
    if tp is bool:
        if kind not in (None, "bool"):
            raise Unsupported(f"{field.name}: bool with {check}")
        return [f"if type({value}) is not bool:", "    return None", f"{out} = {value}"]
    if tp == (str | int):
        if kind not in (None, "str_or_int"):
            raise Unsupported(f"{field.name}: str | int with {check}")
        return [
            f"if type({value}) is not str and type({value}) is not int:",
            "    return None",
            f"{out} = {value}",
        ]
    if tp is ConfigKey:
        if check is not None:
            raise Unsupported(f"{field.name}: ConfigKey with a validator")
        return [
            f"if type({value}) is not str:",
            "    return None",
            f"{out} = BY_TEXT.get({value})",
            f"if {out} is None:",
            "    return None",
        ]
    helper = src.name("BUILD", _helper_for(tp, check, field))
    return [f"{out} = {helper}({value})", f"if {out} is None:", "    return None"]


def _helper_for(tp: Any, check: Any, field: attrs.Attribute[Any]) -> Any:
    """A builder function for a composite value (None = not in the shape it handles)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Mapping, dict, types.MappingProxyType) and len(args) == 2:
        if check is not None and not isinstance(check, _EachLeaf):
            raise Unsupported(f"{field.name}: mapping with {check}")
        leaf = check.check if check is not None else None
        converter: Any = field.converter
        outer, inner = _FREEZERS.get(converter, (None, None))
        if args[0] is ConfigKey:
            return _config_map_builder(args[1], leaf, field, outer, inner)
        if args[0] is str and inner is None and (converter is None or outer == _SORTED):
            return _map_value_builder(tp, leaf, field, outer)
        raise Unsupported(f"{field.name}: {tp} converted by {converter}")
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis and check is None:
        return _tuple_builder(args[0], field)
    if attrs.has(tp) and check is None:
        return build_nested_structure(tp)
    raise Unsupported(f"{field.name}: {tp}")


# Key order of a config mapping on the wire (as written: sorted by text, or canonical) →
# (its configs in canonical order, a getter of its values in that order). Bounded: logs use
# a handful of orders; past the bound an order is worked out each time.
_PLANS: Final[dict[tuple[str, ...], tuple[tuple[ConfigKey, ...], Callable[[Any], Any]]]] = {}
_MAX_PLANS: Final = 256


def _values_getter(texts: Sequence[str]) -> Callable[[Any], Sequence[Any]]:
    if not texts:
        return lambda _value: ()
    if len(texts) == 1:
        one = operator.itemgetter(texts[0])
        return lambda value: (one(value),)
    return operator.itemgetter(*texts)


def _plan(value: dict[Any, Any]) -> tuple[tuple[ConfigKey, ...], Callable[[Any], Any]]:
    """The canonical order of a mapping's keys, as the converter sorts them (a KeyError for
    a key that is not a canonical config string: the general path deals with it)."""
    keys = tuple(value)
    plan = _PLANS.get(keys)
    if plan is None:
        texts = sorted(keys, key=_TEXT_INDEX.__getitem__)
        plan = (tuple(_BY_TEXT[t] for t in texts), _values_getter(texts))
        if len(_PLANS) < _MAX_PLANS:
            _PLANS[keys] = plan
    return plan


def _as_floats(values: Sequence[Any]) -> list[float] | None:
    """The float hook on each value: floats as they are, integers converted, else None."""
    out = []
    for item in values:
        if type(item) is float:
            out.append(item)
        elif type(item) is int:
            out.append(float(item))
        else:
            return None
    return out


def _finite_floats(values: Sequence[Any]) -> Sequence[float] | None:
    """`values` as floats if every one is (or converts to) a finite float."""
    for item in values:
        if type(item) is not float:
            converted = _as_floats(values)
            if converted is None:
                return None
            values = converted
            break
    total = sum(values)  # NaN or ±inf when any value is (or when the sum overflows, and
    if total - total != 0.0:  # then the general path decides)
        return None
    return values


def _proxy_of_pairs(pairs: Any) -> Mapping[Any, Any]:
    return types.MappingProxyType(dict(pairs))


def _config_map_builder(
    value_type: Any,
    leaf: tuple[str, bool] | None,
    field: attrs.Attribute[Any],
    outer: str | None,
    inner: str | None,
) -> Any:
    """`Mapping[ConfigKey, V]` from a JSON object keyed by canonical config strings: a
    `FrozenConfigMap` in canonical order, as the converter's fast mapping hook builds it; with
    a freezer (`outer` = _PROXY), the mappingproxy of a dict in that order it makes of it.
    `leaf`: the check on each value (on each inner value of a mapping of mappings)."""
    make: Callable[[Any], Any]
    if outer is None:
        make = ev.FrozenConfigMap
    elif outer == _PROXY:
        make = _proxy_of_pairs
    else:
        raise Unsupported(f"{field.name}: config mapping frozen as {outer}")
    kind = leaf[0] if leaf else None

    if value_type is float and kind == "finite" and inner is None:

        def float_map(value: Any) -> Any:
            if type(value) is not dict:
                return None
            configs, getter = _plan(value)
            values = _finite_floats(getter(value))
            if values is None:
                return None
            return make(zip(configs, values, strict=False))

        return float_map
    if value_type is int and kind == "count" and inner is None:

        def count_map(value: Any) -> Any:
            if type(value) is not dict:
                return None
            configs, getter = _plan(value)
            values = getter(value)
            for item in values:
                if type(item) is not int or item < 0:
                    return None
            return make(zip(configs, values, strict=False))

        return count_map
    if value_type is str and kind is None and inner is None:

        def text_map(value: Any) -> Any:
            if type(value) is not dict:
                return None
            configs, getter = _plan(value)
            values = getter(value)
            for item in values:
                if type(item) is not str:
                    return None
            return make(zip(configs, values, strict=False))

        return text_map
    build = _map_value_builder(value_type, leaf, field, inner)

    def nested_map(value: Any) -> Any:
        if type(value) is not dict:
            return None
        configs, getter = _plan(value)
        built = []
        for item in getter(value):
            made = build(item)
            if made is None:
                return None
            built.append(made)
        return make(zip(configs, built, strict=False))

    return nested_map


def _map_value_builder(
    value_type: Any, leaf: tuple[str, bool] | None, field: attrs.Attribute[Any], frozen: str | None
) -> Any:
    """The builder of a mapping's composite values: a nested attrs class, or a str-keyed
    mapping (`frozen` = _SORTED: by a freezer that sorts it)."""
    if attrs.has(value_type) and leaf is None and frozen is None:
        return build_nested_structure(value_type)
    origin, args = typing.get_origin(value_type), typing.get_args(value_type)
    if len(args) == 2 and args[0] is str and (origin is Mapping or frozen == _SORTED):
        return _str_map_builder(args[1], leaf, field, sort=frozen == _SORTED)
    raise Unsupported(f"{field.name}: mapping of {value_type} checked by {leaf}")


def _str_map_builder(
    value_type: Any, leaf: tuple[str, bool] | None, field: attrs.Attribute[Any], *, sort: bool
) -> Any:
    """`Mapping[str, V]` (node ids) from a JSON object: a mappingproxy of a dict, as the
    general path's mapping hook makes it, with its keys sorted when a freezer sorts them
    (`freeze_node_counts`, `freeze_node_text`). Integer values ≥ 0 (`count`) or strings."""
    proxy = types.MappingProxyType
    kind = leaf[0] if leaf else None
    if value_type is int and kind == "count":

        def count_map(value: Any) -> Any:
            if type(value) is not dict:
                return None
            for key, item in value.items():
                if type(key) is not str or type(item) is not int or item < 0:
                    return None
            return proxy({key: value[key] for key in sorted(value)} if sort else dict(value))

        return count_map
    if value_type is str and kind is None:

        def text_map(value: Any) -> Any:
            if type(value) is not dict:
                return None
            for key, item in value.items():
                if type(key) is not str or type(item) is not str:
                    return None
            return proxy({key: value[key] for key in sorted(value)} if sort else dict(value))

        return text_map
    raise Unsupported(f"{field.name}: str mapping of {value_type} checked by {leaf}")


def _lenient_weights_builder() -> Any:
    """`CurriculumRebalanced.weights` (the codec's lenient hook skips unknown configs): here
    only the plain case, every key a canonical config string and every value a finite float,
    ordered as `freeze_config_map` orders them."""
    by_text, frozen = _BY_TEXT, ev.FrozenConfigMap

    def weights(value: Any) -> Any:
        if type(value) is not dict:
            return None
        for key in value:
            if type(key) is not str or key not in by_text:
                return None
        configs, getter = _plan(value)
        values = _finite_floats(getter(value))
        if values is None:
            return None
        return frozen(zip(configs, values, strict=False))

    return weights


def _tuple_builder(item_type: Any, field: attrs.Attribute[Any]) -> Any:
    if item_type is ConfigKey:
        by_text = _BY_TEXT

        def config_tuple(value: Any) -> Any:
            if type(value) is not list:
                return None
            out = []
            for item in value:
                if type(item) is not str:
                    return None
                key = by_text.get(item)
                if key is None:
                    return None
                out.append(key)
            return tuple(out)

        return config_tuple
    if attrs.has(item_type):
        build = build_nested_structure(item_type)

        def nested_tuple(value: Any) -> Any:
            if type(value) is not list:
                return None
            built = []
            for item in value:
                made = build(item)
                if made is None:
                    return None
                built.append(made)
            return tuple(built)

        return nested_tuple
    raise Unsupported(f"{field.name}: tuple of {item_type}")


def _field_plan(cls: type[Any], field: attrs.Attribute[Any], tp: Any) -> tuple[Any, Any, bool]:
    """(type without None, the validator's check, whether None is a valid value)."""
    if not field.init or field.alias != field.name:
        raise Unsupported(f"{cls.__name__}.{field.name}: not a plain init field")
    converter: Any = field.converter
    plain = converter is None or converter in _IDENTITY_CONVERTERS or converter in _FREEZERS
    if not plain and not _is_optional_tuple(converter):
        raise Unsupported(f"{cls.__name__}.{field.name}: converter {converter}")
    inner, optional = _unwrap_optional(tp)
    validator = field.validator
    if validator is None:
        return inner, None, optional
    leaf = _leaf_check(validator)
    if leaf is not None:
        if typing.get_origin(inner) not in (Mapping, dict, types.MappingProxyType):
            raise Unsupported(f"{cls.__name__}.{field.name}: {validator} on {inner}")
        # an `_EachValue` lets None through; `_counts`/`_placements` do not
        return inner, _EachLeaf(leaf), optional and isinstance(validator, ev._EachValue)
    if type(validator) is _MIN_LEN:
        return inner, validator, False
    known = _CHECKS.get(validator)
    if known is not None:
        return inner, known, optional and known[1]
    if _first_param_unused(validator):
        return inner, validator, False  # called as it is; None goes to the general path
    raise Unsupported(f"{cls.__name__}.{field.name}: validator {validator}")


def _leaf_check(validator: Any) -> tuple[str, bool] | None:
    """The check a mapping validator applies to every leaf value, if it is one."""
    if isinstance(validator, ev._EachValue):
        known = _CHECKS.get(validator.check)
        if known is None:
            raise Unsupported(f"mapping values checked by {validator.check}")
        return known
    return _LEAF_VALIDATORS.get(validator)


def _default_lines(src: _Source, field: attrs.Attribute[Any], out: str) -> list[str]:
    """What `__init__` stores when the field is not given (None: it is required)."""
    default: Any = field.default
    if default is attrs.NOTHING:
        return ["return None"]
    converter: Any = field.converter
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]  # a class at runtime
        if default.takes_self:
            raise Unsupported(f"{field.name}: a default that takes self")
        factory = default.factory

        def make() -> Any:
            made = factory()
            return converter(made) if converter is not None else made

        return [f"{out} = {src.name('DEFAULT', make)}()"]
    value = converter(default) if converter is not None else default
    return [f"{out} = {src.name('DEFAULT', value)}"]


def _check_class(cls: type[Any]) -> list[Any]:
    if not (attrs.has(cls) and "__slots__" in cls.__dict__):
        raise Unsupported(f"{cls.__name__}: not a slotted attrs class")
    if hasattr(cls, "__attrs_pre_init__") or hasattr(cls, "__attrs_init__"):
        raise Unsupported(f"{cls.__name__}: has a pre-init hook or a custom __init__")
    if "__attrs_cached_hash" in getattr(cls, "__slots__", ()):
        raise Unsupported(f"{cls.__name__}: caches its hash")
    setters = []
    for field in attrs.fields(cls):
        descriptor = cls.__dict__.get(field.name)
        if type(descriptor) is not types.MemberDescriptorType:
            raise Unsupported(f"{cls.__name__}.{field.name}: no slot descriptor")
        setters.append(descriptor.__set__)
    return setters


_ENVELOPE_PROLOGUE: Final = """\
version = raw.get("schema_version")
if type(version) is not int or version != SCHEMA_VERSION:
    return None
event_id = raw.get("id")
if type(event_id) is not str or not event_id:
    return None
at = raw.get("at")
if type(at) is not float:
    if type(at) is not int:
        return None
    at = float(at)
if not (at >= 0.0 and at != INF):
    return None
source = raw.get("source", "")
if type(source) is not str:
    return None
p = raw.get("payload")
if type(p) is not dict:
    if p is not None:
        return None
    p = {}
""".splitlines()


@attrs.frozen
class Wrapping:
    """How a decoded envelope is handed back: `Success(envelope)`, built through the
    container's slot setter when the codec found that equivalent (`setter`), else by calling
    `success` itself."""

    success: Any
    setter: Any = None


def _build(
    cls: type[Any],
    *,
    nested: bool,
    aliases: Mapping[str, tuple[str, ...]],
    null_means_absent: frozenset[str],
    overrides: Mapping[str, Any],
    wrapping: Wrapping | None = None,
    json_only: bool = False,
) -> Any:
    setters = _check_class(cls)
    hints = typing.get_type_hints(cls)
    src = _Source()
    klass = src.name("CLASS", cls)
    fname = f"fast_{cls.__name__}"
    body: list[str] = []
    if nested:
        lines = [f"def {fname}(p):"]
        body += ["if type(p) is not dict:", "    return None"]
    else:
        lines = [f"def {fname}(raw):"]
        if wrapping is not None:
            src.names.update(SCHEMA_VERSION=ev.SCHEMA_VERSION, INF=float("inf"))
            body += _ENVELOPE_PROLOGUE
        if not json_only:
            # The general path asks `None in payload.values()` first (to drop nulls); asking
            # it here too means a value that cannot even be compared fails on both paths
            # alike. JSON values always compare, so a decoder for parsed JSON skips it.
            body += ["if None in p.values():", "    pass"]
    outs = []
    for index, field in enumerate(attrs.fields(cls)):
        out = f"f{index}"
        outs.append(out)
        tp, check, none_ok = _field_plan(cls, field, hints[field.name])
        if nested:
            body.append(f"v = p.get({field.name!r}, ABSENT)")
            absent = "v is ABSENT"
        else:
            wire = aliases.get(field.name, (field.name,))
            body.append("v = " + " or ".join(f"p.get({w!r})" for w in wire))
            if wire != (field.name,):
                body += ["if not v:", f"    v = p.get({field.name!r})"]
            if field.name not in null_means_absent:
                # A null stays a value here; absent and null agree only on a None default.
                if field.default is not None:
                    raise Unsupported(f"{cls.__name__}.{field.name}: nullable, default not None")
                if not none_ok:  # nullable by its type, but the validator refuses None
                    body += ["if v is None:", "    return None"]
            absent = "v is None"
        body.append(f"if {absent}:")
        body += ["    " + line for line in _default_lines(src, field, out)]
        if nested and none_ok:
            body += ["elif v is None:", f"    {out} = None"]
        body.append("else:")
        if field.name in overrides:
            helper = src.name("BUILD", overrides[field.name])
            value_lines = [f"{out} = {helper}(v)", f"if {out} is None:", "    return None"]
        else:
            value_lines = _value_lines(src, tp, check, field, "v", out)
        body += ["    " + line for line in value_lines]
    body.append(f"o = NEW({klass})")
    for setter, out in zip(setters, outs, strict=True):
        body.append(f"{src.name('SET', setter)}(o, {out})")
    post_init = getattr(cls, "__attrs_post_init__", None)
    if post_init is not None:
        # `__init__` calls it once the fields are set and validated; what it raises, the
        # caller (`decode`) answers by running the general path
        body.append(f"{src.name('POST_INIT', post_init)}(o)")
    if wrapping is None:
        body.append("return o")
    else:
        body += _envelope_epilogue(src, cls, wrapping)
    lines += ["    " + line for line in body]
    return src.function(fname, lines)


def _envelope_epilogue(src: _Source, cls: type[Any], wrapping: Wrapping) -> list[str]:
    """Build the `Envelope` (validated by hand above: the slots are set directly) and its
    `Success`."""
    envelope_setters = _check_class(ev.Envelope)
    names = [field.name for field in attrs.fields(ev.Envelope)]
    if names != ["id", "type", "schema_version", "at", "source", "event"]:
        raise Unsupported(f"Envelope fields changed: {names}")
    values = ["event_id", src.name("TAG", cls.TAG), "SCHEMA_VERSION", "at", "source", "o"]
    lines = [f"e = NEW({src.name('ENVELOPE', ev.Envelope)})"]
    for setter, value in zip(envelope_setters, values, strict=True):
        lines.append(f"{src.name('SET', setter)}(e, {value})")
    success = src.name("SUCCESS", wrapping.success)
    if wrapping.setter is None:
        return [*lines, f"return {success}(e)"]
    return [
        *lines,
        f"r = NEW({success})",
        f"{src.name('SET', wrapping.setter)}(r, e)",
        "return r",
    ]


_NESTED: dict[type[Any], Any] = {}


def build_nested_structure(cls: type[Any]) -> Callable[[Any], Any]:
    """For an attrs class inside a payload (a node, a feedback signal): absent fields take
    their defaults, a null is a value (refused unless the type admits it), no aliases."""
    built = _NESTED.get(cls)
    if built is None:
        built = _build(cls, nested=True, aliases={}, null_means_absent=frozenset(), overrides={})
        _NESTED[cls] = built
    return built  # type: ignore[no-any-return]


def build_payload_structure(
    cls: type[Any],
    aliases: Sequence[tuple[str, tuple[str, ...]]],
    null_means_absent: frozenset[str],
    lenient_weights: frozenset[str] = frozenset(),
) -> FastStructure:
    """The fast structure function for an event class's payload, given the codec's alias
    fallbacks (field → wire names, first truthy wins, else the field's own value), the fields
    where null means absent, and the fields read by the codec's lenient weights hook."""
    overrides = {name: _lenient_weights_builder() for name in lenient_weights}
    return _build(  # type: ignore[no-any-return]
        cls,
        nested=False,
        aliases=dict(aliases),
        null_means_absent=null_means_absent,
        overrides=overrides,
    )


def build_envelope_decoder(
    cls: type[Any],
    aliases: Sequence[tuple[str, tuple[str, ...]]],
    null_means_absent: frozenset[str],
    lenient_weights: frozenset[str],
    wrapping: Wrapping,
    *,
    json_only: bool = False,
) -> Callable[[dict[str, Any]], Any]:
    """As `build_payload_structure`, for a whole envelope dict whose `type` is `cls.TAG`:
    the envelope fields checked as the codec checks them, then the payload; returns
    `Success(Envelope)` or None. `json_only`: for dicts straight from a JSON parser."""
    overrides = {name: _lenient_weights_builder() for name in lenient_weights}
    return _build(  # type: ignore[no-any-return]
        cls,
        nested=False,
        aliases=dict(aliases),
        null_means_absent=null_means_absent,
        overrides=overrides,
        wrapping=wrapping,
        json_only=json_only,
    )
