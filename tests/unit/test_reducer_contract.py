"""The reducer's contract values: `Transition` by name, `same` (what counts as no change)."""

from __future__ import annotations

import pytest

from selfplay_core._reducing.common import same
from selfplay_core.reducer import Transition
from selfplay_core.state import SchedulerState


def test_transition_reads_by_name_and_compares_by_value() -> None:
    state = SchedulerState.initial()
    transition = Transition(state, ())
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
