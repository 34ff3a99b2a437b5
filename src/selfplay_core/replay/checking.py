"""Decision checking: one recorded decision made again, and where two encoded results part.

Decisions are compared in one text, `canonical_json` of their encoded data, byte for byte;
`same_json` is that comparison, fast; `first_difference` names the first field where the
two texts differ. `check_decision` decides again from the state before the recorded
decision and returns the `DecisionCheck`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final, TypeAlias

import attrs
import orjson

from selfplay_core.allocation.values import AllocationRequest, BatchAllocation
from selfplay_core.codec import encode_value
from selfplay_core.events import AllocationDecided, Envelope
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.state import SchedulerState

__all__ = [
    "Decider",
    "DecisionCheck",
    "Difference",
    "canonical_json",
    "check_decision",
    "first_difference",
    "same_json",
]

Decider: TypeAlias = Callable[[SchedulerState, AllocationRequest, SchedulerPolicy], BatchAllocation]


@attrs.frozen
class Difference:
    """The first place two encoded decisions differ: a dotted path, and the encoded JSON text
    of what was recorded and what was decided again there (`<absent>` when one side lacks it)."""

    path: str
    recorded: str
    replayed: str

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: recorded {self.recorded}, replayed {self.replayed}"


@attrs.frozen
class DecisionCheck:
    """One recorded decision decided again.

    `number` counts decisions from 1 (continuing across a snapshot); `position` is the item's
    index in the stream. `state` is the replayed state the decision was made from. `identical`
    compares the canonical JSON text of both results (`same_json`); `difference` is the first
    one, if any.
    """

    number: int
    position: int
    envelope_id: str
    at: float
    request: AllocationRequest
    recorded: BatchAllocation
    replayed: BatchAllocation
    identical: bool
    difference: Difference | None
    state: SchedulerState

    @property
    def recorded_json(self) -> str:
        return canonical_json(encode_value(self.recorded))

    @property
    def replayed_json(self) -> str:
        return canonical_json(encode_value(self.replayed))

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (`replay --json`'s `first_difference`)."""
        difference = self.difference
        return {
            "decision": self.number,
            "position": self.position,
            "envelope_id": self.envelope_id,
            "at": self.at,
            "request": encode_value(self.request),
            "path": None if difference is None else difference.path,
            "recorded_value": None if difference is None else difference.recorded,
            "replayed_value": None if difference is None else difference.replayed,
            "recorded": encode_value(self.recorded),
            "replayed": encode_value(self.replayed),
        }


def check_decision(
    before: SchedulerState,
    envelope: Envelope,
    event: AllocationDecided,
    position: int,
    policy: SchedulerPolicy,
    decide_again: Decider,
) -> DecisionCheck:
    """Decide `event.request` again from `before` (the state the shell decided from) and
    compare the result with the recorded one."""
    replayed = decide_again(before, event.request, policy)
    recorded_data = encode_value(event.result)
    replayed_data = encode_value(replayed)
    identical = same_json(recorded_data, replayed_data)
    difference = None
    if not identical:
        difference = first_difference(recorded_data, replayed_data) or Difference(
            "", canonical_json(recorded_data), canonical_json(replayed_data)
        )
    return DecisionCheck(
        number=before.allocations.decisions + 1,
        position=position,
        envelope_id=envelope.id,
        at=envelope.at,
        request=event.request,
        recorded=event.result,
        replayed=replayed,
        identical=identical,
        difference=difference,
        state=before,
    )


# --- canonical text and the first difference ---------------------------------------------------


def canonical_json(value: Any) -> str:
    """The one text encoding decisions are compared in: key order as encoded, compact,
    non-ASCII kept, NaN refused."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def same_json(recorded: Any, replayed: Any) -> bool:
    """`canonical_json(recorded) == canonical_json(replayed)`, about ten times faster.

    orjson's compact text, like `canonical_json`'s, is one text per value: key order, an int
    against a float, 0.0 against -0.0 all show in it. So equal orjson texts mean equal
    canonical texts, but for the non-finite floats that orjson writes as null (and
    `canonical_json` refuses), which the `==` beside it tells from None and from each other.
    A value orjson refuses (an integer past 64 bits, a lone surrogate, a non-string key) is
    compared through `canonical_json`.
    """
    try:
        same_text = orjson.dumps(recorded) == orjson.dumps(replayed)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return canonical_json(recorded) == canonical_json(replayed)
    return same_text and recorded == replayed


_ABSENT: Final = "<absent>"


def first_difference(recorded: Any, replayed: Any, path: str = "") -> Difference | None:
    """The first place (in recorded key order, then list order) where two JSON-ready values
    differ in their canonical text; None when their texts are equal."""
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        return _first_in_objects(recorded, replayed, path)
    if isinstance(recorded, list) and isinstance(replayed, list):
        return _first_in_lists(recorded, replayed, path)
    a, b = canonical_json(recorded), canonical_json(replayed)
    return None if a == b else Difference(path, a, b)


def _first_in_objects(
    recorded: dict[Any, Any], replayed: dict[Any, Any], path: str
) -> Difference | None:
    for key, value in recorded.items():
        where = f"{path}.{key}" if path else str(key)
        if key not in replayed:
            return Difference(where, canonical_json(value), _ABSENT)
        found = first_difference(value, replayed[key], where)
        if found is not None:
            return found
    for key, value in replayed.items():
        if key not in recorded:
            where = f"{path}.{key}" if path else str(key)
            return Difference(where, _ABSENT, canonical_json(value))
    if list(recorded) != list(replayed):  # the same keys in another order
        return Difference(path, canonical_json(list(recorded)), canonical_json(list(replayed)))
    return None


def _first_in_lists(recorded: list[Any], replayed: list[Any], path: str) -> Difference | None:
    for index, (a, b) in enumerate(zip(recorded, replayed, strict=False)):
        found = first_difference(a, b, f"{path}[{index}]")
        if found is not None:
            return found
    if len(recorded) != len(replayed):
        index = min(len(recorded), len(replayed))
        a = canonical_json(recorded[index]) if index < len(recorded) else _ABSENT
        b = canonical_json(replayed[index]) if index < len(replayed) else _ABSENT
        return Difference(f"{path}[{index}]", a, b)
    return None
