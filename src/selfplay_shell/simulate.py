"""A seeded synthetic cluster driven through the real `SelfplayScheduler` on a simulated clock.

The world: nodes of mixed GPU types (some spot nodes that join late and get terminated) that
fail, recover and overload; twelve configs whose game counts grow as allocated games are played,
whose data goes stale when nobody plays them, and whose Elo moves when enough new games have
been played to train a model. Every minute of simulated time the world advances and publishes
what happened (`SelfplayComplete`, `TrainingCompleted`, `EloUpdated`, `ModelPromoted`,
`NodeUnhealthy`, `NodeRecovered`, `NodeOverloaded`, …) to the scheduler, which ticks; every few
minutes the scheduler refreshes its sources (the world's measurements, through an accessor) and
nodes; every ten minutes it decides a batch, which the world then plays.

All randomness comes from one `random.Random(seed)`, drawn in a fixed order; all iteration is
over lists in a fixed order; ids come from counters; time is the simulated clock. So the same
seed and options write a byte-identical log, whatever PYTHONHASHSEED is.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import attrs
from returns.io import IOResult, IOSuccess

from selfplay_core.allocation.values import BatchAllocation
from selfplay_core.cluster import Backpressure, NodeCapability
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.events import (
    EloUpdated,
    Event,
    HostOffline,
    ModelPromoted,
    NodeActivated,
    NodeOverloaded,
    NodeRecovered,
    NodeTerminated,
    NodeUnhealthy,
    P2PClusterHealthy,
    P2PClusterUnhealthy,
    P2PNodeDead,
    RegressionDetected,
    SelfplayComplete,
    TrainingCompleted,
    make_envelope,
)
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.signals import FeedbackSignal
from selfplay_shell.accessor import AccessorSnapshot, SourceHealth
from selfplay_shell.eventlog import EventLog
from selfplay_shell.scheduler import SelfplayScheduler

__all__ = [
    "DEFAULT_START_AT",
    "GPU_TYPES",
    "SimulatedAccessor",
    "SimulationConfig",
    "SimulationResult",
    "SyntheticCluster",
    "simulate",
]

#: 2026-01-01T00:00:00Z: simulated time starts here (so logs look like real ones).
DEFAULT_START_AT: Final = 1_767_225_600.0


@attrs.frozen
class GpuType:
    """A kind of node: the GPU name the allocation tables know, memory, games per hour on a
    small two-player board, and how many self-play jobs it runs at once."""

    name: str
    memory_gb: float
    games_per_hour: float
    slots: int
    share: int  # relative frequency in a drawn cluster


GPU_TYPES: Final[tuple[GpuType, ...]] = (
    GpuType("GH200", 96.0, 3000.0, 8, 1),
    GpuType("H100", 80.0, 2400.0, 8, 3),
    GpuType("A100_80", 80.0, 2000.0, 8, 2),
    GpuType("A100", 40.0, 1200.0, 4, 2),
    GpuType("RTX_4090", 24.0, 900.0, 2, 3),
    GpuType("RTX_3090", 24.0, 700.0, 2, 2),
    GpuType("A10", 24.0, 600.0, 2, 1),
    GpuType("CPU", 0.0, 60.0, 1, 1),
)

# How much slower a game is than on hex8 with two players.
_BOARD_COST: Final[Mapping[str, float]] = MappingProxyType(
    {"hex8": 1.0, "square8": 1.2, "square19": 4.0, "hexagonal": 5.0}
)
_PLAYER_COST: Final[Mapping[int, float]] = MappingProxyType({2: 1.0, 3: 1.4, 4: 1.8})


def _cost(key: ConfigKey) -> float:
    return _BOARD_COST[key.board] * _PLAYER_COST[key.players]


@attrs.frozen
class SimulationConfig:
    """What to simulate. `games_per_config` None: sized to the cluster's throughput."""

    nodes: int = attrs.field(default=24, validator=attrs.validators.ge(1))
    hours: float = attrs.field(default=24.0, validator=attrs.validators.gt(0.0))
    seed: int = 1
    step_seconds: float = attrs.field(default=60.0, validator=attrs.validators.gt(0.0))
    refresh_seconds: float = 300.0
    decide_seconds: float = 600.0
    games_per_config: int | None = None
    start_at: float = DEFAULT_START_AT


