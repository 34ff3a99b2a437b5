"""Codec throughput: decode from already-parsed dicts, encode, and the error path.

Two decode mixes, per 100 envelopes:
- `canonical`: what our own log holds (encode output): 52 config events, 24 node events,
  12 ticks, 1 full data refresh (12 configs, 24 nodes), 11 other reference events.
- `publishers`: the same event types in the shapes the reference's publishers really send
  (`config` instead of `config_key`, `host`/`node_name` for node ids, extra fields, an
  upper-case router name, a few unknown types).
Target: decode well under 5 µs per simple event, so decode + reduce ≥ 100,000/s holds.

`decode_us_allocation_decided`: the mean per decision over every `AllocationDecided` of a
realistic scheduler log (`simulate` with the default options: 24 nodes, 24 h), parsed by orjson
as the log reader parses it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from benchmarks._timing import median_seconds, throughput
from selfplay_core import codec
from selfplay_core.codec import decode, encode
from selfplay_core.configs import ALL_CONFIGS

N = 20_000
NODES = [f"gpu-{i:02d}" for i in range(24)]


def _refresh_payload(i: int) -> dict[str, Any]:
    keys = [str(key) for key in ALL_CONFIGS]
    return {
        "current_elos": {k: 1500.0 + 10 * ((i + j) % 40) for j, k in enumerate(keys)},
        "elo_velocities": {k: float((i + j) % 7) for j, k in enumerate(keys)},
        "game_counts": {k: 1000 * (j + 1) + i for j, k in enumerate(keys)},
        "staleness_hours": dict.fromkeys(keys, 24.0),
        "curriculum_weights": dict.fromkeys(keys, 1.0),
        "nodes": [
            {"node_id": n, "gpu_type": "H100", "gpu_memory_gb": 80.0, "current_load": 0.5}
            for n in NODES
        ],
        "training_queue_depth": i % 15,
    }


def _canonical(i: int) -> tuple[str, dict[str, Any]]:
    slot = i % 100
    key = str(ALL_CONFIGS[i % 12])
    node = NODES[(i * 7) % len(NODES)]
    if slot == 0:
        return "sources_refreshed", _refresh_payload(i)
    if slot < 13:
        return "tick", {"at": 1_767_225_600.0 + i * 0.05}
    if slot < 21:
        return "node_unhealthy", {"node_id": node}
    if slot < 29:
        return "node_recovered", {"node_id": node}
    if slot < 37:
        return "node_overloaded", {"node_id": node, "resource_type": "memory"}
    if slot < 53:
        return "elo_updated", {"config_key": key, "new_elo": 1500.0 + (i % 300)}
    if slot < 63:
        return "selfplay_complete", {"config_key": key}
    if slot < 69:
        return "training_completed", {"config_key": key}
    if slot < 77:
        return "elo_velocity_changed", {"config_key": key, "velocity": 2.5, "trend": "stable"}
    if slot < 85:
        return "selfplay_target_updated", {
            "config_key": key,
            "priority": "high",
            "reason": "velocity_feedback",
            "search_budget": 800.0,
            "exploration_boost": 1.3,
        }
    if slot < 91:
        return "model_promoted", {"config_key": key}
    if slot < 96:
        return "quality_degraded", {"config_key": key, "quality_score": 0.4, "threshold": 0.6}
    return "curriculum_rebalanced", {"weights": {key: 1.2, "square8_2p": 0.9}}


def _publisher(i: int) -> tuple[str, dict[str, Any]]:
    type_, payload = _canonical(i)
    slot = i % 100
    if "config_key" in payload and slot % 2:
        payload = {"config": payload.pop("config_key"), **payload}
    if type_ == "node_unhealthy":
        payload = {"node_name": payload["node_id"], "reason": "ssh timeout"}
    if type_ == "node_overloaded":
        payload = {"host": payload["node_id"], "cpu_percent": 97.0, "resource_type": "memory"}
    if type_ == "model_promoted":
        type_ = "MODEL_PROMOTED"
        payload.update(model_path="models/x.pth", reason="gauntlet", vs_random=0.92)
    if type_ == "selfplay_complete":
        payload.update(games_played=500, db_path="/data/games.db", duration_seconds=61.2)
    if slot in (97, 98):
        type_ = "gpu_selfplay_complete"
        payload = {"board_type": "hex8", "num_players": 2, "games_generated": 250}
    return type_, payload


def _records(make: Any, n: int = N) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        type_, payload = make(i)
        out.append(
            {
                "id": f"env-{i:08d}",
                "type": type_,
                "schema_version": 1,
                "at": 1_767_225_600.0 + i * 0.05,
                "source": "bench",
                "payload": payload,
            }
        )
    return out


def _decode_all(records: list[dict[str, Any]]) -> int:
    for record in records:
        decode(record)
    return len(records)


def _per_cpu_second(fn: Any, repeat: int = 3) -> float:
    """Items per CPU second (process time): steadier than wall time on a shared machine."""
    best = 0.0
    for _ in range(repeat):
        start = time.process_time()
        n = fn()
        best = max(best, n / max(time.process_time() - start, 1e-9))
    return best


def _simulated_decisions() -> list[dict[str, Any]]:
    """Every `AllocationDecided` record of a simulated scheduler log, as parsed dicts."""
    from selfplay_core.policy import SchedulerPolicy
    from selfplay_shell.simulate import SimulationConfig, simulate

    directory = Path(tempfile.mkdtemp(prefix="bench_codec_"))
    try:
        path = directory / "simulated.jsonl"
        simulate(SimulationConfig(), SchedulerPolicy(), path)
        records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return [r for r in records if r.get("type") == "allocation_decided"]


def _mean_us(fn: Callable[[Any], object], records: list[dict[str, Any]], repeat: int = 7) -> float:
    """Best over `repeat` passes of the mean µs per record."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for record in records:
            fn(record)
        best = min(best, (time.perf_counter() - start) / len(records))
    return 1e6 * best


