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
    codec.NOT_UTF8,
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


# --- hostile strings: what decodes, the log can write; what it cannot write is refused ---


def _json_line(encoded: dict[str, Any]) -> bytes:
    """The envelope as the log writes it: UTF-8 JSON text (raises if a string cannot be)."""
    return json.dumps(encoded, ensure_ascii=False, allow_nan=False).encode("utf-8")


@given(evst.hostile_envelopes())
def test_hostile_but_encodable_strings_round_trip_through_utf8_text(envelope: ev.Envelope) -> None:
    line = _json_line(encode(envelope))
    assert decode(json.loads(line.decode("utf-8"))) == Success(envelope)


def _string_slots(value: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], str]]:
    """Every string value inside `value` with its path (as a DecodeError names it), and every
    mapping key marked with a trailing "<key>"."""
    if isinstance(value, str):
        return [(path, "value")]
    if isinstance(value, dict):
        found = [((*path, key), "key") for key in value]
        for key, item in value.items():
            found += _string_slots(item, (*path, key))
        return found
    if isinstance(value, list):
        return [
            slot for i, item in enumerate(value) for slot in _string_slots(item, (*path, str(i)))
        ]
    return []


def _replace(record: Any, path: tuple[str, ...], kind: str, text: str) -> Any:
    """A copy of `record` with the string at `path` (a value, or the key itself) set to `text`."""
    if len(path) == 1 and kind == "key":
        return {(text if k == path[0] else k): v for k, v in record.items()}
    head, rest = path[0], path[1:]
    if isinstance(record, list):
        out = list(record)
        out[int(head)] = text if not rest else _replace(record[int(head)], rest, kind, text)
        return out
    out = dict(record)
    out[head] = text if not rest else _replace(record[head], rest, kind, text)
    return out


@given(evst.hostile_envelopes(), evst.unencodable_texts, st.data())
def test_a_string_the_log_cannot_write_is_a_decode_error_with_its_path(
    envelope: ev.Envelope, bad: str, data: st.DataObject
) -> None:
    record = encode(envelope)
    unknown = isinstance(envelope.event, ev.UnknownEvent)
    slots = [(("id",), "value"), (("source",), "value")]
    slots += [
        (path, kind)
        for path, kind in _string_slots(record["payload"], ("payload",))
        if kind == "value" or unknown  # a known event's keys are its field names
    ]
    if unknown:
        slots.append((("type",), "value"))
    path, kind = data.draw(st.sampled_from(slots))
    result = decode(_replace(record, path, kind, bad))
    assert isinstance(result, Failure), (path, kind)
    error = result.failure()
    expected_path = path[:-1] if kind == "key" else path  # a bad key is named by its mapping
    assert error.path == ".".join(expected_path)
    assert error.problem in {codec.NOT_UTF8, codec.UNKNOWN_CONFIG}
    str(error).encode("utf-8")  # the error itself is printable
