"""Every emission path of §emissions (and §metrics), as RingRift's subscribers
receive it from the scheduler: the type as the reference's publisher spells it, the payload's
keys in its order and the reference's values (aliases, `old_weights`, the timestamp at the
envelope's time). One table row per call path; each row drives a real `SelfplayScheduler`
through its public calls and compares every message it published, exactly."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import pytest

from selfplay_core import NodeCapability, SourcesRefreshed
from selfplay_core.configs import ALL_CONFIGS
from selfplay_core.event_policy import EventPolicy
from selfplay_core.published import iso_timestamp
from selfplay_shell import BusMessage, EventBus, SelfplayScheduler
from selfplay_shell.compat import SelfplayScheduler as CompatScheduler

T0 = 1_767_225_600.0
ISO_T0 = "2026-01-01T00:00:00+00:00"
EP = EventPolicy()


class FakeClock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


@attrs.frozen
class Message:
    """One published message, as a sink receives it."""

    event_type: str
    payload: Mapping[str, Any]
    source: str
    at: float | None


class RecordingSink:
    """An `EventSink` (what a broker adapter implements) that keeps every call."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def publish(
        self,
        event_type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
        source: str = "",
        at: float | None = None,
    ) -> object:
        self.messages.append(Message(event_type, dict(payload or {}), source, at))
        return None


Expected = list[tuple[str, dict[str, Any], str]]  # (type, payload, source)
Row = Callable[[SelfplayScheduler, FakeClock], Expected]


def _training_blocked(s: SelfplayScheduler, clock: FakeClock) -> Expected:  # §events
    s.publish("training_blocked_by_quality", {"config_key": "hex8_3p", "reason": "low q"})
    payload = {
        "config_key": "hex8_3p",
        "priority": "high",
        "reason": "training_blocked:low q",
        "exploration_boost": 1.5,  # max(1.5, 1.0 × 1.5)
    }
    return [("selfplay_target_updated", payload, "selfplay_scheduler")]


def _opponent_mastered(s: SelfplayScheduler, clock: FakeClock) -> Expected:  # §events
    s.publish("opponent_mastered", {"config_key": "hex8_2p", "opponent_level": "heuristic"})
    payload = {
        "config": "hex8_2p",
        "old_weights": {},
        "new_weights": {"hex8_2p": 0.9},  # max(0.5, 1.0 × 0.9)
        "reason": "config_update_hex8_2p",
        "trigger": "opponent_mastered:heuristic",
        "config_key": "hex8_2p",
        "new_weight": 0.9,
        "timestamp": ISO_T0,
    }
    return [("curriculum_rebalanced", payload, "event_emitters")]


def _early_stopped(s: SelfplayScheduler, clock: FakeClock) -> Expected:  # §events
    s.publish("training_early_stopped", {"config_key": "square8_2p", "reason": "loss_stagnation"})
    payload = {
        "config_key": "square8_2p",
        "priority": "urgent",
        "reason": "training_early_stopped:loss_stagnation",
        "exploration_boost": 1.3,  # stagnation: min(1.8, 1.0 × 1.3)
        "curriculum_weight": 1.3,  # min(2.0, 1.0 × 1.3)
    }
    return [("selfplay_target_updated", payload, "selfplay_scheduler")]


def _velocity_changed(s: SelfplayScheduler, clock: FakeClock) -> Expected:  # §events, no rate
    s.publish(
        "elo_velocity_changed",
        {"config_key": "square8_3p", "velocity": -2.0, "trend": "accelerating"},
    )
    payload = {
        "config_key": "square8_3p",
        "priority": "normal",
        "reason": "velocity_changed:accelerating",
        "momentum_multiplier": 1.2,  # min(1.5, 1.0 × 1.2); a 20 % step does not fire
        "exploration_boost": 1.15,  # velocity < 0: min(1.8, 1.0 × 1.15)
    }
    return [("selfplay_target_updated", payload, "selfplay_scheduler")]