def run() -> dict[str, object]:
    canonical = _records(_canonical)
    publishers = _records(_publisher)
    assert all(decode(r).unwrap() for r in canonical + publishers)
    envelopes = [decode(r).unwrap() for r in canonical]

    def encode_all() -> int:
        for envelope in envelopes:
            encode(envelope)
        return len(envelopes)

    def json_roundtrip_all() -> int:
        for envelope in envelopes:
            decode(json.loads(json.dumps(encode(envelope))))
        return len(envelopes)

    simple = canonical[60]  # selfplay_complete
    target = canonical[80]  # selfplay_target_updated, five fields
    refresh = canonical[0]  # sources_refreshed: 12 configs × 5 maps + 24 nodes
    bad = dict(canonical[45], payload={"config_key": "hex8_9p", "new_elo": 1500.0})
    decisions = _simulated_decisions()
    assert all(decode(r).unwrap() for r in decisions)
    return {
        "mix_envelopes": N,
        "decode_per_second_canonical_mix": round(throughput(lambda: _decode_all(canonical))),
        "decode_per_second_publisher_mix": round(throughput(lambda: _decode_all(publishers))),
        "decode_per_cpu_second_canonical_mix": round(
            _per_cpu_second(lambda: _decode_all(canonical))
        ),
        "encode_per_second": round(throughput(encode_all)),
        "json_text_roundtrip_per_second": round(throughput(json_roundtrip_all, repeat=3)),
        "decode_us_selfplay_complete": round(1e6 * median_seconds(lambda: decode(simple)), 2),
        "decode_us_selfplay_target_updated": round(1e6 * median_seconds(lambda: decode(target)), 2),
        "decode_us_sources_refreshed": round(1e6 * median_seconds(lambda: decode(refresh)), 1),
        "decode_us_error_unknown_config": round(1e6 * median_seconds(lambda: decode(bad)), 1),
        "allocation_decided_records": len(decisions),
        "decode_us_allocation_decided": round(_mean_us(codec.decode_json, decisions), 1),
        "encode_us_selfplay_target_updated": round(
            1e6 * median_seconds(lambda: encode(envelopes[80])), 2
        ),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
