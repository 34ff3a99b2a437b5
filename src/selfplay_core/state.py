"""The scheduler's whole state as one immutable value, and what decisions read from it.

`SchedulerState` is what `reduce` folds envelopes into. Its layout follows who may write what
(docs/source-ownership.md):

- `ConfigState` holds the per-config fields events write (boosts, staleness, weights…); its
  `facts` (`ConfigFacts`) hold the ones only data sources and the facade's setters write.
- `ClusterFacts` holds nodes, unhealthy nodes, overload backoffs, health and backpressure.
- `EloTracking` holds the ELO_UPDATED history and the hourly velocities derived from it.
- `SourceBook` remembers when each source last reported and what it last said about fields it
  shares with events (a refresh overwrites those only with news).

Everything is built for a fast reducer: small records, read-only mappings copied with
`mappingproxy.copy()`, and a persistent window of recent envelope ids (`RecentIds`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import attrs

from selfplay_core.cluster import Backpressure, ClusterState, NodeCapability, SpawnPause
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.event_policy import EventPolicy

if TYPE_CHECKING:
    from selfplay_core.policy import SchedulerPolicy
    from selfplay_core.values import PriorityInputs

__all__ = [
    "MAX_MAGNITUDE",
    "AllocationBook",
    "Books",
    "ClusterFacts",
    "ConfigFacts",
    "ConfigState",
    "EloSeries",
    "EloTracking",
    "Ledger",
    "RecentIds",
    "SchedulerState",
    "SourceBook",
    "check_invariants",
    "cluster_state",
    "priority_inputs",
    "priority_inputs_for",
]

#: Every number in the state stays within ±this (the bound `PriorityInputs` accepts).
MAX_MAGNITUDE: Final = 1e9

_EMPTY: Final[Mapping[Any, Any]] = MappingProxyType({})
_new_object: Final = object.__new__


# --- per config --------------------------------------------------------------------------


@attrs.frozen(weakref_slot=False)  # the reducer's builders need its plain slot layout
class ConfigFacts:
    """Per-config facts that only data sources and the facade's setters write (never events)."""

    current_elo: float = 1500.0
    game_count: int = 0
    quality_score: float = 0.7
    cascade_multiplier: float = 1.0
    improvement_boost: float = 0.0
    priority_override: int = 3
    target_training_samples: int = 50_000
    samples_per_game_estimate: float = 50.0


_DEFAULT_FACTS: Final = ConfigFacts()


@attrs.frozen(weakref_slot=False)  # the reducer's builders need its plain slot layout
class ConfigState:
    """One config as the reference's `ConfigPriority` (priority.md §2.2) holds it.

    `elo_velocity` is Elo per **day** (the populator's); the hourly velocity of ELO_UPDATED
    lives in `SchedulerState.elo`. `exploration_boost_expires_at` is 0.0 when no expiry is set;
    a boost above 1.0 always has one, and lapses to 1.0 when an envelope at or after it arrives.
    The fields of `facts` are readable directly too (`state.current_elo`).
    """

    staleness_hours: float = 0.0
    elo_velocity: float = 0.0
    training_pending: bool = False
    exploration_boost: float = 1.0
    exploration_boost_expires_at: float = 0.0
    curriculum_weight: float = 1.0
    quality_penalty: float = 0.0
    momentum_multiplier: float = 1.0
    search_budget: float = 400.0
    facts: ConfigFacts = _DEFAULT_FACTS

    @property
    def current_elo(self) -> float:
        return self.facts.current_elo

    @property
    def game_count(self) -> int:
        return self.facts.game_count

    @property
    def quality_score(self) -> float:
        return self.facts.quality_score

    @property
    def cascade_multiplier(self) -> float:
        return self.facts.cascade_multiplier

    @property
    def improvement_boost(self) -> float:
        return self.facts.improvement_boost

    @property
    def priority_override(self) -> int:
        return self.facts.priority_override

    @property
    def target_training_samples(self) -> int:
        return self.facts.target_training_samples

    @property
    def samples_per_game_estimate(self) -> float:
        return self.facts.samples_per_game_estimate

    def boost_at(self, now: float) -> float:
        """The exploration boost in force at `now` (a lapsed boost above 1.0 counts as 1.0)."""
        expires = self.exploration_boost_expires_at
        if expires and expires <= now and self.exploration_boost > 1.0:
            return 1.0
        return self.exploration_boost


