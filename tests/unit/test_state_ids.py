"""The persistent id windows against a plain-list model, with branches and compactions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from selfplay_core.state import Ledger, RecentIds

ids = st.sampled_from([f"e{i}" for i in range(30)])
# (which earlier version to extend, the id to add); ids repeat so re-seen old ids are covered
steps = st.lists(st.tuples(st.integers(0, 10**6), ids), max_size=80)


@given(steps, st.integers(1, 5))
def test_ledger_versions_match_their_models_across_branches(
    plan: list[tuple[int, str]], size: int
) -> None:
    versions = [Ledger.of((), size)]
    models: list[list[str]] = [[]]
    for pick, id_ in plan:
        # mostly extend the newest version (the reducer's case), sometimes an older one
        i = len(versions) - 1 if pick % 4 else pick % len(versions)
        versions.append(versions[i].record(id_, i + 1, float(i), 0.0))
        models.append([*models[i], id_][-size:])
        for version, model in zip(versions, models, strict=True):
            assert version.ids == tuple(model)
            for probe in {id_, "e0", "e1", "e29", *model}:
                assert (probe in version) == (probe in model), (probe, model)


@given(steps, st.integers(1, 5))
def test_recent_ids_versions_match_their_models_across_branches(
    plan: list[tuple[int, str]], size: int
) -> None:
    versions = [RecentIds.of((), size)]
    models: list[list[str]] = [[]]
    for pick, id_ in plan:
        i = len(versions) - 1 if pick % 4 else pick % len(versions)
        versions.append(versions[i].add(id_))
        models.append([*models[i], id_][-size:])
    for version, model in zip(versions, models, strict=True):
        assert version.ids == tuple(model)
        assert len(version) == len(model)
        for probe in ("e0", "e7", "e29", *model):
            assert (probe in version) == (probe in model)