@attrs.frozen
class SimulationResult:
    """What a simulation did (all deterministic for a seed: no wall-clock figures)."""

    log_path: Path
    envelopes: int
    decisions: int
    steps: int
    nodes: int
    hours: float
    games_allocated: Mapping[ConfigKey, int]
    games_played: Mapping[ConfigKey, int]
    final_elo: Mapping[ConfigKey, float]
    trainings: int
    node_failures: int
    first_at: float
    last_at: float


# --- the world -------------------------------------------------------------------------------


@attrs.define
class _Node:
    node_id: str
    gpu: GpuType
    ephemeral: bool
    joined: bool
    healthy: bool = True
    down_until: float = 0.0
    overloaded_until: float = 0.0
    # games queued on this node: [config, games left, games played so far (fractional)]
    queue: list[list[Any]] = attrs.field(factory=list)

    def capability(self) -> NodeCapability:
        # fully loaded with an hour of work queued (in small-board games)
        queued = sum(item[1] * _cost(item[0]) for item in self.queue)
        load = min(1.0, queued / max(1.0, self.gpu.games_per_hour))
        return NodeCapability(
            node_id=self.node_id,
            gpu_type=self.gpu.name,
            gpu_memory_gb=self.gpu.memory_gb,
            is_ephemeral=self.ephemeral,
            current_load=round(load, 4),
            current_jobs=min(self.gpu.slots, len(self.queue)),
        )


@attrs.define
class _Config:
    key: ConfigKey
    elo: float
    games: int
    games_since_training: int = 0
    last_data_at: float = 0.0
    training_until: float = 0.0
    quality: float = 0.75
    elo_day_ago: float = 0.0
    history: list[tuple[float, float]] = attrs.field(factory=list)


