"""SourcesRefreshed: who owns which field (docs/source-ownership.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

from selfplay_core._reducing.build import config_facts, config_state
from selfplay_core._reducing.common import (
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
    SourcesRefreshed,
)
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.priority import adaptive_budget
from selfplay_core.state import (
    Books,
    ConfigFacts,
    SchedulerState,
    SourceBook,
)

# --- SourcesRefreshed: who owns which field (docs/source-ownership.md) ----------------------

# Source-owned per-config facts: a report always overwrites.
_FACT_PARTS: Final = (
    ("current_elos", "current_elo"),
    ("game_counts", "game_count"),
    ("quality_scores", "quality_score"),
    ("cascade_multipliers", "cascade_multiplier"),
    ("improvement_boosts", "improvement_boost"),
    ("priority_overrides", "priority_override"),
)
_N_CONFIGS: Final = len(ALL_CONFIGS)
_NEVER_REPORTED: Final[tuple[None, ...]] = (None,) * _N_CONFIGS

# Fields shared with events: a report overwrites only when it is news (it differs from what the
# same source said last time), so an event's later write is not silently wiped.
_SHARED_PARTS: Final = (
    ("staleness_hours", "sh"),
    ("elo_velocities", "ev"),
    ("curriculum_weights", "cw"),
    ("momentum_multipliers", "mm"),
)
_WEIGHT_FIELDS: Final = frozenset({"cw", "mm"})

_REFRESH_PARTS: Final = (
    "current_elos",
    "elo_velocities",
    "game_counts",
    "staleness_hours",
    "curriculum_weights",
    "feedback",
    "improvement_boosts",
    "momentum_multipliers",
    "quality_scores",
    "cascade_multipliers",
    "priority_overrides",
    "nodes",
    "training_queue_depth",
    "backpressure",
)


def _row(values: Mapping[ConfigKey, Any]) -> tuple[Any, ...]:
    """One value per canonical config (None where absent). Event mappings are in canonical
    order, so a complete one needs no key lookups (hashing a `ConfigKey` is costly)."""
    if len(values) == _N_CONFIGS:
        return tuple(values.values())
    row: list[Any] = [None] * _N_CONFIGS
    for key, value in values.items():
        row[key.index] = value
    return tuple(row)


def _facts_with(facts: ConfigFacts, changes: Mapping[str, Any]) -> ConfigFacts:
    get = changes.get
    return config_facts(
        get("current_elo", facts.current_elo),
        get("game_count", facts.game_count),
        get("quality_score", facts.quality_score),
        get("cascade_multiplier", facts.cascade_multiplier),
        get("improvement_boost", facts.improvement_boost),
        get("priority_override", facts.priority_override),
        facts.target_training_samples,
        facts.samples_per_game_estimate,
    )


_NO_CHANGES: Final[Mapping[str, Any]] = MappingProxyType({})


def _identity(value: Any) -> Any:
    return value


def _int_fact(value: float) -> int:
    return int(bounded(value))


_FACT_CONVERTERS: Final[Mapping[str, Callable[[Any], Any]]] = MappingProxyType(
    {
        "current_elo": bounded,
        "game_count": _int_fact,
        "quality_score": bounded,
        "cascade_multiplier": as_weight,
        "improvement_boost": bounded,
        "priority_override": _int_fact,
    }
)


def sources_refreshed(
    s: SchedulerState, e: SourcesRefreshed, now: float, p: SchedulerPolicy
) -> Out | None:
    """Facts are overwritten; shared fields only with news; a part equal to the same source's
    previous report is skipped whole (the common case, and the cheap one)."""
    ep = p.events
    reported = s.sources.reported
    rows: dict[str, tuple[Any, ...]] = {}
    old = tuple(s.configs.values())
    fact_changes: list[dict[str, Any] | None] = [None] * _N_CONFIGS
    field_changes: list[dict[str, Any] | None] = [None] * _N_CONFIGS

    def changes_in(table: list[dict[str, Any] | None], i: int) -> dict[str, Any]:
        found = table[i]
        if found is None:
            found = table[i] = {}
        return found

    def shared(name: str, row: tuple[Any, ...], short: str, convert: Callable[[Any], Any]) -> None:
        """Record `row` as the source's report; write the values that are news."""
        before = reported.get(name, _NEVER_REPORTED)
        if row == before:
            return
        merged = list(before)
        for i, value in enumerate(row):
            if value is None:
                continue
            if before[i] is None or before[i] != value:
                changes_in(field_changes, i)[short] = convert(value)
            merged[i] = value
        rows[name] = tuple(merged)

    for part, field in _FACT_PARTS:
        values: Mapping[ConfigKey, Any] | None = getattr(e, part)
        if values is None:
            continue
        row = _row(values)
        if row == reported.get(part):
            continue  # facts are only written by this source: nothing to do
        rows[part] = row
        convert = _FACT_CONVERTERS[field]
        for i, value in enumerate(row):
            if value is not None:
                changes_in(fact_changes, i)[field] = convert(value)

    # The Elo-tier search budget follows the Elo, but only when the tier value changes, so a
    # "velocity_feedback" budget stays until the Elo moves to another tier.
    if "current_elos" in rows:
        budgets = tuple(
            None if elo is None else float(adaptive_budget(bounded(elo), p))
            for elo in rows["current_elos"]
        )
        shared("search_budget", budgets, "sb", _identity)

    for part, short in _SHARED_PARTS:
        values = getattr(e, part)
        if values is not None:
            shared(part, _row(values), short, as_weight if short in _WEIGHT_FIELDS else bounded)

    if e.feedback is not None:
        signals = _row(e.feedback)
        boosts = tuple(None if sig is None else sig.exploration_boost for sig in signals)
        pending = tuple(None if sig is None else sig.training_pending for sig in signals)
        shared("feedback_boost", boosts, "eb", _identity)
        shared("feedback_pending", pending, "tp", _identity)

    configs = thaw(s.configs)
    for i, key in enumerate(s.configs):
        facts = fact_changes[i]
        fields = field_changes[i]
        if facts is None and fields is None:
            continue
        cs = old[i]
        new_facts = cs.facts if facts is None else _facts_with(cs.facts, facts)
        written: Mapping[str, Any] = _NO_CHANGES if fields is None else fields
        eb, xa = cs.exploration_boost, cs.exploration_boost_expires_at
        if "eb" in written:
            eb, xa = boost_of(cs, written["eb"], now, ep.boost_lifetime_seconds, ep)
        get = written.get
        configs[key] = config_state(
            get("sh", cs.staleness_hours),
            get("ev", cs.elo_velocity),
            get("tp", cs.training_pending),
            eb,
            xa,
            get("cw", cs.curriculum_weight),
            cs.quality_penalty,
            get("mm", cs.momentum_multiplier),
            get("sb", cs.search_budget),
            new_facts,
        )

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

    last_refresh = dict(s.sources.last_refresh)
    for part in _REFRESH_PARTS:
        if getattr(e, part) is not None:
            last_refresh[part] = now
    if rows:
        merged_reports = dict(reported)
        merged_reports.update(rows)
        reported = MappingProxyType(dict(sorted(merged_reports.items())))
    sources = SourceBook(MappingProxyType(dict(sorted(last_refresh.items()))), reported)
    frozen = MappingProxyType(configs)
    next_expiry = next_expiry_of(frozen, cluster.overloaded_until)
    books = Books(s.books.elo, sources, s.books.allocations, s.books.unknown_events)
    return (frozen, cluster, books, next_expiry, ())
