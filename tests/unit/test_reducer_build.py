"""The reducer's fast constructors build exactly what the public constructors build."""

from __future__ import annotations

import attrs
import pytest

from selfplay_core._reducing import build
from selfplay_core._reducing.common import same
from selfplay_core.configs import ALL_CONFIGS
from selfplay_core.events import SelfplayTargetUpdated
from selfplay_core.reducer import Transition, _transition
from selfplay_core.state import (
    Books,
    ClusterFacts,
    ConfigFacts,
    ConfigState,
    EloTracking,
    SchedulerState,
)

FACTS = ConfigFacts(1612.5, 40, 0.9, 1.1, 0.2, 2, 60_000, 45.0)
CONFIG_ARGS = (3.5, -2.0, True, 1.4, 1_767_225_615.0, 0.8, -0.1, 1.2, 800.0, FACTS)


def test_config_state_and_facts_equal_the_constructors() -> None:
    built = build.config_state(*CONFIG_ARGS)
    assert type(built) is ConfigState
    assert built == ConfigState(*CONFIG_ARGS)
    assert attrs.astuple(built, recurse=False) == CONFIG_ARGS
    facts = build.config_facts(*attrs.astuple(FACTS))
    assert type(facts) is ConfigFacts
    assert facts == FACTS


def test_state_parts_equal_the_constructors() -> None:
    state = SchedulerState.initial()
    built = build.scheduler_state(state.configs, state.cluster, state.books, state.ledger)
    assert type(built) is SchedulerState
    assert built == state
    cluster_args = ((), frozenset({"gpu-01"}), {"gpu-02": 5.0}, 0.5, None, True, 7, None)
    assert build.cluster_facts(*cluster_args) == ClusterFacts(*cluster_args)
    books = state.books
    assert build.books(books.elo, books.sources, books.allocations, books.unknown_events) == Books(
        books.elo, books.sources, books.allocations, books.unknown_events
    )
    assert build.elo_tracking({}, {}) == EloTracking({}, {})
    assert _transition(state, ()) == Transition(state, ())


def test_emitted_target_update_equals_the_constructor() -> None:
    key = ALL_CONFIGS[4]
    built = build.target_updated_event(
        key, "high", "why", 1.3, curriculum_weight=0.5, momentum_multiplier=1.1, anomaly_count=2
    )
    assert built == SelfplayTargetUpdated(
        config_key=key,
        priority="high",
        reason="why",
        exploration_boost=1.3,
        curriculum_weight=0.5,
        momentum_multiplier=1.1,
        anomaly_count=2,
    )
    assert build.target_updated_event(key, "normal", "", 1.0) == SelfplayTargetUpdated(key)


def test_built_values_stay_frozen() -> None:
    built = build.config_state(*CONFIG_ARGS)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.exploration_boost = 2.0  # type: ignore[misc]
    assert hash(built) == hash(ConfigState(*CONFIG_ARGS))


def test_every_twin_built_part_is_its_public_class_and_frozen() -> None:
    # The state's parts are filled through writable twins and then become the public class;
    # what comes out must be exactly that class, equal to the constructor's, and frozen.
    state = SchedulerState.initial()
    books = state.books
    built = [
        (build.config_facts(*attrs.astuple(FACTS)), FACTS, "game_count"),
        (
            build.scheduler_state(state.configs, state.cluster, books, state.ledger),
            state,
            "books",
        ),
        (
            build.cluster_facts((), frozenset(), {}, 1.0, None, False, 0, None),
            ClusterFacts(),
            "nodes",
        ),
        (
            build.books(books.elo, books.sources, books.allocations, books.unknown_events),
            books,
            "elo",
        ),
        (build.elo_tracking(books.elo.history, {}), books.elo, "history"),
        (build.source_book(books.sources.last_refresh, {}), books.sources, "reported"),
    ]
    for value, expected, field in built:
        assert type(value) is type(expected)
        assert value == expected
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(value, field, None)


def test_a_twin_needs_the_plain_slot_layout() -> None:
    @attrs.frozen  # keeps a __weakref__ slot: its instances cannot be built through a twin
    class WithWeakref:
        x: int

    with pytest.raises(TypeError, match="plain slot layout"):
        build._writable_twin(WithWeakref)


def test_transition_reads_by_name_and_compares_by_value() -> None:
    state = SchedulerState.initial()
    transition = _transition(state, ())
    assert transition.state is state
    assert transition.emitted == ()
    assert transition == Transition(state=state)
    with pytest.raises(AttributeError):
        transition.state = state  # type: ignore[misc]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (0.0, 0.0, True),
        (1.5, 1.5, True),
        (0.0, -0.0, False),  # encodes differently
        (0, 0.0, False),  # int and float encode differently
        (False, False, True),
        (True, 1, False),
        (1.0, 2.0, False),
    ],
)
def test_same_means_no_change(old: object, new: object, expected: bool) -> None:
    assert same(old, new) is expected
