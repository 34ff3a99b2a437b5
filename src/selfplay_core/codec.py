"""The wire codec: envelopes ⇄ JSON-ready dicts, and any core value ⇄ plain data for snapshots.

Wire format (one JSON object per envelope)::

    {"id": "…", "type": "selfplay_complete", "schema_version": 1, "at": 1767225600.0,
     "source": "…", "payload": {…}}

Decoding is one path: the publishers' field aliases are resolved on the raw payload, then the
one cattrs converter (`selfplay_core._codec_converter`, with the envelope hook registered here)
structures the envelope and its event, and the attrs validators check every value once. The
converter's detailed validation names the field path and the problem of a failure.
`decode` never raises: every failure is a `DecodeError` in a `Failure`. A string the UTF-8 log
could not write (a lone surrogate), anywhere in the envelope, is a `not_utf8` error.

Aliases (§events, deviations.md): `config` for `config_key` on every config-keyed event;
`node_name` and `host` for `node_id` (HOST_OFFLINE, NODE_TERMINATED and NODE_OVERLOADED read
`host` first, as the reference does); `rate_multiplier` when `new_rate` is falsy;
`alive_peers` for `healthy_nodes`; `total_peers`/`node_count` for `total_nodes`; `games_added`,
`games_count`, `count` for NEW_GAMES_AVAILABLE's `new_games` (§later). An alias is used
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
from typing import Any, Final, TypeVar, cast

import attrs
from cattrs.errors import (
    AttributeValidationNote,
    BaseValidationError,
    IterableValidationNote,
)
from returns.result import Failure, Result, Success

from selfplay_core._codec_converter import (
    CONVERTER,
    STRUCTURE_EVENT,
    UNSTRUCTURE_EVENT,
    prepare_payload,
)
from selfplay_core._validators import FieldProblem, NotUtf8, check_utf8
from selfplay_core.configs import ConfigKeyError
from selfplay_core.events import (
    EVENT_TYPES,
    SCHEMA_VERSION,
    Envelope,
    Event,
    SelfplayRateChanged,
    UnknownEvent,
    event_class_for,
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
NOT_UTF8: Final = NotUtf8.problem
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
    """Internal: carries a DecodeError out of the envelope hook."""

    def __init__(self, error: DecodeError) -> None:
        super().__init__(str(error))
        self.error = error


def _fail(event_type: str | None, path: str, problem: str, message: str) -> _Reject:
    return _Reject(DecodeError(event_type, path, problem, message))


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


# --- the envelope hook: tag → event class dispatch, registered on the one converter ---


def _structure_envelope(raw: Any, _cls: Any) -> Envelope:
    if type(raw) is not dict:
        if not isinstance(raw, Mapping):
            raise _fail(None, "", WRONG_TYPE, f"expected an object, got {type(raw).__name__}")
        raw = dict(raw)
    record: dict[str, Any] = raw

    type_name = record.get("type")
    if type(type_name) is not str:
        if type_name is None:
            raise _fail(None, "type", MISSING, "no event type")
        raise _fail(None, "type", WRONG_TYPE, f"expected a string, got {type(type_name).__name__}")
    if not type_name.isascii():
        try:
            check_utf8("type", type_name)
        except NotUtf8 as problem:  # name the type as it can be printed
            printable = type_name.encode("utf-8", "backslashreplace").decode("utf-8")
            raise _fail(printable, "type", NOT_UTF8, problem.detail) from None
    version = record.get("schema_version")
    if version != SCHEMA_VERSION or type(version) is not int:
        record = _upcast(record, type_name, version)
    payload = record.get("payload")
    if payload is None:
        payload = {}
    elif type(payload) is not dict and not isinstance(payload, Mapping):  # dict: no ABC check
        raise _fail(
            type_name, "payload", WRONG_TYPE, f"expected an object, got {type(payload).__name__}"
        )
    event_id = record.get("id")
    if event_id is None:
        raise _fail(type_name, "id", MISSING, "no id")
    at = record.get("at")
    if at is None:
        raise _fail(type_name, "at", MISSING, "no time")
    if type(at) is int:
        try:
            at = float(at)
        except OverflowError:  # too big for a float: not finite
            at = math.inf
    source = record.get("source", "")

    cls = _CLASS_OF_TAG.get(type_name) or event_class_for(type_name)
    try:
        if cls is None:
            event: Event = UnknownEvent(type_name, _checked_json(type_name, payload, "payload"))
        else:
            try:
                event = STRUCTURE_EVENT[cls](prepare_payload(cls, payload), cls)
            except Exception as exc:
                _check_envelope_fields(event_id, at, source)  # an envelope problem is named first
                raise _Reject(_payload_error(cls, payload, exc)) from None
        return Envelope(event_id, at, source, event)
    except FieldProblem as problem:  # an envelope field (or an unknown event's type)
        tag = type_name if cls is None else cls.TAG
        raise _fail(tag, problem.field, problem.problem, problem.detail) from None


CONVERTER.register_structure_hook(Envelope, _structure_envelope)

_CLASS_OF_TAG: Final[dict[str, type[Any]]] = dict(EVENT_TYPES)  # a dict reads faster than a proxy

_ENVELOPE_FIELDS: Final = tuple(
    field for field in attrs.fields(Envelope) if field.name in ("id", "at", "source")
)


def _check_envelope_fields(event_id: object, at: object, source: object) -> None:
    """Run the Envelope's own validators of `id`, `at` and `source` (raising their
    FieldProblem), for a record whose payload failed: the envelope's problem is named first."""
    values = {"id": event_id, "at": at, "source": source}
    for field in _ENVELOPE_FIELDS:
        if field.validator is not None:
            field.validator(None, field, values[field.name])