# --- cluster, Elo, sources, allocations ---------------------------------------------------


@attrs.frozen(weakref_slot=False)  # the reducer's builders need its plain slot layout
class ClusterFacts:
    """The cluster as the events and the node source left it (allocation.md §2.3).

    `nodes` are ordered by id, one per id; `overloaded_until` (node → end of its backoff) is
    ordered by node id; `backpressure_active` is the reference's flag of BACKPRESSURE_ACTIVATED
    (read by nobody, kept for status); `backpressure` is the polled signal; `spawn_pause` the
    facade's pause (`pause_spawning`, `activate_backpressure`), which empties batches.
    """

    nodes: tuple[NodeCapability, ...] = ()
    unhealthy_nodes: frozenset[str] = frozenset()
    overloaded_until: Mapping[str, float] = _EMPTY
    health_factor: float = 1.0
    backpressure: Backpressure | None = None
    backpressure_active: bool = False
    training_queue_depth: int = 0
    spawn_pause: SpawnPause | None = None


class _PointLog:
    """Append-only list of (at, elo) points shared by successive `EloSeries` values."""

    __slots__ = ("points", "top")

    def __init__(self, points: list[tuple[float, float]]) -> None:
        self.points = points
        self.top = len(points)  # the end of the newest series


class EloSeries:
    """ELO_UPDATED observations of one config, (at, elo) oldest first, as a persistent value.

    Like `Ledger`, successive series share one append-only log, so appending to the newest
    series and dropping points older than the window are O(1) and O(log n) instead of copying
    the window on every update; a branch copies. Equality is by content."""

    __slots__ = ("_end", "_log", "_start")

    def __init__(self, log: _PointLog, start: int, end: int) -> None:
        self._log = log
        self._start = start
        self._end = end

    @classmethod
    def of(cls, points: Iterable[tuple[float, float]] = ()) -> EloSeries:
        kept = [(float(t), float(elo)) for t, elo in points]
        return cls(_PointLog(kept), 0, len(kept))

    @property
    def points(self) -> tuple[tuple[float, float], ...]:
        return tuple(self._log.points[self._start : self._end])

    @property
    def first(self) -> tuple[float, float]:
        return self._log.points[self._start]

    @property
    def last(self) -> tuple[float, float]:
        return self._log.points[self._end - 1]

    def appended(self, at: float, elo: float, cutoff: float) -> EloSeries:
        """This series without points before `cutoff`, with (at, elo) appended (`at` ≥ every
        point's time: the reducer's clock never goes back)."""
        log, start, end = self._log, self._start, self._end
        if end != log.top:  # a branch: copy this series' window
            log = _PointLog(list(log.points[start:end]))
            start, end = 0, log.top
        points = log.points
        if start < end and points[start][0] < cutoff:
            start = bisect.bisect_left(points, (cutoff,), start, end)
        points.append((at, elo))
        end += 1
        log.top = end
        if start > 1024 and 2 * start > end:  # mostly dropped points: compact
            log = _PointLog(points[start:end])
            start, end = 0, log.top
        new = _new_object(EloSeries)  # skips __init__: once per ELO_UPDATED
        new._log = log
        new._start = start
        new._end = end
        return new

    def ends(self) -> tuple[int, float, float, float]:
        """(number of points, first time, first Elo, last Elo): what a velocity needs, in one
        call (this is on the path of every ELO_UPDATED)."""
        points = self._log.points
        first_t, first_elo = points[self._start]
        return self._end - self._start, first_t, first_elo, points[self._end - 1][1]

    def __len__(self) -> int:
        return self._end - self._start

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return iter(self.points)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EloSeries):
            return NotImplemented
        return self.points == other.points

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EloSeries({list(self.points)!r})"

    def __to_data__(self) -> list[list[float]]:
        """Plain data for snapshots: [[at, elo], ...]."""
        return [[t, elo] for t, elo in self.points]

    @classmethod
    def __from_data__(cls, data: object) -> EloSeries:
        if not isinstance(data, list | tuple):
            raise TypeError(f"elo series: expected a list, got {type(data).__name__}")
        points: list[tuple[float, float]] = []
        for i, point in enumerate(data):
            ok = isinstance(point, list | tuple) and len(point) == 2
            if not ok or not all(type(x) in (int, float) and math.isfinite(x) for x in point):
                raise ValueError(f"elo series.{i}: expected [at, elo], finite numbers")
            points.append((float(point[0]), float(point[1])))
        return cls.of(points)