class SyntheticCluster:
    """The simulated world. Every draw comes from `rng`, in a fixed order."""

    def __init__(self, config: SimulationConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.now = config.start_at
        self.nodes: list[_Node] = self._draw_nodes(config.nodes)
        self.configs: list[_Config] = [self._draw_config(key) for key in ALL_CONFIGS]
        self.cluster_unhealthy = False
        self.trainings = 0
        self.node_failures = 0
        self.games_played: dict[ConfigKey, int] = dict.fromkeys(ALL_CONFIGS, 0)
        self.failing_source: str | None = None

    # --- drawing the cluster ------------------------------------------------------------------

    def _draw_nodes(self, count: int) -> list[_Node]:
        rng = self.rng
        weights = [gpu.share for gpu in GPU_TYPES]
        nodes = []
        for i in range(count):
            gpu = rng.choices(GPU_TYPES, weights)[0]
            ephemeral = gpu.name != "CPU" and rng.random() < 0.25
            prefix = "spot-" if ephemeral else ""
            node_id = f"{prefix}{gpu.name.lower().replace('_', '')}-{i:03d}"
            # most nodes are there from the start; a fifth join during the first quarter
            joined = i == 0 or rng.random() >= 0.2
            node = _Node(node_id, gpu, ephemeral, joined)
            if not joined:
                node.down_until = self.now + rng.uniform(0.0, 0.25) * self.config.hours * 3600.0
            nodes.append(node)
        return nodes

    def _draw_config(self, key: ConfigKey) -> _Config:
        rng = self.rng
        large = key.board in ("square19", "hexagonal")
        games = int(rng.uniform(0, 800) if large else rng.uniform(200, 20_000))
        elo = rng.uniform(1350.0, 1650.0) - (100.0 if large else 0.0)
        stale = rng.uniform(0.0, 12.0) * 3600.0
        c = _Config(key, round(elo, 1), games, last_data_at=self.now - stale)
        c.elo_day_ago = c.elo
        c.history.append((self.now, c.elo))
        return c

    # --- measurements (what the accessor reports) ---------------------------------------------

    def node_capabilities(self) -> tuple[NodeCapability, ...]:
        return tuple(n.capability() for n in self.nodes if n.joined)

    def measurements(self) -> dict[str, Any]:
        now = self.now
        by_key = {c.key: c for c in self.configs}
        velocities = {}
        for c in self.configs:
            velocities[c.key] = round(c.elo - c.elo_day_ago, 3)  # Elo over the last day
        queued = sum(item[1] for n in self.nodes for item in n.queue)
        capacity = sum(n.gpu.games_per_hour for n in self.nodes if n.joined and n.healthy)
        training = sum(1 for c in self.configs if c.training_until > now)
        pressure = min(1.0, queued / max(1.0, 3.0 * capacity))
        return {
            "current_elos": {k: c.elo for k, c in by_key.items()},
            "elo_velocities": velocities,
            "game_counts": {k: c.games for k, c in by_key.items()},
            "staleness_hours": {
                k: round(max(0.0, now - c.last_data_at) / 3600.0, 4) for k, c in by_key.items()
            },
            "curriculum_weights": {
                k: round(1.0 + 0.2 * math.sin(now / 21_600.0 + k.index), 4) for k in by_key
            },
            "feedback": {
                k: FeedbackSignal(1.3 if c.training_until > now else 1.0, c.training_until > now)
                for k, c in by_key.items()
            },
            "quality_scores": {k: c.quality for k, c in by_key.items()},
            "training_queue_depth": training,
            "backpressure": Backpressure(
                queue_pressure=round(pressure, 4), training_pressure=round(training / 12.0, 4)
            ),
        }

    # --- time passing -------------------------------------------------------------------------

    def advance(self, seconds: float) -> list[tuple[Event, str]]:
        """Move the world on by `seconds`; what happened, as (event, publisher) pairs."""
        self.now += seconds
        out: list[tuple[Event, str]] = []
        self._nodes_change(seconds, out)
        self._play(seconds, out)
        self._train(out)
        self._sources_flicker()
        return out

    def _nodes_change(self, seconds: float, out: list[tuple[Event, str]]) -> None:
        rng, now = self.rng, self.now
        hours = seconds / 3600.0
        for node in self.nodes:
            fail, overload, terminate = rng.random(), rng.random(), rng.random()
            if not node.joined:
                if now >= node.down_until:
                    node.joined = True
                    out.append((NodeActivated(node_id=node.node_id), "p2p_orchestrator"))
                continue
            if not node.healthy:
                if now >= node.down_until:
                    node.healthy = True
                    out.append((NodeRecovered(node_id=node.node_id), "health_monitor"))
                continue
            if node.ephemeral and terminate < 0.04 * hours:
                # a spot node is taken back: it leaves the cluster (and the node reports) and
                # comes back later as a fresh join
                node.joined = False
                node.queue.clear()
                node.down_until = now + rng.uniform(1800.0, 7200.0)
                self.node_failures += 1
                out.append((NodeTerminated(node_id=node.node_id), "cloud_provider"))
            elif fail < 0.03 * hours:
                node.healthy = False
                node.queue.clear()  # its games are lost
                node.down_until = now + rng.expovariate(1.0 / 2700.0)
                self.node_failures += 1
                kind = rng.choice((NodeUnhealthy, P2PNodeDead, HostOffline))
                out.append((kind(node_id=node.node_id), "health_monitor"))
            elif overload < 0.06 * hours and node.overloaded_until <= now:
                node.overloaded_until = now + rng.uniform(300.0, 1800.0)
                resource = rng.choice(("gpu_memory", "cpu", "disk", "memory"))
                out.append(
                    (NodeOverloaded(node_id=node.node_id, resource_type=resource), "node_monitor")
                )
        healthy = sum(1 for n in self.nodes if n.joined and n.healthy)
        total = sum(1 for n in self.nodes if n.joined)
        if not self.cluster_unhealthy and total and healthy / total < 0.7:
            self.cluster_unhealthy = True
            out.append(
                (P2PClusterUnhealthy(healthy_nodes=healthy, total_nodes=total), "p2p_orchestrator")
            )
        elif self.cluster_unhealthy and total and healthy / total >= 0.8:
            self.cluster_unhealthy = False
            out.append((P2PClusterHealthy(), "p2p_orchestrator"))

    def _play(self, seconds: float, out: list[tuple[Event, str]]) -> None:
        now = self.now
        done: dict[ConfigKey, int] = {}
        for node in self.nodes:
            if not (node.joined and node.healthy) or not node.queue:
                continue
            slow = 0.5 if node.overloaded_until > now else 1.0
            budget = node.gpu.games_per_hour * slow * seconds / 3600.0  # small-board games
            # the node's slots run its oldest queued configs side by side
            running = node.queue[: node.gpu.slots]
            share = budget / len(running)
            finished = []
            for item in running:
                key: ConfigKey = item[0]
                played = min(item[1], share / _cost(key))
                item[1] -= played
                whole = int(item[2] + played) - int(item[2])
                item[2] += played
                if whole:
                    done[key] = done.get(key, 0) + whole
                if item[1] <= 1e-9:
                    finished.append(item)
            for item in finished:
                node.queue.remove(item)
                out.append((SelfplayComplete(config_key=item[0]), "selfplay_worker"))
        for c in self.configs:
            games = done.get(c.key, 0)
            if games:
                c.games += games
                c.games_since_training += games
                c.last_data_at = now
                self.games_played[c.key] += games

    def _train(self, out: list[tuple[Event, str]]) -> None:
        rng, now = self.rng, self.now
        for c in self.configs:
            if c.training_until and now >= c.training_until:
                c.training_until = 0.0
                self.trainings += 1
                # diminishing returns: the higher the Elo, the smaller the expected gain
                gain = rng.gauss(max(2.0, (2100.0 - c.elo) / 25.0), 12.0)
                c.elo = round(c.elo + gain, 1)
                c.history.append((now, c.elo))
                c.quality = round(min(0.95, max(0.4, c.quality + rng.gauss(0.0, 0.03))), 3)
                out.append((TrainingCompleted(config_key=c.key), "training"))
                out.append((EloUpdated(config_key=c.key, new_elo=c.elo), "evaluation"))
                if gain > 0:
                    out.append((ModelPromoted(config_key=c.key, success=True), "promotion"))
                elif gain < -15.0:
                    severity = "severe" if gain < -30.0 else "moderate"
                    out.append(
                        (RegressionDetected(config_key=c.key, severity=severity), "evaluation")
                    )
            threshold = 80 if c.key.board in ("square19", "hexagonal") else 250
            if not c.training_until and c.games_since_training >= threshold:
                c.games_since_training = 0
                minutes = 20.0 * _BOARD_COST[c.key.board]
                c.training_until = now + rng.uniform(0.8, 1.2) * minutes * 60.0
            while len(c.history) > 1 and c.history[1][0] <= now - 86_400.0:
                c.history.pop(0)
            c.elo_day_ago = c.history[0][1]

    def _sources_flicker(self) -> None:
        # now and then one data source fails for a refresh (its last value then stands)
        rng = self.rng
        roll = rng.random()
        self.failing_source = (
            rng.choice(("quality", "curriculum", "feedback")) if roll < 0.02 else None
        )

    # --- decisions ----------------------------------------------------------------------------

    def assign(self, batch: BatchAllocation) -> None:
        """Queue a decided batch's placed games on their nodes (games on a node that is down
        by now are lost)."""
        by_id = {n.node_id: n for n in self.nodes}
        for key, per_node in batch.placements.items():
            for node_id, games in per_node.items():
                node = by_id.get(node_id)
                if node is None or not games or not (node.joined and node.healthy):
                    continue
                node.queue.append([key, float(games), 0.0])

    def games_per_hour(self) -> float:
        """Small-board games per hour the whole cluster plays when every node is up."""
        return sum(n.gpu.games_per_hour for n in self.nodes)


# --- the accessor the scheduler reads the world through -------------------------------------------


class SimulatedAccessor:
    """The scheduler's data accessor over the synthetic world (no files, no network)."""

    def __init__(self, world: SyntheticCluster) -> None:
        self.world = world

    async def snapshot(self) -> AccessorSnapshot:
        """The world's measurements, as the real accessor's snapshot type: parts the synthetic
        world has no store for (boosts, momentum, cascades, overrides) are None, "nothing
        to report"; nodes come through `get_node_capabilities`."""
        world = self.world
        failing = world.failing_source
        return AccessorSnapshot(
            at=world.now,
            **world.measurements(),
            improvement_boosts=None,
            momentum_multipliers=None,
            cascade_multipliers=None,
            priority_overrides=None,
            nodes=None,
            failures={failing: "simulated timeout"} if failing else {},
        )

    async def get_node_capabilities(self) -> IOResult[tuple[NodeCapability, ...], Any]:
        return IOSuccess(self.world.node_capabilities())

    def status(self) -> Mapping[str, SourceHealth]:
        failing = self.world.failing_source
        names = ("elo", "games", "freshness", "quality", "curriculum", "feedback", "nodes")
        return {
            name: SourceHealth(name, "degraded", "simulated timeout", "timeout")
            if name == failing
            else SourceHealth(name, "ok")
            for name in names
        }


# --- the run ---------------------------------------------------------------------------------


def simulate(
    config: SimulationConfig,
    policy: SchedulerPolicy,
    out: Path,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> SimulationResult:
    """Run the simulation, writing the log to `out` (which must not exist yet)."""
    return asyncio.run(_run(config, policy, out, on_progress))


async def _run(
    config: SimulationConfig,
    policy: SchedulerPolicy,
    out: Path,
    on_progress: Callable[[int, int], None] | None,
) -> SimulationResult:
    rng = random.Random(config.seed)
    world = SyntheticCluster(config, rng)
    games_per_config = (
        config.games_per_config
        if config.games_per_config is not None
        # about one decision interval of the cluster's throughput per batch, spread over the
        # configs (the score multiplies G by 0.5 + score, so most configs get a few times G)
        else max(20, round(world.games_per_hour() * config.decide_seconds / 3600.0 / 96.0))
    )
    counter = 0
    decisions = 0
    allocated: dict[ConfigKey, int] = dict.fromkeys(ALL_CONFIGS, 0)
    steps = max(1, math.ceil(config.hours * 3600.0 / config.step_seconds))
    refresh_every = max(1, round(config.refresh_seconds / config.step_seconds))
    decide_every = max(1, round(config.decide_seconds / config.step_seconds))
    first_at = world.now
    with EventLog(out, fsync="never") as log:
        scheduler = SelfplayScheduler(
            policy,
            SimulatedAccessor(world),
            log,
            clock=lambda: world.now,
            id_prefix="sched",
        )
        # The operator's setup calls, as a real deployment would make them.
        scheduler.set_target_training_samples("hexagonal_4p", 80_000)
        await scheduler.refresh_nodes()
        await scheduler.refresh_sources()
        for step in range(1, steps + 1):
            for event, source in world.advance(config.step_seconds):
                counter += 1
                envelope = make_envelope(event, id=f"sim-{counter}", at=world.now, source=source)
                scheduler.apply(envelope)
                if isinstance(event, RegressionDetected) and event.severity == "severe":
                    scheduler.boost_config_allocation(event.config_key, 1.5)
            scheduler.tick()
            if step % refresh_every == 0:
                await scheduler.refresh_sources()
                await scheduler.refresh_nodes()
            if step % decide_every == 0:
                batch = scheduler.decide_batch(games_per_config)
                decisions += 1
                for key, games in batch.games_by_config.items():
                    allocated[key] += games
                world.assign(batch)
            if on_progress is not None:
                on_progress(step, steps)
        envelopes = log.appended
    return SimulationResult(
        log_path=out,
        envelopes=envelopes,
        decisions=decisions,
        steps=steps,
        nodes=config.nodes,
        hours=config.hours,
        games_allocated=MappingProxyType(allocated),
        games_played=MappingProxyType(dict(world.games_played)),
        final_elo=MappingProxyType({c.key: c.elo for c in world.configs}),
        trainings=world.trainings,
        node_failures=world.node_failures,
        first_at=first_at,
        last_at=world.now,
    )
