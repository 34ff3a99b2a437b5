"""Helpers for the reducer tests: apply events at given times, read one config back."""

from __future__ import annotations

import itertools
from typing import Any

from selfplay_core.configs import ConfigKey
from selfplay_core.events import Envelope, Event, make_envelope
from selfplay_core.invariants import check_invariants
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.reducer import Transition, reduce
from selfplay_core.state import SchedulerState

T0 = 1_767_225_600.0
HEX8_2P = ConfigKey.parse("hex8_2p")
HEX8_3P = ConfigKey.parse("hex8_3p")
HEX8_4P = ConfigKey.parse("hex8_4p")

_ids = itertools.count()


def envelope(event: Event, at: float = T0, id: str | None = None) -> Envelope:
    return make_envelope(event, id=id or f"test-{next(_ids)}", at=at, source="test")


def step(
    state: SchedulerState,
    event: Event,
    at: float = T0,
    policy: SchedulerPolicy | None = None,
    id: str | None = None,
) -> Transition:
    """Apply one event and check the state invariants afterwards."""
    kwargs: dict[str, Any] = {} if policy is None else {"policy": policy}
    transition = reduce(state, envelope(event, at, id), **kwargs)
    assert check_invariants(transition.state, policy) == ()
    return transition


def run(state: SchedulerState, *events: Event, at: float = T0) -> SchedulerState:
    """Apply events one second apart, starting at `at`."""
    for i, event in enumerate(events):
        state = step(state, event, at + i).state
    return state


def fresh() -> SchedulerState:
    return SchedulerState.initial()
