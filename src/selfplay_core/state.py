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
`mappingproxy.copy()`, and a persistent ledger of recent envelope ids (`ledger.Ledger`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, TypeVar

import attrs

from selfplay_core.cluster import Backpressure, ClusterState, NodeCapability, SpawnPause
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.elo_series import EloSeries
from selfplay_core.event_policy import EventPolicy
from selfplay_core.ledger import Ledger
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.values import MAX_INPUT_MAGNITUDE, PriorityInputs

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
    "SchedulerState",
    "SourceBook",
    "cluster_state",
    "dict_copy",
    "earliest_expiry",
    "priority_inputs",
    "priority_inputs_for",
    "with_item",
]

#: Every number in the state stays within ±this: the bound `PriorityInputs` accepts.
MAX_MAGNITUDE: Final = MAX_INPUT_MAGNITUDE

_EMPTY: Final[Mapping[Any, Any]] = MappingProxyType({})


# --- per config --------------------------------------------------------------------------


@attrs.frozen
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


@attrs.frozen
class ConfigState:
    """One config as the reference's `ConfigPriority` (§inputs) holds it.

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

    # The changes events make most often, as constructor calls (`attrs.evolve` costs about
    # three constructions: it walks every field by name); the rarer ones use `attrs.evolve`.
    def with_boost(self, boost: float, expires_at: float) -> ConfigState:
        """This config with exploration boost `boost` lapsing at `expires_at` (0.0 = none)."""
        return ConfigState(
            self.staleness_hours,
            self.elo_velocity,
            self.training_pending,
            boost,
            expires_at,
            self.curriculum_weight,
            self.quality_penalty,
            self.momentum_multiplier,
            self.search_budget,
            self.facts,
        )

    def with_staleness(self, hours: float) -> ConfigState:
        return ConfigState(
            hours,
            self.elo_velocity,
            self.training_pending,
            self.exploration_boost,
            self.exploration_boost_expires_at,
            self.curriculum_weight,
            self.quality_penalty,
            self.momentum_multiplier,
            self.search_budget,
            self.facts,
        )

    def with_training_pending(self, pending: bool) -> ConfigState:
        return ConfigState(
            self.staleness_hours,
            self.elo_velocity,
            pending,
            self.exploration_boost,
            self.exploration_boost_expires_at,
            self.curriculum_weight,
            self.quality_penalty,
            self.momentum_multiplier,
            self.search_budget,
            self.facts,
        )

    def with_quality_penalty(self, penalty: float) -> ConfigState:
        return ConfigState(
            self.staleness_hours,
            self.elo_velocity,
            self.training_pending,
            self.exploration_boost,
            self.exploration_boost_expires_at,
            self.curriculum_weight,
            penalty,
            self.momentum_multiplier,
            self.search_budget,
            self.facts,
        )

    def with_velocity(self, elo_velocity: float, momentum_multiplier: float) -> ConfigState:
        """ELO_VELOCITY_CHANGED's write: the daily velocity and the momentum multiplier."""
        return ConfigState(
            self.staleness_hours,
            elo_velocity,
            self.training_pending,
            self.exploration_boost,
            self.exploration_boost_expires_at,
            self.curriculum_weight,
            self.quality_penalty,
            momentum_multiplier,
            self.search_budget,
            self.facts,
        )


# --- cluster, Elo, sources, allocations ---------------------------------------------------


@attrs.frozen
class ClusterFacts:
    """The cluster as the events and the node source left it (§batch).

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

    def with_node_health(
        self, nodes: tuple[NodeCapability, ...], unhealthy_nodes: frozenset[str]
    ) -> ClusterFacts:
        """The node events' write (NODE_UNHEALTHY and the like, NODE_RECOVERED and the like)."""
        return ClusterFacts(
            nodes,
            unhealthy_nodes,
            self.overloaded_until,
            self.health_factor,
            self.backpressure,
            self.backpressure_active,
            self.training_queue_depth,
            self.spawn_pause,
        )


@attrs.frozen
class EloTracking:
    """ELO_UPDATED observations, (at, elo) oldest first within the window, and the Elo/hour
    velocity last derived from them (§events)."""

    history: Mapping[ConfigKey, EloSeries] = _EMPTY
    velocity_per_hour: Mapping[ConfigKey, float] = _EMPTY


@attrs.frozen
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


