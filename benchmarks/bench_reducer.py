"""Reducer throughput on a realistic mix, and decode + reduce from already-parsed dicts.

Figures are best-of-5 wall-clock throughput (`_timing.throughput`); because the benchmark
machine is shared, the mix is also reported per second of this process's CPU time.

The mix, per 1,000 envelopes: 640 config events (Elo updates, selfplay/training completions,
velocity changes, target updates, promotions, quality, boosts), 240 node events (unhealthy,
recovered, overloaded), 110 ticks and 10 data refreshes, on 24 nodes, one envelope every 50 ms
of virtual time, so boosts and backoffs really lapse. Duplicates are not in the mix (they are
the cheap path).
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from benchmarks._timing import throughput
from selfplay_core.cluster import NodeCapability
from selfplay_core.configs import ALL_CONFIGS
from selfplay_core.events import (
    EloUpdated,
    EloVelocityChanged,
    Envelope,
    Event,
    ExplorationBoost,
    ModelPromoted,
    NodeOverloaded,
    NodeRecovered,
    NodeUnhealthy,
    QualityDegraded,
    SelfplayComplete,
    SelfplayTargetUpdated,
    SourcesRefreshed,
    Tick,
    TrainingCompleted,
    make_envelope,
)
from selfplay_core.reducer import reduce
from selfplay_core.state import SchedulerState

N_ENVELOPES = 24_000  # 20 virtual minutes
TICK_EVERY = 100  # the shell's tick: every 5 s (EventPolicy.tick_interval_seconds)
SOURCE_REFRESH_EVERY = 300  # the shell's source refresh: every 15 s
NODE_REFRESH_EVERY = 1200  # the shell's node refresh: every 60 s
NODES = tuple(NodeCapability(f"gpu-{i:02d}", "H100", 80.0) for i in range(24))


def _refresh(i: int) -> SourcesRefreshed:
    """The shell's 15 s source refresh: every source answers, nodes are not part of it."""
    return SourcesRefreshed(
        current_elos={key: 1500.0 + 10 * ((i + key.index) % 40) for key in ALL_CONFIGS},
        elo_velocities={key: float((i + key.index) % 7) for key in ALL_CONFIGS},
        game_counts={key: 1000 * (key.index + 1) + i for key in ALL_CONFIGS},
        staleness_hours=dict.fromkeys(ALL_CONFIGS, 24.0),
        curriculum_weights=dict.fromkeys(ALL_CONFIGS, 1.0),
        training_queue_depth=i % 15,
    )


def _event(i: int) -> Event:
    """Envelope `i` of the mix (one every 50 ms of virtual time). The timers come at their
    real periods; the other events are spread over a 100-slot pattern (`i * 37 % 100`)."""
    if i % TICK_EVERY == 0:
        return Tick(at=i * 0.05)
    if i % SOURCE_REFRESH_EVERY == 150:
        return _refresh(i)
    if i % NODE_REFRESH_EVERY == 650:
        return SourcesRefreshed(nodes=NODES)
    slot = i * 37 % 100
    key = ALL_CONFIGS[i % 12]
    node = NODES[(i * 7) % len(NODES)].node_id
    if slot < 11:
        return NodeUnhealthy(node_id=node)
    if slot < 22:
        return NodeRecovered(node_id=node)
    if slot < 24:
        return NodeOverloaded(node_id=node, resource_type="memory" if i % 2 else "gpu")
    if slot < 44:
        return EloUpdated(config_key=key, new_elo=1500.0 + (i % 300))
    if slot < 58 or (slot == 99 and (i // 100) % 8):  # EXPLORATION_BOOST is rare
        return SelfplayComplete(config_key=key)
    if slot < 66:
        return TrainingCompleted(config_key=key)
    if slot < 76:
        return EloVelocityChanged(
            config_key=key, velocity=float(i % 9) - 3.0, trend=("accelerating", "stable")[i % 2]
        )
    if slot < 86:
        return SelfplayTargetUpdated(
            config_key=key, priority=("high", "normal", "low")[i % 3], exploration_boost=1.0
        )
    if slot < 92:
        return ModelPromoted(config_key=key, success=(None, False)[i % 2])
    if slot < 99:
        return QualityDegraded(config_key=key, quality_score=0.4)
    return ExplorationBoost(config_key=key, boost_factor=1.5)


def mix_share(envelopes: list[Envelope]) -> dict[str, float]:
    """Share of each event class in the mix, in percent (reported with the figures)."""
    counts = Counter(type(envelope.event).__name__ for envelope in envelopes)
    return {name: round(100 * n / len(envelopes), 2) for name, n in sorted(counts.items())}


def realistic_envelopes(n: int = N_ENVELOPES) -> list[Envelope]:
    return [
        make_envelope(_event(i), id=f"env-{i:08d}", at=1_767_225_600.0 + i * 0.05, source="bench")
        for i in range(n)
    ]


def _per_cpu_second(fn: Callable[[], int], repeat: int = 5) -> float:
    best = 0.0
    for _ in range(repeat):
        start = time.process_time()
        n = fn()
        best = max(best, n / max(time.process_time() - start, 1e-9))
    return best


def _reduce_all(envelopes: list[Envelope]) -> int:
    state = SchedulerState.initial()
    for envelope in envelopes:
        state = reduce(state, envelope).state
    return len(envelopes)


def _decode_reduce_all(raws: list[dict[str, Any]]) -> int:
    from selfplay_core.codec import decode

    state = SchedulerState.initial()
    for raw in raws:
        result = decode(raw)
        state = reduce(state, result.unwrap()).state
    return len(raws)


def _by_family(envelopes: list[Envelope]) -> dict[str, float]:
    """Throughput per event class: 1,000 copies (new ids) applied one after another to the
    state the mix has reached."""
    state = SchedulerState.initial()
    for envelope in envelopes[:2000]:
        state = reduce(state, envelope).state
    figures: dict[str, float] = {}
    samples = {type(e.event).__name__: e for e in envelopes[2000:4000]}
    counter = itertools.count()
    for name, sample in sorted(samples.items()):
        copies = [
            make_envelope(sample.event, id=f"x-{next(counter)}", at=sample.at, source="bench")
            for _ in range(1000)
        ]

        def run(copies: list[Envelope] = copies) -> int:
            current = state
            for envelope in copies:
                current = reduce(current, envelope).state
            return len(copies)

        figures[name] = round(throughput(run, repeat=3))
    return figures


def run() -> dict[str, object]:
    envelopes = realistic_envelopes()
    result: dict[str, object] = {
        "mix_envelopes": len(envelopes),
        "reduce_per_second": round(throughput(lambda: _reduce_all(envelopes))),
        "reduce_per_cpu_second": round(_per_cpu_second(lambda: _reduce_all(envelopes))),
        "reduce_per_second_by_event": _by_family(envelopes),
    }
    from selfplay_core.codec import decode, encode

    raws = [encode(envelope) for envelope in envelopes]
    result["decode_reduce_per_second"] = round(throughput(lambda: _decode_reduce_all(raws)))
    result["decode_reduce_per_cpu_second"] = round(
        _per_cpu_second(lambda: _decode_reduce_all(raws))
    )
    result["decode_only_per_second"] = round(
        throughput(lambda: sum(1 for raw in raws if decode(raw)))
    )
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