@attrs.frozen(weakref_slot=False)  # the reducer's builders need its plain slot layout
class EloTracking:
    """ELO_UPDATED observations, (at, elo) oldest first within the window, and the Elo/hour
    velocity last derived from them (events.md §3.25)."""

    history: Mapping[ConfigKey, EloSeries] = _EMPTY
    velocity_per_hour: Mapping[ConfigKey, float] = _EMPTY


@attrs.frozen(weakref_slot=False)  # the reducer's builders need its plain slot layout
class SourceBook:
    """When each source last reported (`last_refresh`, source name → at), and what it last
    said of the fields it shares with events (`reported`, field name → one value per config in
    canonical order, None = not reported or forgotten): a refresh overwrites a shared field
    only when its value is news (docs/source-ownership.md). The values are as the source sent
    them: numbers (counts stay integers), and booleans for the feedback flags
    (`feedback_pending`)."""

    last_refresh: Mapping[str, float] = _EMPTY
    reported: Mapping[str, tuple[float | bool | None, ...]] = _EMPTY

    # `reported` holds what each source sent as it sent it: numbers (int or float) and, for
    # the feedback flags ("feedback_pending"), booleans. No cattrs union hook keeps a bool a
    # bool and an int an int, so the snapshot is written and read by hand, unchanged.
    def __to_data__(self) -> dict[str, Any]:
        """Plain data for snapshots: what the attrs layout would give, value types kept."""
        return {
            "last_refresh": dict(self.last_refresh),
            "reported": {name: list(row) for name, row in self.reported.items()},
        }

    @classmethod
    def __from_data__(cls, data: object) -> SourceBook:
        """The inverse of `__to_data__`; TypeError/ValueError name the field on bad data."""
        if not isinstance(data, Mapping):
            raise TypeError(f"expected an object, got {type(data).__name__}")
        last_raw = data.get("last_refresh", {})
        if not isinstance(last_raw, Mapping):
            raise TypeError("last_refresh: expected an object")
        last_refresh: dict[str, float] = {}
        for name, at in last_raw.items():
            if type(at) not in (int, float):
                raise TypeError(f"last_refresh.{name}: expected a number, got {at!r}")
            if not math.isfinite(at):
                raise ValueError(f"last_refresh.{name}: not finite ({at!r})")
            last_refresh[str(name)] = float(at)
        reported_raw = data.get("reported", {})
        if not isinstance(reported_raw, Mapping):
            raise TypeError("reported: expected an object")
        reported: dict[str, tuple[float | bool | None, ...]] = {}
        for name, row in reported_raw.items():
            if not isinstance(row, list | tuple) or len(row) != len(ALL_CONFIGS):
                raise TypeError(f"reported.{name}: expected a list of {len(ALL_CONFIGS)} values")
            for i, value in enumerate(row):
                if value is None or type(value) is bool:
                    continue
                if type(value) not in (int, float):
                    raise TypeError(
                        f"reported.{name}.{i}: expected a number, a boolean or null, "
                        f"got {type(value).__name__}"
                    )
                if not math.isfinite(value):
                    raise ValueError(f"reported.{name}.{i}: not finite ({value!r})")
            reported[str(name)] = tuple(row)
        return cls(
            MappingProxyType(dict(sorted(last_refresh.items()))),
            MappingProxyType(dict(sorted(reported.items()))),
        )