def _velocity_changed_with_rate(s: SelfplayScheduler, clock: FakeClock) -> Expected:  # §events
    s.publish("selfplay_rate_changed", {"config_key": "hexagonal_3p", "new_rate": 0.7})
    s.publish("elo_velocity_changed", {"config_key": "hexagonal_3p", "trend": "accelerating"})
    old, new = 0.7, 0.7 * 1.2  # m = 0.7 is one the reference's rounding lets fire
    rate = {
        "config_key": "hexagonal_3p",
        "old_rate": old,
        "new_rate": new,
        "change_percent": (new - old) / old * 100.0,
        "reason": "elo_momentum:accelerating",
    }
    target = {
        "config_key": "hexagonal_3p",
        "priority": "normal",
        "reason": "velocity_changed:accelerating",
        "momentum_multiplier": new,
        "exploration_boost": 1.0,
    }
    return [
        ("selfplay_rate_changed", rate, "selfplay_scheduler"),
        ("selfplay_target_updated", target, "selfplay_scheduler"),
    ]


def _exploration_boost(s: SelfplayScheduler, clock: FakeClock) -> Expected:  # §events (intended)
    s.publish(
        "exploration_boost",
        {"config_key": "hex8_4p", "boost_factor": 1.5, "reason": "anomaly", "anomaly_count": 3},
    )
    target = {
        "config_key": "hex8_4p",
        "priority": "high",  # boost_factor 1.5 > 1.3
        "reason": "exploration_boost:anomaly",
        "exploration_boost": 1.5,
        "anomaly_count": 3,
    }
    allocation = {
        "trigger": "exploration_boost:anomaly",
        "total_games": 0,
        "configs": ["hex8_4p"],
        "node_count": 0,
        "timestamp": T0,
        "exploration_boost": 1.5,
        "curriculum_weight": 1.0,
    }
    return [
        ("selfplay_target_updated", target, "selfplay_scheduler"),
        ("selfplay_allocation_updated", allocation, "selfplay_scheduler"),
    ]


def _low_quality(s: SelfplayScheduler, clock: FakeClock) -> Expected:  # §events
    s.publish("low_quality_data_warning", {"quality_score": 0.45})
    return [
        (
            "quality_penalty_applied",
            {
                "config_key": str(key),
                "penalty": 0.15 * (1.0 - 0.45),  # −qp, a positive magnitude
                "reason": "low_quality_selfplay_data",
                "current_weight": 0.6,  # eb: max(0.5, 1.0 × 0.6), q in [0.4, 0.5)
                "timestamp": ISO_T0,
                "quality_score": 0.45,
                "throttle_factor": 0.6,
            },
            "selfplay_scheduler",
        )
        for key in ALL_CONFIGS
    ]


def _regression(s: SelfplayScheduler, clock: FakeClock) -> Expected:  # §events
    s.publish("regression_detected", {"config_key": "square19_2p", "severity": "severe"})
    boost = s.state.configs[ALL_CONFIGS[6]].exploration_boost  # ours by deviation E4
    assert str(ALL_CONFIGS[6]) == "square19_2p"
    payload = {
        "config_key": "square19_2p",
        "reason": "regression_detected",
        "severity": "severe",
        "new_exploration_boost": boost,
        "source": "selfplay_scheduler",
    }
    return [("CURRICULUM_REBALANCED", payload, "selfplay_scheduler")]


def _boost_expired(s: SelfplayScheduler, clock: FakeClock) -> Expected:  # §expiry
    s.publish("model_promoted", {"config_key": "hex8_2p", "success": False})
    clock.t += EP.boost_lifetime_seconds
    s.tick()
    payload = {
        "config_key": "hex8_2p",
        "priority": "normal",
        "reason": "exploration_boost_expired",
        "exploration_boost": 1.0,
    }
    return [("selfplay_target_updated", payload, "selfplay_scheduler")]


def _boost_config_allocation(s: SelfplayScheduler, clock: FakeClock) -> Expected:  # deviations.md
    s.publish("selfplay_rate_changed", {"config_key": "square8_4p", "new_rate": 0.7})
    assert s.boost_config_allocation("square8_4p")
    old, new = 0.7, 0.7 * 1.2
    payload = {
        "config_key": "square8_4p",
        "old_rate": old,
        "new_rate": new,
        "change_percent": (new - old) / old * 100.0,
        "reason": "config_boost",
    }
    return [("selfplay_rate_changed", payload, "selfplay_scheduler")]


def _allocate_batch(s: SelfplayScheduler, clock: FakeClock) -> Expected:  # allocation deviations.md
    nodes = (NodeCapability("gpu-a", "A100"), NodeCapability("gpu-b", "H100"))
    s.apply_event(SourcesRefreshed(nodes=nodes, game_counts=dict.fromkeys(ALL_CONFIGS, 5000)))
    result = s.decide_batch(games_per_config=500, max_configs=12)
    placed = result.as_reference_dict()
    assert placed
    payload = {
        "trigger": "allocate_batch",
        "total_games": sum(sum(per.values()) for per in placed.values()),
        "configs": list(placed),
        "node_count": len({node for per in placed.values() for node in per}),
        "timestamp": T0,
    }
    return [("selfplay_allocation_updated", payload, "selfplay_scheduler")]


