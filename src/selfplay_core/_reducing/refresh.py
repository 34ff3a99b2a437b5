"""SourcesRefreshed: who owns which field (docs/source-ownership.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

from selfplay_core._reducing.build import books as build_books
from selfplay_core._reducing.build import config_facts, config_state, source_book
from selfplay_core._reducing.common import (
    MAX_COUNT,
    Out,
    as_weight,
    boost_of,
    bounded,
    next_expiry_of,
    replace_cluster,
    thaw,
)
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.events import (
    SOURCE_PARTS,
    SourcesRefreshed,
)
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.priority import adaptive_budget
from selfplay_core.state import SchedulerState

# --- SourcesRefreshed: who owns which field (docs/source-ownership.md) ----------------------

_N_CONFIGS: Final = len(ALL_CONFIGS)
_NEVER_REPORTED: Final[tuple[None, ...]] = (None,) * _N_CONFIGS

# Source-owned per-config facts (below) are overwritten by every report; fields shared with
# events (`_SHARED_COLUMNS`, the search budget and the feedback) only when the value is news
# (it differs from what the same source said last time), so an event's later write is not
# silently wiped.

_REFRESH_PARTS: Final = SOURCE_PARTS


def _row(values: Mapping[ConfigKey, Any]) -> tuple[Any, ...]:
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


# The facts' parts in `ConfigFacts` field order (its first six fields), with the conversion of
# a reported value into the stored one.
_FACT_COLUMNS: Final[tuple[tuple[str, Callable[[Any], Any]], ...]] = (
    ("current_elos", bounded),
    ("game_counts", _int_fact),
    ("quality_scores", bounded),
    ("cascade_multipliers", as_weight),
    ("improvement_boosts", bounded),
    ("priority_overrides", _int_fact),
)
# `ConfigState` field positions of the shared fields (exploration boost handled apart).
_SH, _EV, _TP, _EB, _CW, _MM, _SB = 0, 1, 2, 3, 5, 7, 8
_SHARED_COLUMNS: Final = (
    ("staleness_hours", _SH, bounded),
    ("elo_velocities", _EV, bounded),
    ("curriculum_weights", _CW, as_weight),
    ("momentum_multipliers", _MM, as_weight),
)


def sources_refreshed(
    s: SchedulerState, e: SourcesRefreshed, now: float, p: SchedulerPolicy
) -> Out | None:
    """Facts are overwritten; shared fields only with news; a part equal to the same source's
    previous report is skipped whole (the common case, and the cheap one).

    Works column by column: each part that has something to write becomes one column of
    converted values (None = keep), and each config with a value in some column is rebuilt
    once from its own fields and those values."""
    ep = p.events
    reported = s.sources.reported
    rows: dict[str, tuple[Any, ...]] = {}
    fact_columns: list[tuple[int, tuple[Any, ...]]] = []
    field_columns: list[tuple[int, tuple[Any, ...]]] = []

    def shared(name: str, row: tuple[Any, ...], convert: Callable[[Any], Any]) -> Any:
        """Record `row` as the source's report; the column of its values that are news (None
        when none is)."""
        before = reported.get(name, _NEVER_REPORTED)
        if row == before:
            return None
        merged = list(before)
        column: list[Any] = [None] * _N_CONFIGS
        news = False
        for i, value in enumerate(row):
            if value is None:
                continue
            old = before[i]
            if old is None or old != value:
                column[i] = convert(value)
                news = True
            merged[i] = value
        rows[name] = tuple(merged)
        return tuple(column) if news else None

    for j, (part, convert) in enumerate(_FACT_COLUMNS):
        values: Mapping[ConfigKey, Any] | None = getattr(e, part)
        if values is None:
            continue
        row = _row(values)
        if row == reported.get(part):
            continue  # facts are only written by this source: nothing to do
        rows[part] = row
        fact_columns.append((j, tuple([None if v is None else convert(v) for v in row])))

    # The Elo-tier search budget follows the Elo, but only when the tier value changes, so a
    # "velocity_feedback" budget stays until the Elo moves to another tier.
    elos = rows.get("current_elos")
    if elos is not None:
        budgets = tuple(
            None if elo is None else float(adaptive_budget(bounded(elo), p)) for elo in elos
        )
        column = shared("search_budget", budgets, _identity)
        if column is not None:
            field_columns.append((_SB, column))

    for part, index, convert in _SHARED_COLUMNS:
        values = getattr(e, part)
        if values is not None:
            column = shared(part, _row(values), convert)
            if column is not None:
                field_columns.append((index, column))

    boosts: Any = None
    if e.feedback is not None:
        signals = _row(e.feedback)
        boosts = shared(
            "feedback_boost",
            tuple(None if sig is None else sig.exploration_boost for sig in signals),
            _identity,
        )
        column = shared(
            "feedback_pending",
            tuple(None if sig is None else sig.training_pending for sig in signals),
            _identity,
        )
        if column is not None:
            field_columns.append((_TP, column))

    configs = s.configs
    next_expiry = s.ledger.next_expiry_at
    if fact_columns or field_columns or boosts is not None:
        changed = thaw(configs)
        lifetime = ep.boost_lifetime_seconds
        for i, (key, cs) in enumerate(configs.items()):
            facts = cs.facts
            if fact_columns:
                fact_values: list[Any] | None = None
                for j, fact_column in fact_columns:
                    value = fact_column[i]
                    if value is not None:
                        if fact_values is None:
                            fact_values = [
                                facts.current_elo,
                                facts.game_count,
                                facts.quality_score,
                                facts.cascade_multiplier,
                                facts.improvement_boost,
                                facts.priority_override,
                            ]
                        fact_values[j] = value
                if fact_values is not None:
                    elo, games, quality, cascade, improvement, override = fact_values
                    facts = config_facts(
                        elo,
                        games,
                        quality,
                        cascade,
                        improvement,
                        override,
                        facts.target_training_samples,
                        facts.samples_per_game_estimate,
                    )
            fields: list[Any] = [
                cs.staleness_hours,
                cs.elo_velocity,
                cs.training_pending,
                cs.exploration_boost,
                cs.exploration_boost_expires_at,
                cs.curriculum_weight,
                cs.quality_penalty,
                cs.momentum_multiplier,
                cs.search_budget,
            ]
            written = facts is not cs.facts
            for index, field_column in field_columns:
                value = field_column[i]
                if value is not None:
                    fields[index] = value
                    written = True
            if boosts is not None and boosts[i] is not None:
                fields[_EB], fields[_EB + 1] = boost_of(cs, boosts[i], now, lifetime, ep)
                written = True
            if written:
                sh, ev, tp, eb, xa, cw, qp, mm, sb = fields
                changed[key] = config_state(sh, ev, tp, eb, xa, cw, qp, mm, sb, facts)
        configs = MappingProxyType(changed)
        if boosts is not None:  # only a boost moves an expiry
            next_expiry = next_expiry_of(configs, s.cluster.overloaded_until)

    cluster = s.cluster
    if e.nodes is not None:
        by_id = {node.node_id: node for node in e.nodes}
        nodes = tuple(by_id[n] for n in sorted(by_id))
        if nodes != cluster.nodes:
            cluster = replace_cluster(cluster, nodes=nodes)
    if e.training_queue_depth is not None:
        cluster = replace_cluster(cluster, queue_depth=e.training_queue_depth)
    if e.backpressure is not None:
        cluster = replace_cluster(cluster, backpressure=e.backpressure)

    sources = s.sources
    last_refresh = dict(sources.last_refresh)
    new_part = False
    for part in _REFRESH_PARTS:
        if getattr(e, part) is not None:
            if part not in last_refresh:
                new_part = True
            last_refresh[part] = now
    if new_part:  # keep source-name order
        last_refresh = dict(sorted(last_refresh.items()))
    if rows:
        merged_reports = dict(reported)
        merged_reports.update(rows)
        if len(merged_reports) != len(reported):  # a new field: keep field-name order
            merged_reports = dict(sorted(merged_reports.items()))
        reported = MappingProxyType(merged_reports)
    book = source_book(MappingProxyType(last_refresh), reported)
    books = s.books
    new_books = build_books(books.elo, book, books.allocations, books.unknown_events)
    return (configs, cluster, new_books, next_expiry, ())