MAX_JSON_DEPTH: Final = 100


def _checked_json(type_name: str, value: Any, path: str, depth: int = 0) -> Any:
    """An unknown event's payload must be plain JSON the log can write back unchanged."""
    kind = type(value)
    if value is None or kind is bool or kind is int:
        return value
    if kind is str:
        _check_text(type_name, path, value)
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
            _check_text(type_name, path, key)
            out[key] = _checked_json(type_name, item, f"{path}.{key}", depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [
            _checked_json(type_name, item, f"{path}.{i}", depth + 1) for i, item in enumerate(value)
        ]
    raise _fail(type_name, path, NOT_JSON, f"not a JSON value: {kind.__name__}")


def _check_text(type_name: str, path: str, value: str) -> None:
    try:
        check_utf8(path, value)
    except NotUtf8 as problem:
        raise _fail(type_name, path, NOT_UTF8, problem.detail) from None


# --- naming what failed: cattrs' detailed errors → path and problem ---

_FIELD_PREFIX: Final = re.compile(r"^([A-Za-z_][\w.]*): ")


def _payload_error(cls: type[Any], payload: Mapping[str, Any], exc: BaseException) -> DecodeError:
    path, leaf = _locate(exc, [])
    if path:
        wire_names: dict[str, str] = {}  # say the name the publisher used (`config`, `host`)
        prepare_payload(cls, payload, wire_names)
        path[0] = wire_names.get(path[0], path[0])
    problem, message = _classify(leaf)
    return DecodeError(cls.TAG, ".".join(["payload", *path]), problem, message)


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
        if exc.field and (not path or path[-1] != exc.field):
            path.extend(exc.field.split("."))
    elif not isinstance(exc, KeyError | ConfigKeyError | AttributeError):
        text = str(exc)
        match = _FIELD_PREFIX.match(text)
        if match:
            path.extend(match.group(1).split("."))
    elif isinstance(exc, KeyError) and not path and exc.args:
        path.append(str(exc.args[0]))
    return path, exc


def _classify(exc: BaseException) -> tuple[str, str]:
    text = str(exc)
    if isinstance(exc, FieldProblem):
        return exc.problem, text if exc.field else exc.detail
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
    return INVALID, text


# --- decode ---


def decode(raw: object) -> Result[Envelope, DecodeError]:
    """Any Python value → an `Envelope`, or a `DecodeError` saying what and where. Never raises."""
    try:
        return Success(_structure_envelope(raw, Envelope))
    except _Reject as reject:
        return Failure(reject.error)
    except Exception as exc:  # a hostile object (raising __eq__, deep nesting, …): still a value
        return Failure(DecodeError(None, "", INVALID, f"{type(exc).__name__}: {exc}"))


decode_json: Final = decode
"""`decode` for a value straight from a JSON parser (the log reader's decoder): the same
function, kept as the name the reader calls."""


def decode_value(value: object, cls: type[T]) -> Result[T, DecodeError]:
    """The inverse of `encode_value` for a known class (`Envelope` included); never raises."""
    if cls is Envelope:
        return cast(Result[T, DecodeError], decode(value))
    try:
        return Success(CONVERTER.structure(value, cls))
    except _Reject as reject:
        return Failure(reject.error)
    except Exception as exc:  # a hostile object (raising __eq__, deep nesting, …): still a value
        path, leaf = _locate(exc, [])
        problem, message = _classify(leaf)
        name = getattr(cls, "__name__", str(cls))
        return Failure(DecodeError(name, ".".join(path), problem, message))


# --- encode ---


def encode(envelope: Envelope) -> dict[str, Any]:
    """An envelope as a JSON-ready dict (str keys, finite floats, lists, canonical key order)."""
    return {
        "id": envelope.id,
        "type": tag_of(envelope.event),
        "schema_version": SCHEMA_VERSION,
        "at": envelope.at,
        "source": envelope.source,
        "payload": event_payload(envelope.event),
    }


def event_payload(event: Event) -> dict[str, Any]:
    """Just the payload dict an event encodes to (for publishing on a bus)."""
    if isinstance(event, UnknownEvent):
        return cast(dict[str, Any], _thaw(event.payload))
    cls = type(event)
    payload = UNSTRUCTURE_EVENT[cls](event)
    if cls is SelfplayRateChanged and not payload["new_rate"]:
        # a zero rate is falsy on the wire; say it twice so the fallback reads it back
        payload["rate_multiplier"] = payload["new_rate"]
    return payload


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_thaw(item) for item in value]
    return value


def encode_value(value: Any) -> Any:
    """Plain JSON-ready data for any core value. Envelopes encode as on the wire."""
    if isinstance(value, Envelope):
        return encode(value)
    return CONVERTER.unstructure(value)


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
