"""The codec's fast path never changes an answer: `decode` equals the general path on every input.

Compared by `repr` as well as `==`, so an int where a float belongs, -0.0 for 0.0, a plain dict
for a `FrozenConfigMap` or a list for a tuple would all show.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from selfplay_core import codec
from selfplay_core import events as ev
from selfplay_core.codec import decode, encode
from selfplay_core.testing import events as evst


def _same_as_general(raw: Any, *, json_types: bool = True) -> None:
    general = codec._decode_general(raw)
    decoders = (decode, codec.decode_json) if json_types else (decode,)
    for decoder in decoders:
        fast = decoder(raw)
        assert fast == general
        assert repr(fast) == repr(general)


_NEAR_MISSES: list[Any] = [
    None,
    0,
    1,
    -1,
    2.0,
    -0.0,
    0.0,
    -2.5,
    1e308,
    10**400,
    2**63,
    math.nan,
    math.inf,
    -math.inf,
    True,
    False,
    "",
    "x",
    "hex8_2p",
    "hex8_9p",
    "HEX8_2P",
    [],
    ["hex8_2p"],
    {},
    {"hex8_2p": 1.0},
    {"hex8_2p": 1},
    {"hex8_2p": -1},
    {"hex8_2p": math.nan},
    {"square8_3p": 2.0, "hex8_2p": 1.0},
    {"hex8_2p": 1.0, "bogus_2p": 1.0},
    {"hex8_2p": {"exploration_boost": 1.5, "training_pending": True}},
    [{"node_id": "n"}],
    [{"node_id": ""}],
    [{"node_id": "n", "gpu_memory_gb": -1.0}],
    [{"node_id": "n", "current_jobs": 2.0, "is_ephemeral": 1}],
    [{"node_id": "n", "gpu_type": None}],
]

_ALIAS_NAMES = [
    "config",
    "config_key",
    "node_name",
    "host",
    "node_id",
    "rate_multiplier",
    "new_rate",
    "alive_peers",
    "total_peers",
    "node_count",
]


@given(evst.envelopes())
def test_valid_envelopes_decode_alike(envelope: ev.Envelope) -> None:
    record = encode(envelope)
    _same_as_general(record)
    _same_as_general(json.loads(json.dumps(record)))


@given(evst.envelope_like())
def test_envelope_like_junk_decodes_alike(record: dict[str, Any]) -> None:
    _same_as_general(record)


@given(
    evst.envelopes(),
    st.data(),
    st.sampled_from(_NEAR_MISSES) | evst.json_values(),
)
def test_one_field_changed_decodes_alike(envelope: ev.Envelope, data: Any, value: Any) -> None:
    record = encode(envelope)
    payload = record["payload"]
    names = sorted(set(payload) | set(_ALIAS_NAMES))
    name = data.draw(st.sampled_from(names))
    where = data.draw(st.sampled_from(["payload", "payload", "payload", "envelope"]))
    if where == "payload":
        payload[name] = value
    else:
        key = data.draw(
            st.sampled_from(["id", "type", "schema_version", "at", "source", "payload"])
        )
        record[key] = value
    _same_as_general(record)


@given(evst.envelopes(), st.data())
def test_fields_dropped_or_nulled_decode_alike(envelope: ev.Envelope, data: Any) -> None:
    record = encode(envelope)
    payload = record["payload"]
    for name in sorted(payload):
        action = data.draw(st.sampled_from(["keep", "keep", "drop", "null"]))
        if action == "drop":
            del payload[name]
        elif action == "null":
            payload[name] = None
    _same_as_general(record)


@given(evst.envelopes(evst.event_of(ev.SourcesRefreshed)), st.data())
def test_refresh_maps_reordered_or_retyped_decode_alike(envelope: ev.Envelope, data: Any) -> None:
    record = encode(envelope)
    for name, value in list(record["payload"].items()):
        if isinstance(value, dict) and value:
            items = list(value.items())
            items = data.draw(st.permutations(items))
            if data.draw(st.booleans()):
                key, item = items[0]
                if isinstance(item, float) and item.is_integer() and abs(item) < 2**53:
                    items[0] = (key, int(item))  # an integral number written as an int
            record["payload"][name] = dict(items)
    _same_as_general(record)


class _Text(str):
    """A str subclass: only a Python caller could hand one over, never JSON."""


class _Raising:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no comparing")

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise RuntimeError("no truth")


@example(_Text("hex8_2p"))
@example(_Raising())
@example(_Text("n"))
@given(st.just(0))
def test_python_objects_decode_alike(value: Any) -> None:
    base = {"id": "e", "type": "selfplay_complete", "schema_version": 1, "at": 1.0, "source": ""}
    for payload in (
        {"config_key": value},
        {"config_key": "hex8_2p", "extra": value},
        {"config": value, "config_key": ""},
    ):
        _same_as_general(dict(base, payload=payload), json_types=False)
    records = [
        dict(base, type="node_unhealthy", payload={"node_id": value}),
        dict(base, type="curriculum_rebalanced", payload={"weights": {value: 1.0}}),
        dict(base, type="sources_refreshed", payload={"current_elos": {value: 1.0}}),
        dict(base, id=value, payload={"config_key": "hex8_2p"}),
        dict(base, type=value, payload={"config_key": "hex8_2p"}),
    ]
    for record in records:
        _same_as_general(record, json_types=False)
