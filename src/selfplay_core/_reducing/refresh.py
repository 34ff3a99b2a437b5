"""SourcesRefreshed: who owns which field (docs/source-ownership.md).

Source-owned per-config facts are overwritten by every report; fields shared with events (the
`_SHARED_COLUMNS`, the search budget and the feedback) only when the value is news (it differs
from what the same source said last time), so an event's later write is not silently wiped.

The work goes column by column: each part that has something to write becomes one column of
converted values (None = keep), and each config with a value in some column is rebuilt once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

from selfplay_core._reducing.common import (
    MAX_COUNT,
    Outcome,
    as_weight,
    boosted,
    bounded,
    whole,
)
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.events import SOURCE_PARTS, SourcesRefreshed
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.priority import adaptive_budget
from selfplay_core.state import (
    ClusterFacts,
    ConfigState,
    SchedulerState,
    SourceBook,
    dict_copy,
)

_N_CONFIGS: Final = len(ALL_CONFIGS)
_NEVER_REPORTED: Final[tuple[None, ...]] = (None,) * _N_CONFIGS

Row = tuple[Any, ...]  # one value per canonical config, None = absent
Column = tuple[str, Row]  # a field name and its converted values (None = keep)


def _row(values: Mapping[ConfigKey, Any]) -> Row:
    """One value per canonical config (None where absent). Event mappings are in canonical
    order, so a complete one needs no key lookups (hashing a `ConfigKey` is costly)."""
    if len(values) == _N_CONFIGS:
        return tuple(values.values())
    row: list[Any] = [None] * _N_CONFIGS
    for key, value in values.items():
        row[key.index] = value
    return tuple(row)


def _identity(value: Any) -> Any:
    return value


def _int_fact(value: float) -> int:
    if type(value) is int and -MAX_COUNT <= value <= MAX_COUNT:
        return value  # the common case: a count already in range
    return int(bounded(value))


# Parts that write `ConfigFacts` fields: (event part, fact field, conversion).
_FACT_COLUMNS: Final[tuple[tuple[str, str, Callable[[Any], Any]], ...]] = (
    ("current_elos", "current_elo", bounded),
    ("game_counts", "game_count", _int_fact),
    ("quality_scores", "quality_score", bounded),
    ("cascade_multipliers", "cascade_multiplier", as_weight),
    ("improvement_boosts", "improvement_boost", bounded),
    ("priority_overrides", "priority_override", _int_fact),
)
# Parts that write `ConfigState` fields shared with events (exploration boost handled apart).
_SHARED_COLUMNS: Final[tuple[tuple[str, str, Callable[[Any], Any]], ...]] = (
    ("staleness_hours", "staleness_hours", bounded),
    ("elo_velocities", "elo_velocity", bounded),
    ("curriculum_weights", "curriculum_weight", as_weight),
    ("momentum_multipliers", "momentum_multiplier", as_weight),
)


class _Reports:
    """What a refresh reports, against what the same source said before (`before`); `rows`
    collects the reports to remember."""

    def __init__(self, before: Mapping[str, Row]) -> None:
        self.before = before
        self.rows: dict[str, Row] = {}

    def facts(self, name: str, row: Row, convert: Callable[[Any], Any]) -> Row | None:
        """A source-owned part: every value written, unless the whole row is unchanged."""
        if row == self.before.get(name):
            return None
        self.rows[name] = row
        return tuple([None if value is None else convert(value) for value in row])

    def shared(self, name: str, row: Row, convert: Callable[[Any], Any]) -> Row | None:
        """A part shared with events: the column of its values that are news (None when none
        is); the merged row is remembered."""
        before = self.before.get(name, _NEVER_REPORTED)
        if row == before:
            return None
        merged = list(before)
        column: list[Any] = [None] * _N_CONFIGS
        news = False
        for i, value in enumerate(row):
            if value is None:
                continue
            if before[i] is None or before[i] != value:
                column[i] = convert(value)
                news = True
            merged[i] = value
        self.rows[name] = tuple(merged)
        return tuple(column) if news else None


def _columns(
    event: SourcesRefreshed, reports: _Reports, policy: SchedulerPolicy
) -> tuple[list[Column], list[Column], Row | None]:
    """The fact columns, the config-field columns and the feedback boosts to write."""
    facts: list[Column] = []
    for part, name, convert in _FACT_COLUMNS:
        values = getattr(event, part)
        if values is not None:
            column = reports.facts(part, _row(values), convert)
            if column is not None:
                facts.append((name, column))
    fields: list[Column] = []
    # The Elo-tier search budget follows the Elo, but only when the tier value changes, so a
    # "velocity_feedback" budget stays until the Elo moves to another tier.
    elos = reports.rows.get("current_elos")
    if elos is not None:
        budgets = tuple(
            None if elo is None else float(adaptive_budget(bounded(elo), policy)) for elo in elos
        )
        column = reports.shared("search_budget", budgets, _identity)
        if column is not None:
            fields.append(("search_budget", column))
    for part, name, convert in _SHARED_COLUMNS:
        values = getattr(event, part)
        if values is not None:
            column = reports.shared(part, _row(values), convert)
            if column is not None:
                fields.append((name, column))
    boosts: Row | None = None
    if event.feedback is not None:
        signals = _row(event.feedback)
        boosts = reports.shared(
            "feedback_boost",
            tuple(None if sig is None else sig.exploration_boost for sig in signals),
            _identity,
        )
        column = reports.shared(
            "feedback_pending",
            tuple(None if sig is None else sig.training_pending for sig in signals),
            _identity,
        )
        if column is not None:
            fields.append(("training_pending", column))
    return facts, fields, boosts


def _changes(columns: list[Column], i: int) -> dict[str, Any]:
    return {name: column[i] for name, column in columns if column[i] is not None}


def _refreshed_configs(
    state: SchedulerState,
    columns: tuple[list[Column], list[Column], Row | None],
    at: float,
    policy: SchedulerPolicy,
) -> Mapping[ConfigKey, ConfigState]:
    facts, fields, boosts = columns
    configs = dict_copy(state.configs)
    for i, (key, config) in enumerate(state.configs.items()):
        fact_changes = _changes(facts, i)
        changes = _changes(fields, i)
        if fact_changes:
            changes["facts"] = attrs.evolve(config.facts, **fact_changes)
        new = attrs.evolve(config, **changes) if changes else config
        if boosts is not None and boosts[i] is not None:
            new = boosted(new, boosts[i], at, policy.events)
        configs[key] = new
    return MappingProxyType(configs)


def _refreshed_cluster(cluster: ClusterFacts, event: SourcesRefreshed) -> ClusterFacts:
    if event.nodes is not None:
        by_id = {node.node_id: node for node in event.nodes}
        nodes = tuple(by_id[n] for n in sorted(by_id))
        if nodes != cluster.nodes:
            cluster = attrs.evolve(cluster, nodes=nodes)
    if event.training_queue_depth is not None:
        cluster = attrs.evolve(cluster, training_queue_depth=event.training_queue_depth)
    if event.backpressure is not None:
        cluster = attrs.evolve(cluster, backpressure=event.backpressure)
    return cluster


def _refreshed_book(
    book: SourceBook, event: SourcesRefreshed, rows: Mapping[str, Row], at: float
) -> SourceBook:
    """When each part last reported (source-name order), and the reports to remember."""
    last_refresh = dict_copy(book.last_refresh)
    new_part = False
    for part in SOURCE_PARTS:
        if getattr(event, part) is not None:
            new_part = new_part or part not in last_refresh
            last_refresh[part] = at
    if new_part:
        last_refresh = dict(sorted(last_refresh.items()))
    reported = book.reported
    if rows:
        merged = {**reported, **rows}
        if len(merged) != len(reported):  # a new field: keep field-name order
            merged = dict(sorted(merged.items()))
        reported = MappingProxyType(merged)
    return SourceBook(MappingProxyType(last_refresh), reported)


def sources_refreshed(
    state: SchedulerState, event: SourcesRefreshed, at: float, policy: SchedulerPolicy
) -> Outcome:
    """Facts are overwritten; shared fields only with news; a part equal to the same source's
    previous report is skipped whole (the common case, and the cheap one)."""
    reports = _Reports(state.sources.reported)
    columns = _columns(event, reports, policy)
    facts, fields, boosts = columns
    if facts or fields or boosts is not None:
        configs = _refreshed_configs(state, columns, at, policy)
        state = state.with_configs(configs)
    state = state.with_cluster(_refreshed_cluster(state.cluster, event))
    book = _refreshed_book(state.sources, event, reports.rows, at)
    return whole(state.with_books(attrs.evolve(state.books, sources=book)))