@attrs.frozen
class AllocationBook:
    """Recorded decisions: (at, total games) within the history window, and the running total."""

    history: tuple[tuple[float, int], ...] = ()
    games_total: int = 0
    decisions: int = 0


# --- the window of recent envelope ids ------------------------------------------------------


class _IdLog:
    """Append-only list of ids shared by successive `RecentIds`/`Ledger` values.

    `index` maps the ids appended to this log to their sequence numbers; `older` is the index
    of the log this one succeeded, so a compaction copies only the list of ids, never rebuilds
    an index. A succeeded log is never appended to again (its newest window is due for
    compaction, so it always gets a successor), which keeps the shared `older` unchanged."""

    __slots__ = ("base", "ids", "index", "older", "top")

    def __init__(self, base: int, ids: list[str]) -> None:
        self.base = base
        self.ids = ids
        self.index = {id_: base + i for i, id_ in enumerate(ids)}
        self.older: dict[str, int] = {}
        self.top = base + len(ids)  # the end of the newest window

    def seq(self, id_: object) -> int | None:
        """The latest sequence number of `id_` in this log or its predecessor's index."""
        found = self.index.get(id_)  # type: ignore[call-overload]
        if found is None:
            return self.older.get(id_)  # type: ignore[call-overload, no-any-return]
        return found  # type: ignore[no-any-return]

    def successor(self, size: int) -> _IdLog:
        """A log holding this one's last `size` ids, whose older index is this one's (the window
        of any later end only reaches ids appended since this log began)."""
        end = self.top
        new = _new_object(_IdLog)
        new.base = max(end - size, self.base)
        new.ids = self.ids[new.base - self.base :]
        new.index = {}
        new.older = self.index
        new.top = end
        return new


def window_log(log: _IdLog, end: int, size: int) -> _IdLog:
    """The log a window ending at `end` appends to: its own, a successor when it is long
    enough to compact, or a copy of the window when it is not the log's newest (a branch)."""
    if end != log.top:
        start = max(end - size, log.base)
        return _IdLog(start, log.ids[start - log.base : end - log.base])
    if end - log.base >= 2 * size:
        return log.successor(size)
    return log


class RecentIds:
    """The ids of the last `size` envelopes seen, as a persistent value.

    Successive windows share one append-only log, so adding an id to the newest window is O(1);
    each window is the log's prefix up to its own `end` and so never changes. Adding to an older
    window (a branch) copies that window first; the log is compacted when it reaches twice the
    size. Equality is by content (`size` and `ids`). Not for use from several threads at once.
    """

    __slots__ = ("_end", "_log", "size")

    def __init__(self, log: _IdLog, end: int, size: int) -> None:
        self._log = log
        self._end = end
        self.size = size

    @classmethod
    def of(cls, ids: Iterable[str] = (), size: int = 10_000) -> RecentIds:
        """A window holding the last `size` of `ids` (oldest first)."""
        kept = list(ids)[-size:] if size > 0 else []
        return cls(_IdLog(0, kept), len(kept), size)

    @property
    def ids(self) -> tuple[str, ...]:
        log = self._log
        start = max(self._end - self.size, log.base)
        return tuple(log.ids[start - log.base : self._end - log.base])

    def __contains__(self, id_: object) -> bool:
        log = self._log
        if self._end == log.top:
            seq = log.seq(id_)
            return seq is not None and seq >= self._end - self.size
        return id_ in self.ids

    def add(self, id_: str) -> RecentIds:
        """This window with `id_` appended (and the oldest id dropped when full)."""
        end = self._end
        log = window_log(self._log, end, self.size)
        log.ids.append(id_)
        log.index[id_] = end
        log.top = end + 1
        return RecentIds(log, end + 1, self.size)

    def resized(self, size: int) -> RecentIds:
        return self if size == self.size else RecentIds.of(self.ids, size)

    def __len__(self) -> int:
        return min(self.size, self._end - self._log.base)

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecentIds):
            return NotImplemented
        return self.size == other.size and self.ids == other.ids

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RecentIds(size={self.size}, ids={self.ids!r})"


