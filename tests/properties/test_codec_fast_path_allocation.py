"""`AllocationDecided`'s fast decoder never changes an answer: on real decisions it builds exactly
what the general path builds (same values, same types, same key order), and on payloads changed
anywhere inside (a value, a key, a dropped field, a null, a value moved from elsewhere, an
integral float for an integer, reordered maps) `decode` still equals the general path.

Compared by `repr` as well as `==`, so a `FrozenConfigMap` where a mappingproxy belongs, node
ids out of order, an int where a float belongs or a list for a tuple would all show.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
from hypothesis import given
from hypothesis import strategies as st

from selfplay_core import codec
from selfplay_core import events as ev
from selfplay_core.allocation.values import (
    AllocationExplanation,
    AllocationRequest,
    BatchAllocation,
    ConfigDecision,
    NodeAllocation,
    UnmetConstraint,
)
from selfplay_core.codec import decode, encode
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.testing import events as evst

TAG = ev.AllocationDecided.TAG
GOLDEN_DIR = Path(__file__).resolve().parents[1] / "replay" / "golden"
CONFIG_TEXTS = frozenset(str(key) for key in ALL_CONFIGS)


def _fast(raw: Any, *, json_only: bool) -> Any:
    decoders = codec._FAST_JSON_DECODERS if json_only else codec._FAST_DECODERS
    decoder = decoders[TAG]
    assert decoder is not None  # AllocationDecided has a fast decoder
    return decoder(raw)


def _nan_score(result: Any) -> bool:
    """A decision with a NaN score (`score` has no validator): attrs compares field by field,
    so such a value is not even equal to itself; its repr still says everything."""
    event = getattr(result.value_or(None), "event", None)
    configs = event.result.explanation.configs if isinstance(event, ev.AllocationDecided) else ()
    return any(math.isnan(d.score) for d in configs if d.score is not None)


def _assert_same(fast: Any, general: Any) -> None:
    assert repr(fast) == repr(general)
    assert fast == general or _nan_score(general)


def _same_as_general(raw: Any, *, json_types: bool = True) -> Any:
    general = codec._decode_general(raw)
    decoders = (decode, codec.decode_json) if json_types else (decode,)
    for decoder in decoders:
        _assert_same(decoder(raw), general)
    return general


def _takes_fast_path(record: dict[str, Any]) -> ev.Envelope:
    """The fast decoder itself (not the general path behind it) builds the general result."""
    general = codec._decode_general(record)
    for json_only in (False, True):
        fast = _fast(record, json_only=json_only)
        assert fast is not None
        _assert_same(fast, general)
    envelope: ev.Envelope = general.unwrap()
    return envelope


# --- valid decisions: real ones (the allocator on drawn inputs) and free-form ones ---

_scores = st.none() | st.floats()  # no validator: NaN and infinities are values too
_counts = st.integers(0, 10**6)
_optional_counts = st.none() | _counts
_texts = st.text(max_size=8)
_node_ids = st.text(max_size=6)
_config_counts = st.dictionaries(evst.configs, _counts, max_size=4)
_config_texts = st.dictionaries(evst.configs, _texts, max_size=3)
_node_counts = st.dictionaries(_node_ids, _counts, max_size=3)

_DECISION_COUNTS = (
    "base_games",
    "floor_games",
    "minimum_games",
    "donated",
    "received",
    "unthrottled_games",
    "games",
    "placed",
    "unplaced",
)
_decisions = st.builds(
    ConfigDecision,
    config_key=evst.configs,
    score=_scores,
    games_count=_optional_counts,
    starvation=st.sampled_from(("none", "critical", "emergency")) | _texts,
    **dict.fromkeys(_DECISION_COUNTS, _counts),
    note=_texts,
)
_unmet = st.builds(
    UnmetConstraint,
    config_key=evst.configs,
    kind=st.sampled_from(("starvation_floor", "4p_minimum", "placement")),
    required=_counts,
    achieved=_counts,
    reason=_texts,
)
_explanations = st.builds(
    AllocationExplanation,
    mode=st.sampled_from(("reference", "budget", "paused")),
    summary=_texts,
    requested_games_per_config=_counts,
    effective_games_per_config=_counts,
    throttle_multiplier=evst.non_negative_floats,
    health_factor=evst.non_negative_floats,
    requested_budget=_optional_counts,
    effective_budget=_optional_counts,
    configs=st.lists(_decisions, max_size=3).map(tuple),
    skipped=_config_texts,
    unmet=st.lists(_unmet, max_size=2).map(tuple),
    excluded_nodes=st.dictionaries(_node_ids, _texts, max_size=3),
    unplaced_reasons=_config_texts,
)
_node_allocations = st.builds(
    NodeAllocation,
    node_id=_node_ids,
    games_by_config=_config_counts,
    games_cap=_counts,
    large_board_cap=_counts,
)
_free_form = st.builds(
    ev.AllocationDecided,
    request=st.builds(
        AllocationRequest,
        games_per_config=_counts,
        max_configs=_counts,
        target_games=_optional_counts,
        now=evst.finite_floats,
    ),
    result=st.builds(
        BatchAllocation,
        games_by_config=_config_counts,
        placements=st.dictionaries(evst.configs, _node_counts, max_size=3),
        unplaced=_config_counts,
        explanation=_explanations,
        nodes=st.lists(_node_allocations, max_size=3).map(tuple),
    ),
)

real_decisions = evst.envelopes(evst.event_of(ev.AllocationDecided))
any_decisions = evst.envelopes(evst.event_of(ev.AllocationDecided) | _free_form)


@given(real_decisions)
def test_real_decisions_take_the_fast_path(envelope: ev.Envelope) -> None:
    record = encode(envelope)
    assert _takes_fast_path(record) == envelope
    assert _takes_fast_path(json.loads(json.dumps(record))) == envelope


@given(evst.envelopes(_free_form))
def test_free_form_decisions_take_the_fast_path(envelope: ev.Envelope) -> None:
    record = encode(envelope)
    decoded = _takes_fast_path(record)
    assert repr(decoded) == repr(envelope)


def _golden_decisions() -> Iterator[dict[str, Any]]:
    for log in sorted(GOLDEN_DIR.glob("*.jsonl")):
        for line in log.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record.get("type") == TAG:
                yield record


def test_golden_log_decisions_take_the_fast_path() -> None:
    records = list(_golden_decisions())
    assert len(records) >= 10
    for record in records:
        envelope = _takes_fast_path(record)
        assert encode(envelope) == record  # the log holds canonical encodings


def test_fast_path_builds_the_field_types_of_the_constructor() -> None:
    """The freezers' types, not the codec's own `FrozenConfigMap`; node ids sorted; tuples."""
    record = next(_golden_decisions())
    result = _takes_fast_path(record).event.result
    rebuilt = attrs.evolve(result)  # through __init__: converters and validators
    for value, expected in ((result, rebuilt), (result.explanation, rebuilt.explanation)):
        for field in attrs.fields(type(value)):
            mine, theirs = getattr(value, field.name), getattr(expected, field.name)
            assert type(mine) is type(theirs), field.name
            assert mine == theirs
            if isinstance(mine, dict | type(rebuilt.games_by_config)):
                assert list(mine) == list(theirs), field.name  # same key order
    assert type(result.games_by_config).__name__ == "mappingproxy"
    assert all(type(node) is NodeAllocation for node in result.nodes)
    for per_node in result.placements.values():
        assert list(per_node) == sorted(per_node)


# --- changed payloads: anything the fast path accepts, the general path builds the same way ---

_NEAR_MISSES: list[Any] = [
    None,
    0,
    1,
    -1,
    2.0,
    1.5,
    -0.0,
    -2.5,
    10**400,
    2**63,
    math.nan,
    math.inf,
    True,
    False,
    "",
    "x",
    "none",
    "hex8_2p",
    "hex8_9p",
    "HEX8_2P",
    "hex8_\uff12p",  # a full-width digit: `ConfigKey.parse` reads it, the fast path does not
    [],
    [{}],
    {},
    {"hex8_2p": 1},
    {"hex8_2p": -1},
    {"hex8_2p": 1.0},
    {"hex8_2p": "why"},
    {"hex8_2p": {"node-1": 3}},
    {"hex8_2p": {"node-1": -3}},
    {"node-1": 1},
    {"node-1": "why"},
    {"square8_3p": 2, "hex8_2p": 1},
]
_KEYS = ["", "x", "hex8_9p", "HEX8_2P", "hex8_\uff12p", "hexagonal_4p", "hex8_2p", "node-0"]


def _locations(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON document: each object member and each array item, depth first."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return
    for key, item in items:
        yield (*path, key)
        yield from _locations(item, (*path, key))


def _at(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


def _mutate(payload: dict[str, Any], data: st.DataObject, *, python: bool = False) -> None:
    places = list(_locations(payload))
    path = data.draw(st.sampled_from(places))
    parent, key = _at(payload, path[:-1]), path[-1]
    value = parent[key]
    actions = ["replace", "replace", "drop", "null", "transplant", "rekey"]
    if type(value) is int and abs(value) < 2**53:
        actions += ["float", "float"]
    if type(value) is int and value > 0:
        actions.append("negate")
    if isinstance(value, dict) and len(value) > 1:
        actions.append("shuffle")
    if python:
        actions += ["python", "python"]
    action = data.draw(st.sampled_from(actions))
    if action == "replace":
        parent[key] = copy.deepcopy(data.draw(st.sampled_from(_NEAR_MISSES) | evst.json_values()))
    elif action == "drop":
        del parent[key]
    elif action == "null":
        parent[key] = None
    elif action == "transplant":  # a value from elsewhere: a node map for a config map, …
        parent[key] = copy.deepcopy(_at(payload, data.draw(st.sampled_from(places))))
    elif action == "rekey" and isinstance(parent, dict):
        new_key = data.draw(st.sampled_from(_KEYS) | st.text(max_size=4))
        items = [(new_key if k == key else k, v) for k, v in parent.items()]
        parent.clear()
        parent.update(items)
    elif action == "float":
        parent[key] = float(value)
    elif action == "negate":
        parent[key] = -value
    elif action == "shuffle":
        items = data.draw(st.permutations(list(value.items())))
        parent[key] = dict(items)
    elif action == "python":
        parent[key] = data.draw(st.sampled_from(_python_versions(value)))


class _Text(str):
    """A str subclass: only a Python caller could hand one over, never JSON."""


class _Dict(dict[Any, Any]):
    pass


class _Raising:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no comparing")

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise RuntimeError("no truth")


def _python_versions(value: Any) -> list[Any]:
    """What only a Python caller could pass where `value` is: a tuple for a list, a dict
    subclass, str-subclass keys, ConfigKey objects for strings, an object that cannot compare."""
    out: list[Any] = [_Raising(), object()]
    if isinstance(value, list):
        out.append(tuple(value))
    if isinstance(value, dict):
        out.append(_Dict(value))
        out.append({_Text(k): v for k, v in value.items()})
        out.append({ConfigKey.parse(k) if k in CONFIG_TEXTS else k: v for k, v in value.items()})
    if isinstance(value, str):
        out.append(_Text(value))
        if value in CONFIG_TEXTS:
            out.append(ConfigKey.parse(value))
    return out


@given(any_decisions, st.data(), st.integers(1, 3))
def test_changed_decisions_decode_alike(envelope: ev.Envelope, data: Any, changes: int) -> None:
    record = encode(envelope)
    for _ in range(changes):
        _mutate(record, data)
    _same_as_general(record)
    _same_as_general(json.loads(json.dumps(record)))


@given(any_decisions, st.data())
def test_reordered_and_retyped_maps_decode_alike(envelope: ev.Envelope, data: Any) -> None:
    """Every object's members in another order, and some integers written as floats."""
    record = encode(envelope)
    for path in list(_locations(record["payload"]))[::-1]:  # innermost first
        parent = _at(record["payload"], path[:-1])
        value = parent[path[-1]]
        if isinstance(value, dict) and len(value) > 1:
            parent[path[-1]] = dict(data.draw(st.permutations(list(value.items()))))
        elif type(value) is int and data.draw(st.integers(0, 9)) == 0:
            parent[path[-1]] = float(value)
    _same_as_general(record)