@attrs.frozen
class Books:
    """The parts of the state that only a few event types change: Elo tracking, the source
    book, recorded allocations, and unknown event types seen (type → count, in type order)."""

    elo: EloTracking = EloTracking()
    sources: SourceBook = SourceBook()
    allocations: AllocationBook = AllocationBook()
    unknown_events: Mapping[str, int] = _EMPTY

    def with_elo(self, elo: EloTracking) -> Books:
        """ELO_UPDATED's write (a fifth of a real log: a constructor call, not `evolve`)."""
        return Books(elo, self.sources, self.allocations, self.unknown_events)


# --- the whole state ---------------------------------------------------------------------


_K = TypeVar("_K")
_V = TypeVar("_V")


def dict_copy(mapping: Mapping[_K, _V]) -> dict[_K, _V]:
    """A writable copy of one of the state's read-only mappings, in the same order. A
    mappingproxy's dict is copied directly (`dict(proxy)` goes key by key through the mapping
    protocol: about eight times slower for the twelve configs)."""
    if type(mapping) is MappingProxyType:
        return mapping.copy()
    return dict(mapping)


def with_item(
    configs: Mapping[ConfigKey, ConfigState], key: ConfigKey, config: ConfigState
) -> Mapping[ConfigKey, ConfigState]:
    """`configs` with `key` → `config`, read-only, in the same order."""
    changed = dict_copy(configs)
    changed[key] = config
    return MappingProxyType(changed)


def earliest_expiry(
    configs: Mapping[ConfigKey, ConfigState], overloaded_until: Mapping[str, float]
) -> float:
    """The earliest boost or backoff expiry (0.0 = none): what `ledger.next_expiry_at` holds."""
    times = [cs.exploration_boost_expires_at for cs in configs.values()]
    times += overloaded_until.values()
    return min([t for t in times if t], default=0.0)


def _initial_configs() -> Mapping[ConfigKey, ConfigState]:
    default = ConfigState()
    return MappingProxyType(dict.fromkeys(ALL_CONFIGS, default))


@attrs.frozen
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

    # Changes. Each keeps `ledger.next_expiry_at` (the earliest boost or backoff expiry) exact;
    # the `expiry_with_…` methods say what it becomes (the reducer's handlers use them too).
    def expiry_with_config(
        self, before: ConfigState, config: ConfigState, configs: Mapping[ConfigKey, ConfigState]
    ) -> float:
        """`next_expiry_at` once config `before` becomes `config`, `configs` the result."""
        soonest = self.ledger.next_expiry_at
        old, new = before.exploration_boost_expires_at, config.exploration_boost_expires_at
        if new != old:
            if old and old == soonest:  # the earliest expiry moved: find the new one
                soonest = earliest_expiry(configs, self.cluster.overloaded_until)
            elif new and (soonest == 0.0 or new < soonest):
                soonest = new
        return soonest

    def expiry_with_cluster(self, cluster: ClusterFacts) -> float:
        """`next_expiry_at` once the cluster is `cluster` (its backoffs may have moved)."""
        if cluster.overloaded_until is self.cluster.overloaded_until:
            return self.ledger.next_expiry_at
        return earliest_expiry(self.configs, cluster.overloaded_until)

    def with_config(self, key: ConfigKey, config: ConfigState) -> SchedulerState:
        """This state with config `key` replaced by `config`."""
        before = self.configs[key]
        if config is before:
            return self
        configs = with_item(self.configs, key, config)
        soonest = self.expiry_with_config(before, config, configs)
        ledger = self.ledger.with_next_expiry(soonest)
        return SchedulerState(configs, self.cluster, self.books, ledger)

    def with_configs(self, configs: Mapping[ConfigKey, ConfigState]) -> SchedulerState:
        """This state with every config replaced (`configs` in canonical order)."""
        soonest = earliest_expiry(configs, self.cluster.overloaded_until)
        return SchedulerState(
            configs, self.cluster, self.books, self.ledger.with_next_expiry(soonest)
        )

    def with_cluster(self, cluster: ClusterFacts) -> SchedulerState:
        """This state with `cluster` (its overload backoffs may move the next expiry)."""
        ledger = self.ledger.with_next_expiry(self.expiry_with_cluster(cluster))
        return SchedulerState(self.configs, cluster, self.books, ledger)

    def with_books(self, books: Books) -> SchedulerState:
        return SchedulerState(self.configs, self.cluster, books, self.ledger)

    def with_ledger(self, ledger: Ledger) -> SchedulerState:
        return SchedulerState(self.configs, self.cluster, self.books, ledger)

    # The interface's flat names for the parts.
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