ROWS: dict[str, Row] = {
    "3.8 training_blocked_by_quality": _training_blocked,
    "3.9 opponent_mastered": _opponent_mastered,
    "3.10 training_early_stopped": _early_stopped,
    "3.11 elo_velocity_changed": _velocity_changed,
    "3.11 elo_velocity_changed, rate change": _velocity_changed_with_rate,
    "3.12 exploration_boost": _exploration_boost,
    "3.15 low_quality_data_warning": _low_quality,
    "3.21 regression_detected": _regression,
    "4 boost expiry": _boost_expired,
    "boost_config_allocation": _boost_config_allocation,
    "allocate_selfplay_batch": _allocate_batch,
}


@pytest.mark.parametrize("facade", [SelfplayScheduler, CompatScheduler])
@pytest.mark.parametrize("path", list(ROWS))
def test_each_emission_path_publishes_the_reference_payload(
    path: str, facade: type[SelfplayScheduler]
) -> None:
    """The shell's scheduler and `selfplay_shell.compat`'s drop-in hand out the same shape."""
    sink = RecordingSink()
    clock = FakeClock()
    s = facade(clock=clock, bus=sink)
    expected = ROWS[path](s, clock)
    got = [(m.event_type, m.payload, m.source) for m in sink.messages]
    assert got == expected
    for (_, payload, _), (_, want, _) in zip(got, expected, strict=True):
        assert list(payload) == list(want)  # the reference publisher's key order too
    assert all(m.at == clock.t for m in sink.messages)


def test_the_rows_cover_every_emission_path_of_section_6() -> None:
    # §emissions: §events (both emissions), §events (both), §events,
    # §expiry, boost_config_allocation and allocate_selfplay_batch.
    sections = {path.split(" ")[0] for path in ROWS}
    assert sections >= {"3.8", "3.9", "3.10", "3.11", "3.12", "3.15", "3.21", "4"}
    assert {"boost_config_allocation", "allocate_selfplay_batch"} <= set(ROWS)


def test_iso_timestamp_is_the_envelope_time_in_utc() -> None:
    assert iso_timestamp(T0) == ISO_T0
    assert iso_timestamp(T0 + 0.25) == "2026-01-01T00:00:00.250000+00:00"


def test_a_subscriber_on_the_bus_gets_new_weights_and_the_echo_keeps_the_weight() -> None:
    """The case that changes what RingRift does: its orchestrator reads `new_weights` first.
    Our own subscription receives the same message back and keeps the reduced weight."""
    bus = EventBus()  # no loop: delivery (and the echo) happen synchronously
    s = SelfplayScheduler(clock=FakeClock())
    s.subscribe_to_events(bus)
    seen: list[BusMessage] = []
    bus.subscribe("curriculum_rebalanced", seen.append)
    bus.publish("OPPONENT_MASTERED", {"config_key": "square8_2p", "opponent_level": "mcts"})
    assert len(seen) == 1
    message = seen[0]
    assert message.source == "event_emitters"
    assert message.payload["new_weights"] == {"square8_2p": 0.9}
    assert message.payload["config"] == "square8_2p"
    assert s.state.configs[ALL_CONFIGS[3]].curriculum_weight == 0.9
    assert str(ALL_CONFIGS[3]) == "square8_2p"


def test_compat_handle_event_publishes_the_reference_shape() -> None:
    """RingRift's router event handed to the compat scheduler: the echo it publishes is the
    one `emit_curriculum_updated` sends."""
    sink = RecordingSink()
    s = CompatScheduler(clock=FakeClock(), bus=sink)
    routed = {"event_type": "OPPONENT_MASTERED", "payload": {"config": "hex8_3p"}}
    assert s.handle_event(routed).unwrap().type == "opponent_mastered"
    (message,) = sink.messages
    assert message.event_type == "curriculum_rebalanced"
    assert message.source == "event_emitters"
    assert message.payload["new_weights"] == {"hex8_3p": 0.9}
    assert message.payload["old_weights"] == {}
    assert message.payload["trigger"] == "opponent_mastered:unknown"
