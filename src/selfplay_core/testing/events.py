"""Hypothesis strategies for events, envelopes and arbitrary JSON.

`events()` draws any valid event (every class in the registry, plus `UnknownEvent`);
`envelopes()` wraps them. `json_values()` is any value `json.loads` can return (NaN and
infinities included, as Python's parser accepts them); `envelope_like()` is a dict shaped like an
envelope whose fields and payload are junk or nearly valid, to probe the decoder's error paths.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs
from hypothesis import strategies as st

from selfplay_core import _validators as validators
from selfplay_core import config_maps, reference_events
from selfplay_core import events as ev
from selfplay_core.allocation import allocate
from selfplay_core.cluster import Backpressure, NodeCapability
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.signals import FeedbackSignal
from selfplay_core.testing import strategies as alloc

configs: st.SearchStrategy[ConfigKey] = st.sampled_from(ALL_CONFIGS)
finite_floats: st.SearchStrategy[float] = st.floats(allow_nan=False, allow_infinity=False)
non_negative_floats: st.SearchStrategy[float] = st.floats(
    min_value=0.0, allow_nan=False, allow_infinity=False
)
counts: st.SearchStrategy[int] = st.integers(min_value=0, max_value=10**12)
texts: st.SearchStrategy[str] = st.text(max_size=16)
node_ids: st.SearchStrategy[str] = st.text(min_size=1, max_size=12)
ids: st.SearchStrategy[str] = st.text(min_size=1, max_size=24)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


# Field strategy by the validator the field declares: covers every simple field of every class,
# so a field added later is drawn without touching this module.
_BY_VALIDATOR: dict[Callable[..., None], st.SearchStrategy[Any]] = {
    validators.finite: finite_floats,
    validators.optional_finite: _optional(finite_floats),
    validators.non_negative: non_negative_floats,
    validators.optional_non_negative: _optional(non_negative_floats),
    validators.count: counts,
    validators.optional_count: _optional(counts),
    validators.text: texts,
    validators.optional_text: _optional(texts),
    validators.non_empty_text: node_ids,
    validators.optional_bool: _optional(st.booleans()),
    reference_events.text_or_int: texts | st.integers(min_value=-(10**6), max_value=10**6),
}

_BY_CONVERTER: dict[Callable[..., Any], st.SearchStrategy[Any]] = {
    ev.to_config_key: configs,
    config_maps.optional_config_key: _optional(configs),
    reference_events.config_tuple: st.lists(configs, max_size=4).map(tuple),
}


def _config_map(values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[ConfigKey, Any]]:
    return st.dictionaries(configs, values, max_size=len(ALL_CONFIGS))


node_capabilities: st.SearchStrategy[NodeCapability] = st.builds(
    NodeCapability,
    node_id=node_ids,
    gpu_type=texts,
    gpu_memory_gb=non_negative_floats,
    is_ephemeral=st.booleans(),
    current_load=finite_floats,
    current_jobs=counts,
    data_lag_seconds=non_negative_floats,
)

_pressures = st.floats(min_value=0.0, max_value=1.0)
backpressures: st.SearchStrategy[Backpressure] = st.builds(
    Backpressure,
    queue_pressure=_pressures,
    training_pressure=_pressures,
    disk_pressure=_pressures,
    sync_pressure=_pressures,
    memory_pressure=_pressures,
    emergency_active=st.booleans(),
)

feedback_signals: st.SearchStrategy[FeedbackSignal] = st.builds(
    FeedbackSignal, exploration_boost=finite_floats, training_pending=st.booleans()
)

sources_refreshed: st.SearchStrategy[ev.SourcesRefreshed] = st.builds(
    ev.SourcesRefreshed,
    current_elos=_optional(_config_map(finite_floats)),
    elo_velocities=_optional(_config_map(finite_floats)),
    game_counts=_optional(_config_map(counts)),
    staleness_hours=_optional(_config_map(finite_floats)),
    curriculum_weights=_optional(_config_map(finite_floats)),
    feedback=_optional(_config_map(feedback_signals)),
    improvement_boosts=_optional(_config_map(finite_floats)),
    momentum_multipliers=_optional(_config_map(finite_floats)),
    quality_scores=_optional(_config_map(finite_floats)),
    cascade_multipliers=_optional(_config_map(finite_floats)),
    priority_overrides=_optional(_config_map(counts)),
    nodes=_optional(st.lists(node_capabilities, max_size=4).map(tuple)),
    training_queue_depth=_optional(counts),
    backpressure=_optional(backpressures),
)

curriculum_rebalanced_weights = _config_map(finite_floats)


def _field_strategy(cls: type[Any], field: attrs.Attribute[Any]) -> st.SearchStrategy[Any]:
    if cls is ev.CurriculumRebalanced and field.name == "weights":
        return curriculum_rebalanced_weights
    converter: Any = field.converter
    if converter is not None and converter in _BY_CONVERTER:
        return _BY_CONVERTER[converter]
    if field.validator is not None and field.validator in _BY_VALIDATOR:
        return _BY_VALIDATOR[field.validator]
    raise LookupError(f"no strategy for {cls.__name__}.{field.name}")


def event_of(cls: type[Any]) -> st.SearchStrategy[Any]:
    """Valid instances of one event class."""
    if cls is ev.SourcesRefreshed:
        return sources_refreshed
    if cls is ev.UnknownEvent:
        return unknown_events()
    if cls is ev.AllocationDecided:
        return _allocation_decided()
    return st.builds(cls, **{f.name: _field_strategy(cls, f) for f in attrs.fields(cls)})


def _allocation_decided() -> st.SearchStrategy[ev.AllocationDecided]:
    # Real decisions: the allocator run on drawn priorities, clusters and requests.
    @st.composite
    def build(draw: st.DrawFn) -> ev.AllocationDecided:
        request = draw(alloc.requests())
        result = allocate(draw(alloc.priorities()), draw(alloc.clusters(max_nodes=4)), request)
        return ev.AllocationDecided(request=request, result=result)

    return build()


def _is_unknown_type(text: str) -> bool:
    return ev.event_class_for(text) is None


json_scalars: st.SearchStrategy[Any] = (
    st.none() | st.booleans() | st.integers() | finite_floats | st.text(max_size=12)
)


def json_documents(
    scalars: st.SearchStrategy[Any] = json_scalars, *, max_leaves: int = 12
) -> st.SearchStrategy[Any]:
    """Nested JSON made of `scalars`, lists and string-keyed objects."""
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def json_values() -> st.SearchStrategy[Any]:
    """Whatever `json.loads` can return, NaN and ±inf included."""
    return json_documents(json_scalars | st.floats())


def unknown_events() -> st.SearchStrategy[ev.UnknownEvent]:
    """Events of a type we do not know, with a (finite) JSON payload."""
    return st.builds(
        ev.UnknownEvent,
        type=st.text(max_size=24).filter(_is_unknown_type),
        payload=st.dictionaries(st.text(max_size=8), json_documents(), max_size=5),
    )


def events(*, include_unknown: bool = True) -> st.SearchStrategy[Any]:
    """Any valid event of any class (each class equally likely)."""
    classes = list(ev.EVENT_CLASSES) + ([ev.UnknownEvent] if include_unknown else [])
    return st.one_of([event_of(cls) for cls in classes])


def envelopes(
    event_strategy: st.SearchStrategy[Any] | None = None,
) -> st.SearchStrategy[ev.Envelope]:
    """Valid envelopes (current schema version) around `event_strategy` (default: any event)."""
    return st.builds(
        ev.make_envelope,
        event_strategy if event_strategy is not None else events(),
        id=ids,
        at=non_negative_floats,
        source=texts,
    )


# --- hostile strings: what a publisher may send that a careless log would mangle ---

_CONTROL = st.characters(max_codepoint=0x1F) | st.sampled_from("\x7f\x85\u2028\u2029\ufeff\u200b")

hostile_texts: st.SearchStrategy[str] = (
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40)  # any encodable code point
    | st.text(_CONTROL, min_size=1, max_size=20)  # control characters, line separators, BOM
    | st.tuples(st.text(_CONTROL, min_size=1, max_size=3), st.integers(1_000, 100_000)).map(
        lambda parts: (parts[0] + "\U0001f600é")[: parts[1]] * (parts[1] // 4 + 1)
    )  # very long
)
"""Strings UTF-8 can encode, chosen to be hard on a log: controls, non-BMP, very long."""

unencodable_texts: st.SearchStrategy[str] = st.builds(
    lambda head, surrogate, tail: head + surrogate + tail,
    st.text(max_size=6),
    st.characters(categories=["Cs"]),
    st.text(max_size=6),
)
"""Strings with a lone surrogate: no UTF-8 log can write them."""


def hostile_envelopes() -> st.SearchStrategy[ev.Envelope]:
    """Valid envelopes whose id, source and free-text fields (and an unknown event's keys and
    strings) are `hostile_texts`."""
    hostile_ids = hostile_texts.filter(bool)
    hostile_events = st.one_of(
        st.builds(ev.SelfplayTargetUpdated, configs, priority=hostile_texts, reason=hostile_texts),
        st.builds(ev.RegressionDetected, configs, severity=hostile_texts),
        st.builds(ev.NodeOverloaded, node_id=hostile_ids, resource_type=hostile_texts),
        st.builds(
            ev.SourcesRefreshed,
            nodes=st.lists(
                st.builds(NodeCapability, node_id=hostile_ids, gpu_type=hostile_texts), max_size=2
            ).map(tuple),
        ),
        st.builds(
            ev.UnknownEvent,
            type=hostile_ids.filter(_is_unknown_type),
            payload=st.dictionaries(
                hostile_texts, json_documents(st.none() | st.integers() | hostile_texts), max_size=3
            ),
        ),
    )
    return st.builds(
        ev.make_envelope,
        hostile_events,
        id=hostile_ids,
        at=non_negative_floats,
        source=hostile_texts,
    )


def _junk_field(field: attrs.Attribute[Any]) -> st.SearchStrategy[Any]:
    # Near misses for a field: wrong types, NaN/inf, negatives, bad config strings, nulls.
    return (
        st.sampled_from(
            [None, "", "bogus", "hex8_9p", -1, -0.5, math.nan, math.inf, True, [], {}, "1.5"]
        )
        | json_values()
    )


def envelope_like() -> st.SearchStrategy[dict[str, Any]]:
    """Dicts shaped like envelopes, with a known or unknown type and junk in random places."""
    known = st.sampled_from([cls.TAG for cls in ev.EVENT_CLASSES])
    type_names = known | known | known.map(str.upper) | st.text(max_size=12) | json_values()

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        tag = draw(type_names)
        cls = ev.event_class_for(tag) if isinstance(tag, str) else None
        payload: dict[str, Any] = {}
        if cls is not None:
            for field in attrs.fields(cls):
                choice = draw(st.integers(0, 3))
                if choice == 0:
                    continue
                if choice == 1 and cls is not ev.SourcesRefreshed:
                    try:
                        value = draw(_field_strategy(cls, field))
                        from selfplay_core.codec import encode_value

                        payload[field.name] = encode_value(value)
                        continue
                    except LookupError:
                        pass
                payload[field.name] = draw(_junk_field(field))
        payload.update(draw(st.dictionaries(st.text(max_size=8), json_values(), max_size=3)))

        def mostly(valid: st.SearchStrategy[Any]) -> Any:
            # one field in ten is junk, so payload-level problems get their share of examples
            return draw(json_values()) if draw(st.integers(0, 9)) == 0 else draw(valid)

        record: dict[str, Any] = {
            "id": mostly(ids),
            "type": tag,
            "schema_version": mostly(st.sampled_from([1, 1, 1, 0, 2, -1, None, "1", 1.0])),
            "at": mostly(non_negative_floats),
            "source": mostly(texts),
            "payload": mostly(st.just(payload)),
        }
        if draw(st.integers(0, 9)) == 0:
            record.pop(draw(st.sampled_from(sorted(record))))
        return record

    return build()
