"""Codec properties: decode∘encode is identity, decode never raises, encode is plain JSON."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from selfplay_core import codec
from selfplay_core import events as ev
from selfplay_core.codec import decode, encode
from selfplay_core.testing import events as evst

PROBLEMS = {
    codec.MISSING,
    codec.WRONG_TYPE,
    codec.NOT_FINITE,
    codec.NEGATIVE,
    codec.UNKNOWN_CONFIG,
    codec.EMPTY,
    codec.NOT_JSON,
    codec.FUTURE_VERSION,
    codec.UNSUPPORTED_VERSION,
    codec.INVALID,
}


@given(evst.envelopes())
def test_decode_of_encode_is_identity(envelope: ev.Envelope) -> None:
    assert decode(encode(envelope)) == Success(envelope)


@given(evst.envelopes())
def test_encode_survives_json_unchanged(envelope: ev.Envelope) -> None:
    encoded = encode(envelope)
    text = json.dumps(encoded, allow_nan=False)
    assert json.loads(text) == encoded
    # and the text itself is stable: same envelope, same bytes
    assert json.dumps(encode(envelope), allow_nan=False) == text


@given(evst.envelopes())
def test_decode_from_json_text_is_identity(envelope: ev.Envelope) -> None:
    assert decode(json.loads(json.dumps(encode(envelope)))) == Success(envelope)


def _check_result(result: object) -> None:
    assert isinstance(result, Success | Failure)
    if isinstance(result, Failure):
        error = result.failure()
        assert error.problem in PROBLEMS
        assert isinstance(error.path, str)
        assert error.message
        # the detailed pass always finds what the fast pass rejected
        assert "fast path only" not in error.message
    else:
        envelope = result.unwrap()
        # whatever decodes is a valid envelope that encodes to plain JSON and back
        assert decode(json.loads(json.dumps(encode(envelope), allow_nan=False))) == result


@given(evst.json_values())
def test_decode_of_arbitrary_json_never_raises(value: Any) -> None:
    _check_result(decode(value))


@given(evst.envelope_like())
def test_decode_of_envelope_like_junk_never_raises(record: dict[str, Any]) -> None:
    _check_result(decode(record))


@given(st.sampled_from(ev.EVENT_CLASSES), st.dictionaries(st.text(max_size=10), evst.json_values()))
def test_decode_of_random_payload_for_every_type_never_raises(
    cls: type[Any], payload: dict[str, Any]
) -> None:
    _check_result(
        decode(
            {
                "id": "e",
                "type": cls.TAG,
                "schema_version": 1,
                "at": 1.0,
                "source": "",
                "payload": payload,
            }
        )
    )


@given(evst.envelopes(evst.unknown_events()))
def test_unknown_events_are_preserved(envelope: ev.Envelope) -> None:
    decoded = decode(encode(envelope)).unwrap()
    assert isinstance(decoded.event, ev.UnknownEvent)
    assert encode(decoded) == encode(envelope)


@given(evst.envelopes(), st.dictionaries(st.text(max_size=6), evst.json_values(), max_size=3))
def test_extra_payload_fields_are_ignored(envelope: ev.Envelope, extra: dict[str, Any]) -> None:
    if isinstance(envelope.event, ev.UnknownEvent):
        return  # an unknown event keeps everything, by design
    record = encode(envelope)
    known_names = set(record["payload"]) | {
        "config",
        "node_name",
        "host",
        "rate_multiplier",
        "alive_peers",
        "total_peers",
        "node_count",
    }
    record["payload"].update({k: v for k, v in extra.items() if k not in known_names})
    assert decode(record) == Success(envelope)