class Ledger:
    """What changes with every envelope, in one small persistent value: the window of recent
    envelope ids (shared append-only log, as `RecentIds`), how many envelopes were applied,
    the latest envelope time (`last_at`) and the earliest pending expiry (`next_expiry_at`,
    0.0 = none). One object per envelope instead of four keeps `reduce` fast. Equality is by
    content. Not for use from several threads at once."""

    __slots__ = ("_end", "_log", "applied", "last_at", "next_expiry_at", "size")

    def __init__(
        self,
        log: _IdLog,
        end: int,
        size: int,
        applied: int,
        last_at: float,
        next_expiry_at: float,
    ) -> None:
        self._log = log
        self._end = end
        self.size = size
        self.applied = applied
        self.last_at = last_at
        self.next_expiry_at = next_expiry_at

    @classmethod
    def of(
        cls,
        ids: Iterable[str] = (),
        size: int = 10_000,
        applied: int = 0,
        last_at: float = 0.0,
        next_expiry_at: float = 0.0,
    ) -> Ledger:
        window = RecentIds.of(ids, size)
        return cls(window._log, window._end, size, applied, last_at, next_expiry_at)

    @property
    def recent_ids(self) -> RecentIds:
        return RecentIds(self._log, self._end, self.size)

    @property
    def ids(self) -> tuple[str, ...]:
        return self.recent_ids.ids

    def __contains__(self, id_: object) -> bool:
        end = self._end
        log = self._log
        if end == log.top:
            seq = log.seq(id_)
            return seq is not None and seq >= end - self.size
        return id_ in self.recent_ids.ids

    def record(self, id_: str, applied: int, last_at: float, next_expiry_at: float) -> Ledger:
        """This ledger with `id_` appended to the window and the counters replaced."""
        end = self._end
        log = self._log
        if end != log.top or end - log.base >= 2 * self.size:
            log = window_log(log, end, self.size)  # a branch, or time to compact
        log.ids.append(id_)
        log.index[id_] = end
        log.top = end + 1
        new = _new_object(Ledger)  # skips __init__: this is the hot path of `reduce`
        new._log = log
        new._end = end + 1
        new.size = self.size
        new.applied = applied
        new.last_at = last_at
        new.next_expiry_at = next_expiry_at
        return new

    def __to_data__(self) -> dict[str, Any]:
        """Plain data for snapshots (the codec's protocol for hand-written values)."""
        return {
            "size": self.size,
            "ids": list(self.ids),
            "applied": self.applied,
            "last_at": self.last_at,
            "next_expiry_at": self.next_expiry_at,
        }

    @classmethod
    def __from_data__(cls, data: object) -> Ledger:
        """The inverse of `__to_data__`; TypeError/ValueError name the field on bad data."""
        if not isinstance(data, Mapping):
            raise TypeError(f"ledger: expected an object, got {type(data).__name__}")
        missing = {"size", "ids", "applied", "last_at", "next_expiry_at"} - set(data)
        if missing:
            raise ValueError(f"ledger.{sorted(missing)[0]}: missing")
        size, ids, applied = data["size"], data["ids"], data["applied"]
        if type(size) is not int or size < 1:
            raise ValueError(f"ledger.size: expected an integer >= 1, got {size!r}")
        if not isinstance(ids, list | tuple) or not all(type(i) is str for i in ids):
            raise TypeError("ledger.ids: expected a list of strings")
        if type(applied) is not int or applied < 0:
            raise ValueError(f"ledger.applied: expected an integer >= 0, got {applied!r}")
        times = {name: data[name] for name in ("last_at", "next_expiry_at")}
        for name, value in times.items():
            number = type(value) in (int, float)
            if not number or not math.isfinite(value) or value < 0:
                raise ValueError(f"ledger.{name}: expected a finite time >= 0, got {value!r}")
        return cls.of(ids, size, applied, float(times["last_at"]), float(times["next_expiry_at"]))

    def with_next_expiry(self, next_expiry_at: float) -> Ledger:
        return Ledger(self._log, self._end, self.size, self.applied, self.last_at, next_expiry_at)

    def resized(self, size: int) -> Ledger:
        if size == self.size:
            return self
        return Ledger.of(self.ids, size, self.applied, self.last_at, self.next_expiry_at)

    def _key(self) -> tuple[object, ...]:
        return (self.size, self.ids, self.applied, self.last_at, self.next_expiry_at)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ledger):
            return NotImplemented
        return self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"Ledger(size={self.size}, ids={self.ids!r}, applied={self.applied}, "
            f"last_at={self.last_at!r}, next_expiry_at={self.next_expiry_at!r})"
        )


