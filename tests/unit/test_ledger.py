"""The ledger (window of recent envelope ids and counters) against a plain-list model, with
branches and compactions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfplay_core.ledger import Ledger

ids = st.sampled_from([f"e{i}" for i in range(30)])
# (which earlier version to extend, the id to add); ids repeat so re-seen old ids are covered
steps = st.lists(st.tuples(st.integers(0, 10**6), ids), max_size=80)


def test_the_window_keeps_the_last_size_ids_and_compacts() -> None:
    ledger = Ledger.of((), 3)
    for i in range(10):
        ledger = ledger.remembered(f"i{i}")
    assert ledger.ids == ("i7", "i8", "i9")
    assert "i9" in ledger
    assert "i6" not in ledger
    assert len(ledger) == 3
    assert list(ledger) == ["i7", "i8", "i9"]
    assert ledger.applied == 0  # remembered, not applied


def test_an_older_ledger_is_unchanged_by_later_adds_and_branches_safely() -> None:
    base = Ledger.of((), 5).remembered("a").remembered("b")
    newer = base.remembered("c")
    branch = base.remembered("x")  # base is no longer the newest: this copies
    assert base.ids == ("a", "b")
    assert "c" not in base
    assert "x" not in base
    assert newer.ids == ("a", "b", "c")
    assert "x" not in newer
    assert branch.ids == ("a", "b", "x")
    assert "c" not in branch
    assert branch.remembered("y").ids == ("a", "b", "x", "y")


def test_applied_at_counts_and_moves_the_clock() -> None:
    ledger = Ledger.of((), 4, next_expiry_at=30.0).applied_at("a", 10.0).applied_at("b", 12.0)
    assert (ledger.ids, ledger.applied, ledger.last_at) == (("a", "b"), 2, 12.0)
    assert ledger.next_expiry_at == 30.0
    assert ledger.with_next_expiry(40.0).next_expiry_at == 40.0
    assert ledger.with_next_expiry(30.0) is ledger


def test_ledger_equality_is_by_content() -> None:
    one = Ledger.of((), 4).applied_at("a", 10.0)
    other = Ledger.of(("a",), 4, applied=1, last_at=10.0)
    assert one == other
    assert one != other.applied_at("b", 11.0)
    assert one.resized(1).ids == ("a",)
    assert one.resized(4) is one


@given(steps, st.integers(1, 5))
def test_ledger_versions_match_their_models_across_branches(
    plan: list[tuple[int, str]], size: int
) -> None:
    versions = [Ledger.of((), size)]
    models: list[tuple[list[str], int]] = [([], 0)]
    for pick, id_ in plan:
        # mostly extend the newest version (the reducer's case), sometimes an older one
        i = len(versions) - 1 if pick % 4 else pick % len(versions)
        window, applied = models[i]
        if pick % 3:
            versions.append(versions[i].applied_at(id_, float(pick)))
            applied += 1
        else:
            versions.append(versions[i].remembered(id_))
        models.append(([*window, id_][-size:], applied))
        for version, (model, count) in zip(versions, models, strict=True):
            assert version.ids == tuple(model)
            assert len(version) == len(model)
            assert version.applied == count
            for probe in {id_, "e0", "e1", "e29", *model}:
                assert (probe in version) == (probe in model), (probe, model)
    assert versions[-1] == Ledger.of(models[-1][0], size, models[-1][1], versions[-1].last_at)


def test_ledger_snapshot_protocol_round_trips_and_names_bad_fields() -> None:
    ledger = Ledger.of(("a", "b"), 5, applied=2, last_at=10.0, next_expiry_at=25.0)
    assert Ledger.__from_data__(ledger.__to_data__()) == ledger
    bad = {**ledger.__to_data__(), "size": 0}
    with pytest.raises(ValueError, match=r"ledger\.size"):
        Ledger.__from_data__(bad)
    with pytest.raises(ValueError, match=r"ledger\.last_at"):
        Ledger.__from_data__({**ledger.__to_data__(), "last_at": float("nan")})
    with pytest.raises(TypeError, match=r"ledger\.ids"):
        Ledger.__from_data__({**ledger.__to_data__(), "ids": [1]})