def test_python_objects_in_a_decision_decode_alike() -> None:
    """Worked cases of what only a Python caller could pass, each where it reads differently
    (a str subclass is a config key in a config map, not a node id; a tuple is an array)."""
    record = encode(ev.make_envelope(_example_decision(), id="e", at=1.0, source=""))
    _takes_fast_path(record)
    explanation = record["payload"]["result"]["explanation"]
    cases: list[tuple[tuple[Any, ...], Any]] = [
        (("result", "games_by_config"), {_Text("hex8_2p"): 5, "square8_2p": 1}),
        (("result", "placements"), {"square8_2p": {_Text("b"): 1}}),
        (("result", "placements"), {"square8_2p": _Dict(b=1)}),
        (("result", "nodes"), ()),
        (("result", "explanation", "configs"), tuple(explanation["configs"])),
        (("result", "explanation", "configs", 0, "config_key"), _Text("hex8_2p")),
        (("result", "explanation", "configs", 0, "config_key"), ConfigKey.parse("hex8_2p")),
        (("result", "explanation", "configs", 0, "note"), _Raising()),
        (("result", "explanation", "excluded_nodes"), {_Raising(): "x"}),
        (("request",), _Dict(games_per_config=5)),
        (("result", "unplaced"), {ConfigKey.parse("hex8_2p"): 1}),
    ]
    for path, value in cases:
        changed = copy.deepcopy(record)
        _at(changed["payload"], path[:-1])[path[-1]] = value
        _same_as_general(changed, json_types=False)


@given(real_decisions, st.data(), st.integers(1, 2))
def test_python_objects_inside_decode_alike(envelope: ev.Envelope, data: Any, changes: int) -> None:
    record = encode(envelope)
    for _ in range(changes):
        _mutate(record, data, python=True)
    _same_as_general(record, json_types=False)


def _example_decision() -> ev.AllocationDecided:
    decision = ConfigDecision(ConfigKey.parse("hex8_2p"), 0.5, 10, "none", *([1] * 9))
    return ev.AllocationDecided(
        AllocationRequest(),
        BatchAllocation(
            games_by_config={"square8_2p": 1},
            placements={"square8_2p": {"b": 1, "a": 0}},
            unplaced={},
            explanation=AllocationExplanation(
                "reference", "s", 1, 1, 1.0, 1.0, configs=(decision,)
            ),
        ),
    )