@attrs.frozen(weakref_slot=False)  # the reducer's builders need its plain slot layout
class Books:
    """The parts of the state that only a few event types change: Elo tracking, the source
    book, recorded allocations, and unknown event types seen (type → count, in type order)."""

    elo: EloTracking = EloTracking()
    sources: SourceBook = SourceBook()
    allocations: AllocationBook = AllocationBook()
    unknown_events: Mapping[str, int] = _EMPTY


# --- the whole state ----------------------------------------------------------------------


def _initial_configs() -> Mapping[ConfigKey, ConfigState]:
    default = ConfigState()
    return MappingProxyType(dict.fromkeys(ALL_CONFIGS, default))


@attrs.frozen(weakref_slot=False)  # the reducer's builders need its plain slot layout
class SchedulerState:
    """Everything the scheduler knows, at `last_at` (the latest envelope time seen).

    - `configs`: one `ConfigState` per canonical config, in canonical order.
    - `cluster`: nodes, unhealthy nodes, backoffs, health, backpressure, queue depth.
    - `books`: Elo tracking, the source book, recorded allocations, unknown event counts.
    - `ledger`: the dedup window of recent envelope ids, `applied` (envelopes applied;
      duplicates and unknown events excluded), `last_at`, `next_expiry_at` (the earliest boost
      or backoff expiry, 0.0 = none, so most envelopes skip the expiry scan).

    Every part is readable under its plain name too (`state.last_at`, `state.elo`, …).
    """

    configs: Mapping[ConfigKey, ConfigState] = attrs.field(factory=_initial_configs)
    cluster: ClusterFacts = ClusterFacts()
    books: Books = Books()
    ledger: Ledger = attrs.field(factory=Ledger.of)

    @classmethod
    def initial(cls, policy: SchedulerPolicy | None = None) -> SchedulerState:
        """A fresh scheduler: the 12 configs at the reference's defaults, no nodes, no history."""
        size = policy.events.dedup_window if policy is not None else EventPolicy().dedup_window
        return cls(ledger=Ledger.of((), size))

    def config(self, key: ConfigKey) -> ConfigState:
        return self.configs[key]

    # The interface's flat names for the parts.
    @property
    def recent_ids(self) -> RecentIds:
        return self.ledger.recent_ids

    @property
    def applied(self) -> int:
        return self.ledger.applied

    @property
    def last_at(self) -> float:
        return self.ledger.last_at

    @property
    def next_expiry_at(self) -> float:
        return self.ledger.next_expiry_at

    @property
    def elo(self) -> EloTracking:
        return self.books.elo

    @property
    def sources(self) -> SourceBook:
        return self.books.sources

    @property
    def allocations(self) -> AllocationBook:
        return self.books.allocations

    @property
    def unknown_events(self) -> Mapping[str, int]:
        return self.books.unknown_events

    @property
    def nodes(self) -> tuple[NodeCapability, ...]:
        return self.cluster.nodes

    @property
    def unhealthy_nodes(self) -> frozenset[str]:
        return self.cluster.unhealthy_nodes

    @property
    def overloaded_until(self) -> Mapping[str, float]:
        return self.cluster.overloaded_until

    @property
    def cluster_health_factor(self) -> float:
        return self.cluster.health_factor

    @property
    def training_queue_depth(self) -> int:
        return self.cluster.training_queue_depth

    @property
    def elo_velocity_per_hour(self) -> Mapping[ConfigKey, float]:
        return self.books.elo.velocity_per_hour

    @property
    def last_refresh(self) -> Mapping[str, float]:
        return self.books.sources.last_refresh


