"""A policy mapping may give any subset of the policy, down to one entry of one table (issue 12).

Property: a subset of the reference policy's own mapping, with some of its entries changed,
builds exactly the policy the *full* reference mapping with those entries changed builds (or
is rejected with the same problems), so every entry it leaves out keeps the reference's value.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfplay_core.policy import PolicyError, SchedulerPolicy, from_mapping, to_mapping

REFERENCE_MAPPING = to_mapping(SchedulerPolicy())


def _leaves(mapping: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every path to a non-mapping entry (a number, a list, a boolean, a null)."""
    found: list[tuple[str, ...]] = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            found += _leaves(value, (*prefix, key))
        else:
            found.append((*prefix, key))
    return found


LEAVES = _leaves(REFERENCE_MAPPING)


def _get(mapping: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        mapping = mapping[key]
    return mapping


def _put(mapping: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        mapping = mapping.setdefault(key, {})
    mapping[path[-1]] = value


@st.composite
def changed_entries(draw: st.DrawFn) -> list[tuple[tuple[str, ...], Any]]:
    """A few leaves of the reference mapping, each kept or given a new value of its type."""
    paths = draw(st.lists(st.sampled_from(LEAVES), min_size=1, max_size=6, unique=True))
    entries = []
    for path in paths:
        old = _get(REFERENCE_MAPPING, path)
        if isinstance(old, bool):
            new: Any = draw(st.booleans())
        elif isinstance(old, int):
            new = draw(st.integers(0, 2 * old + 1))
        elif isinstance(old, float):
            new = draw(st.just(old) | st.floats(0.0, 2.0 * old + 1.0))
        else:
            new = old  # lists and nulls: replaced whole, by themselves
        entries.append((path, new))
    return entries


@given(entries=changed_entries())
def test_any_subset_is_the_reference_with_just_those_entries_changed(
    entries: list[tuple[tuple[str, ...], Any]],
) -> None:
    subset: dict[str, Any] = {}
    full = copy.deepcopy(REFERENCE_MAPPING)
    for path, value in entries:
        _put(subset, path, value)
        _put(full, path, value)
    try:
        expected = from_mapping(full)
    except PolicyError as rejected:
        expected_problems = rejected.problems
    else:
        expected_problems = ()
    if expected_problems:
        # Some changes break a rule between entries (min > max, stale ≤ fresh): the subset is
        # rejected for the same reasons.
        with pytest.raises(PolicyError) as info:
            from_mapping(subset)
        assert info.value.problems == expected_problems
        return
    built = from_mapping(subset)
    assert built == expected
    assert to_mapping(built) == full


@given(path=st.sampled_from(LEAVES))
def test_one_entry_alone_round_trips_to_the_reference(path: tuple[str, ...]) -> None:
    subset: dict[str, Any] = {}
    _put(subset, path, _get(REFERENCE_MAPPING, path))
    assert from_mapping(subset) == SchedulerPolicy()
