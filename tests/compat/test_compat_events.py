"""Event intake as RingRift delivers it (reference/events.md §1, §10; head.md §7.4): router
events with `.event_type` and `.payload`, enum types, data-bus dicts, bare payload dicts, the
publishers' aliases, redelivery, bad events, and the bus."""

from __future__ import annotations

import enum
from types import SimpleNamespace

import pytest
from returns.result import Failure

from selfplay_core import SourcesRefreshed
from selfplay_shell import EventBus
from selfplay_shell.compat import SelfplayScheduler

T0 = 1_767_225_600.0


class DataEventType(enum.Enum):
    """Stands in for RingRift's `DataEventType` (members whose value is the wire string)."""

    QUALITY_DEGRADED = "quality_degraded"
    NEW_GAMES_AVAILABLE = "new_games_available"


def fresh() -> SelfplayScheduler:
    return SelfplayScheduler(clock=lambda: T0)


def record(scheduler: SelfplayScheduler, key: str) -> object:
    found = scheduler.get_config_priority(key)
    assert found is not None
    return found


def test_a_router_event_object_is_applied() -> None:
    scheduler = fresh()
    scheduler.apply_event(SourcesRefreshed(staleness_hours={"hex8_2p": 10.0}))
    event = SimpleNamespace(
        event_type="SELFPLAY_COMPLETE",
        payload={"config_key": "hex8_2p", "games_count": 100, "timestamp": 0},
    )
    assert scheduler.handle_event(event).unwrap().type == "selfplay_complete"
    assert record(scheduler, "hex8_2p").staleness_hours == 0.0  # type: ignore[attr-defined]


def test_an_enum_event_type_and_the_config_alias() -> None:
    scheduler = fresh()
    event = SimpleNamespace(
        event_type=DataEventType.QUALITY_DEGRADED,
        payload={"config": "hex8_2p", "quality_score": 0.4, "threshold": 0.6},
    )
    scheduler.handle_event(event)
    penalty = record(scheduler, "hex8_2p").quality_penalty  # type: ignore[attr-defined]
    assert penalty == pytest.approx(-0.0666667, abs=1e-7)


def test_a_data_bus_dict_and_a_bare_payload_dict() -> None:
    scheduler = fresh()
    scheduler.handle_event(
        {
            "event_type": "curriculum_rebalanced",
            "payload": {"weights": {"hex8_2p": 1.5, "hex8_3p": 0.8, "hex8_4p": 2.0}},
            "timestamp": T0,
            "source": "curriculum_feedback",
        }
    )
    weights = [
        record(scheduler, k).curriculum_weight  # type: ignore[attr-defined]
        for k in ("hex8_2p", "hex8_3p", "hex8_4p")
    ]
    assert weights == [1.5, 0.8, 2.0]
    scheduler.handle_event({"config_key": "hex8_4p"}, event_type="training_completed")
    assert scheduler.events_rejected == 0


@pytest.mark.parametrize("alias", ["new_games", "games_added", "games_count", "count"])
def test_new_games_count_aliases(alias: str) -> None:
    scheduler = fresh()
    scheduler.apply_event(SourcesRefreshed(game_counts={"square8_3p": 500}))
    event = SimpleNamespace(
        event_type=DataEventType.NEW_GAMES_AVAILABLE, payload={"config": "square8_3p", alias: 50}
    )
    scheduler.handle_event(event)
    assert record(scheduler, "square8_3p").game_count == 550  # type: ignore[attr-defined]


def test_new_games_add_until_the_game_count_source_reports() -> None:
    scheduler = fresh()
    scheduler.apply_event(SourcesRefreshed(game_counts={"hex8_4p": 950}))
    scheduler.handle_event({"config_key": "hex8_4p", "new_games": 60}, "NEW_GAMES_AVAILABLE")
    assert record(scheduler, "hex8_4p").game_count == 1010  # type: ignore[attr-defined]
    scheduler.apply_event(SourcesRefreshed(game_counts={"hex8_4p": 1000}))
    assert record(scheduler, "hex8_4p").game_count == 1000  # type: ignore[attr-defined]


def test_a_publisher_without_a_config_key_is_rejected_not_applied() -> None:
    # upstream's shipped NEW_GAMES_AVAILABLE publishers send {host, new_games, total_games}
    scheduler = fresh()
    before = scheduler.state
    result = scheduler.handle_event(
        {"host": "gpu-1", "new_games": 50, "total_games": 900}, "new_games_available"
    )
    assert isinstance(result, Failure)
    assert scheduler.events_rejected == 1
    assert scheduler.state == before


def test_the_same_router_event_id_is_applied_once() -> None:
    scheduler = fresh()
    event = SimpleNamespace(
        event_type="new_games_available",
        payload={"config_key": "hex8_2p", "new_games": 5},
        event_id="5d1c-uuid",
        source="data_bus",
    )
    scheduler.handle_event(event)
    scheduler.handle_event(event)  # the router's second copy
    assert record(scheduler, "hex8_2p").game_count == 5  # type: ignore[attr-defined]


def test_bad_events_are_counted_never_raised() -> None:
    scheduler = fresh()
    configs = scheduler.state.configs
    assert isinstance(scheduler.handle_event("not an event"), Failure)
    missing = scheduler.handle_event(SimpleNamespace(payload={"config_key": "hex8_2p"}))
    assert "no event type" in str(missing.failure())
    bad = SimpleNamespace(event_type="quality_degraded", payload={"config_key": "hex8_9p"})
    assert isinstance(scheduler.handle_event(bad), Failure)
    assert scheduler.events_rejected == 3
    # a type we do not know is kept and counted, never applied (EC11)
    scheduler.handle_event(SimpleNamespace(event_type="GPU_SELFPLAY_COMPLETE", payload={}))
    assert scheduler.state.unknown_events == {"GPU_SELFPLAY_COMPLETE": 1}
    assert scheduler.state.configs == configs


def test_bus_messages_reach_the_compat_scheduler_including_new_games() -> None:
    bus = EventBus()
    scheduler = fresh()
    assert scheduler.subscribe_to_events(bus)
    assert "new_games_available" in scheduler.subscribed_types
    assert len(scheduler.subscribed_types) == 29
    bus.publish("NEW_GAMES_AVAILABLE", {"config": "hex8_3p", "games_added": 7})
    bus.publish("SELFPLAY_COMPLETE", {"config_key": "hex8_3p"})
    assert record(scheduler, "hex8_3p").game_count == 7  # type: ignore[attr-defined]
    assert scheduler.events_rejected == 0