# --- what decisions read ------------------------------------------------------------------


def priority_inputs_for(state: SchedulerState, config_key: ConfigKey, now: float) -> PriorityInputs:
    """The priority inputs of one config at `now` (a lapsed boost counts as 1.0)."""
    from selfplay_core.values import PriorityInputs

    cs = state.configs[config_key]
    facts = cs.facts
    return PriorityInputs(
        config_key=config_key,
        current_elo=facts.current_elo,
        elo_velocity=cs.elo_velocity,
        elo_velocity_per_hour=state.elo.velocity_per_hour.get(config_key, 0.0),
        staleness_hours=cs.staleness_hours,
        curriculum_weight=cs.curriculum_weight,
        quality_score=facts.quality_score,
        quality_penalty=cs.quality_penalty,
        games_count=facts.game_count,
        training_pending=cs.training_pending,
        exploration_boost=cs.boost_at(now),
        improvement_boost=facts.improvement_boost,
        momentum_multiplier=cs.momentum_multiplier,
        cascade_multiplier=facts.cascade_multiplier,
        priority_override=facts.priority_override,
    )


def priority_inputs(
    state: SchedulerState, now: float, policy: SchedulerPolicy | None = None
) -> Mapping[ConfigKey, PriorityInputs]:
    """Every config's priority inputs at `now`, in canonical order."""
    del policy  # the inputs do not depend on it today; kept so callers need not change
    return MappingProxyType({key: priority_inputs_for(state, key, now) for key in state.configs})


def cluster_state(state: SchedulerState) -> ClusterState:
    """The cluster as allocation sees it."""
    cluster = state.cluster
    return ClusterState(
        nodes=cluster.nodes,
        unhealthy_nodes=cluster.unhealthy_nodes,
        overloaded_until=cluster.overloaded_until,
        health_factor=min(1.0, max(0.0, cluster.health_factor)),
        backpressure=cluster.backpressure,
        spawn_pause=cluster.spawn_pause,
    )


# --- invariants ---------------------------------------------------------------------------


def _number_problems(where: str, value: object) -> list[str]:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [f"{where}: not a number ({value!r})"]
    if not math.isfinite(value):
        return [f"{where}: not finite ({value!r})"]
    if abs(value) > MAX_MAGNITUDE:
        return [f"{where}: magnitude above {MAX_MAGNITUDE:g} ({value!r})"]
    return []


