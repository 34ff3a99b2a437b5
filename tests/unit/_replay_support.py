"""Recorded logs for the replay tests: what the shell would write for a script of events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from selfplay_core.allocation.values import AllocationRequest
from selfplay_core.cluster import NodeCapability
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.decide import decide
from selfplay_core.events import (
    AllocationDecided,
    ConfigBoosted,
    Envelope,
    Event,
    NodeUnhealthy,
    SelfplayComplete,
    SourcesRefreshed,
    Tick,
    make_envelope,
)
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.reducer import reduce
from selfplay_core.signals import FeedbackSignal
from selfplay_core.state import SchedulerState

K = ConfigKey.parse
NODES = (
    NodeCapability("gpu-a", "H100", 80.0),
    NodeCapability("gpu-b", "A100", 40.0),
    NodeCapability("gpu-c", "RTX4090", 24.0, current_jobs=2),
)


def refresh(counts: dict[ConfigKey, int]) -> SourcesRefreshed:
    return SourcesRefreshed(
        nodes=NODES,
        game_counts=counts,
        current_elos={key: 1400.0 + 40 * key.index for key in ALL_CONFIGS},
        staleness_hours={key: 0.5 * key.index for key in ALL_CONFIGS},
        # booleans in what the source book remembers: snapshots must carry them
        feedback={
            key: FeedbackSignal(1.0 + key.index / 20, key.index % 3 == 0) for key in ALL_CONFIGS
        },
    )


DECIDE = object()  # marker in a script: "the shell decides now"


def record(
    script: Iterable[Event | object],
    policy: SchedulerPolicy = SchedulerPolicy(),  # noqa: B008 - frozen value
    *,
    start: float = 1_000.0,
    step: float = 30.0,
) -> list[Envelope]:
    """What the shell would log: each event at its time, and at each DECIDE marker an
    `AllocationDecided` made by `decide` from the current state (then applied too)."""
    state = SchedulerState.initial(policy)
    log: list[Envelope] = []
    at = start
    for n, item in enumerate(script):
        at += step
        if item is DECIDE:
            request = AllocationRequest(games_per_config=200, now=at)
            event: Any = AllocationDecided(request, decide(state, request, policy))
        else:
            event = item
        envelope = make_envelope(event, id=f"e{n:05d}", at=at, source="test")
        state = reduce(state, envelope, policy).state
        log.append(envelope)
    return log


def counts(scale: int) -> dict[ConfigKey, int]:
    return {key: scale * (key.index + 1) for key in ALL_CONFIGS}


SCRIPT: tuple[Any, ...] = (
    refresh(counts(50)),
    DECIDE,
    SelfplayComplete(config_key="hex8_2p"),
    ConfigBoosted(config_key="square19_4p", multiplier=1.8),
    DECIDE,
    NodeUnhealthy(node_id="gpu-b"),
    Tick(at=0.0),
    DECIDE,
    refresh(counts(400)),
    DECIDE,
)