def _time_problems(where: str, value: object) -> list[str]:
    """Times (epoch seconds) only need to be finite numbers ≥ 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return [f"{where}: not a number ({value!r})"]
    if not math.isfinite(value) or value < 0:
        return [f"{where}: not a finite time ({value!r})"]
    return []


def _config_problems(
    key: ConfigKey, cs: ConfigState, last_at: float, policy: EventPolicy
) -> list[str]:
    problems: list[str] = []
    for name in (
        "staleness_hours",
        "elo_velocity",
        "exploration_boost",
        "curriculum_weight",
        "quality_penalty",
        "momentum_multiplier",
        "search_budget",
    ):
        problems += _number_problems(f"{key}.{name}", getattr(cs, name))
    for name in attrs.fields_dict(ConfigFacts):
        problems += _number_problems(f"{key}.facts.{name}", getattr(cs.facts, name))
    problems += _time_problems(
        f"{key}.exploration_boost_expires_at", cs.exploration_boost_expires_at
    )
    if problems:
        return problems
    eb = cs.exploration_boost
    if not policy.min_exploration_boost <= eb <= policy.max_exploration_boost:
        problems.append(
            f"{key}.exploration_boost: {eb!r} outside "
            f"[{policy.min_exploration_boost}, {policy.max_exploration_boost}]"
        )
    expires = cs.exploration_boost_expires_at
    if expires != 0.0 and expires <= last_at:
        problems.append(f"{key}.exploration_boost_expires_at: {expires!r} is not after {last_at!r}")
    if eb > 1.0 and expires == 0.0:
        problems.append(f"{key}.exploration_boost: {eb!r} above 1.0 without an expiry")
    for name in ("curriculum_weight", "momentum_multiplier"):
        if getattr(cs, name) < 0:
            problems.append(f"{key}.{name}: negative")
    if cs.facts.cascade_multiplier < 0:
        problems.append(f"{key}.facts.cascade_multiplier: negative")
    if cs.facts.game_count < 0 or cs.facts.target_training_samples < 0:
        problems.append(f"{key}.facts: negative count")
    return problems


def _expiries(state: SchedulerState) -> list[float]:
    found = [cs.exploration_boost_expires_at for cs in state.configs.values()]
    found += state.cluster.overloaded_until.values()
    return [t for t in found if t]


def check_invariants(
    state: SchedulerState, policy: SchedulerPolicy | EventPolicy | None = None
) -> tuple[str, ...]:
    """Every way `state` breaks the state invariants (empty when it holds them all): finite
    numbers within ±MAX_MAGNITUDE, boosts within the policy's bounds, expiries in the future
    or gone, canonical orders, a consistent expiry cache."""
    events = (
        policy
        if isinstance(policy, EventPolicy)
        else policy.events
        if policy is not None
        else EventPolicy()
    )
    problems: list[str] = []
    if tuple(state.configs) != ALL_CONFIGS:
        problems.append("configs: not exactly the 12 canonical configs in canonical order")
    last_at = state.last_at
    problems += _time_problems("last_at", last_at)
    for key, cs in state.configs.items():
        problems += _config_problems(key, cs, last_at, events)
    cluster = state.cluster
    ids = [node.node_id for node in cluster.nodes]
    if ids != sorted(set(ids)):
        problems.append("cluster.nodes: not one per id in id order")
    if list(cluster.overloaded_until) != sorted(cluster.overloaded_until):
        problems.append("cluster.overloaded_until: not in node-id order")
    for node_id, until in cluster.overloaded_until.items():
        problems += _time_problems(f"cluster.overloaded_until.{node_id}", until)
        if until <= last_at:
            problems.append(f"cluster.overloaded_until.{node_id}: {until!r} is not after {last_at}")
    problems += _number_problems("cluster.health_factor", cluster.health_factor)
    if not 0.0 <= cluster.health_factor <= 1.0:
        problems.append(f"cluster.health_factor: {cluster.health_factor!r} outside [0, 1]")
    for key, history in state.elo.history.items():
        times = [t for t, _ in history]
        if times != sorted(times):
            problems.append(f"elo.history.{key}: not in time order")
        for t, elo in history:
            problems += _time_problems(f"elo.history.{key}", t)
            problems += _number_problems(f"elo.history.{key}", elo)
    for key, velocity in state.elo.velocity_per_hour.items():
        problems += _number_problems(f"elo.velocity_per_hour.{key}", velocity)
    expiries = _expiries(state)
    expected = min(expiries) if expiries else 0.0
    if state.next_expiry_at != expected:
        problems.append(f"next_expiry_at: {state.next_expiry_at!r}, expected {expected!r}")
    if list(state.unknown_events) != sorted(state.unknown_events):
        problems.append("unknown_events: not in type order")
    if any(n < 1 for n in state.unknown_events.values()):
        problems.append("unknown_events: a count below 1")
    if state.applied < 0:
        problems.append("applied: negative")
    return tuple(problems)
