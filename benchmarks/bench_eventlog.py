"""Event-log reading speed and memory.

- read+decode throughput of `read_log` over a JSONL file (target ≥ 100,000 envelopes/s),
  with the stages broken down (raw lines, + strict JSON parse, + codec decode);
- the ratio to plain `json.loads` of every line of the same file;
- gzip'd reading;
- max resident memory of a subprocess reading 100k vs 1M envelopes (flat in log length).

The replay engineer adds the reduce stage on top of `read_log`.
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from returns.result import Success

from benchmarks._timing import throughput
from selfplay_core.codec import decode, encode
from selfplay_core.configs import ALL_CONFIGS
from selfplay_core.events import (
    ConfigBoosted,
    CurriculumRebalanced,
    EloUpdated,
    NodeOverloaded,
    NodeRecovered,
    NodeUnhealthy,
    SelfplayComplete,
    SelfplayTargetUpdated,
    SourcesRefreshed,
    Tick,
    TrainingCompleted,
    make_envelope,
)
from selfplay_shell.eventlog import read_log
from selfplay_shell.eventlog.jsonline import dumps_line, parse_line_bytes
from selfplay_shell.eventlog.lines import iter_raw_lines, opened

SMALL = 100_000
LARGE = 1_000_000
SEED = 20261128

# (weight, template): a scheduler's log is mostly small reference events and ticks, with a
# full data refresh now and then.
_CONFIG = "hex8_2p"


def _templates() -> list[tuple[int, dict[str, Any]]]:
    elos = {key: 1500.0 + 10 * key.index for key in ALL_CONFIGS}
    counts = {key: 1000 * (key.index + 1) for key in ALL_CONFIGS}
    events: list[tuple[int, Any]] = [
        (20, Tick(at=0.0)),
        (20, SelfplayComplete(config_key=_CONFIG)),
        (12, EloUpdated(config_key="square8_3p", new_elo=1612.5)),
        (8, TrainingCompleted(config_key="hexagonal_4p")),
        (8, NodeUnhealthy(node_id="gpu-node-17")),
        (8, NodeRecovered(node_id="gpu-node-17")),
        (6, NodeOverloaded(node_id="gpu-node-3", resource_type="gpu_memory")),
        (6, SelfplayTargetUpdated(config_key="square19_2p", priority="high", reason="stale")),
        (5, CurriculumRebalanced(weights={"hex8_2p": 1.2, "square8_4p": 0.8}, reason="r")),
        (5, ConfigBoosted(config_key="hex8_4p", multiplier=1.5)),
        (
            2,
            SourcesRefreshed(
                current_elos=elos,
                game_counts=counts,
                staleness_hours={key: 0.5 * key.index for key in ALL_CONFIGS},
                curriculum_weights=dict.fromkeys(ALL_CONFIGS, 1.0),
                training_queue_depth=3,
            ),
        ),
    ]
    return [
        (weight, encode(make_envelope(event, id="x", at=0.0, source="selfplay_scheduler")))
        for weight, event in events
    ]


def write_log(path: Path, count: int, mean_gap_seconds: float = 0.5) -> dict[str, int]:
    """A deterministic mixed log of `count` envelopes, `mean_gap_seconds` apart on average;
    returns the count per type."""
    rng = random.Random(SEED)
    templates = _templates()
    weights = [weight for weight, _ in templates]
    mix: dict[str, int] = {}
    at = 1_700_000_000.0
    span = 2 * mean_gap_seconds
    with path.open("wb") as out:
        batch: list[bytes] = []
        for i, (_, template) in enumerate(rng.choices(templates, weights, k=count)):
            at += span * rng.random()
            record = dict(template, id=f"ev-{i:08d}", at=at)
            if record["type"] == "tick":
                record["payload"] = {"at": at}
            mix[record["type"]] = mix.get(record["type"], 0) + 1
            batch.append(dumps_line(record))
            if len(batch) == 10_000:
                out.write(b"".join(batch))
                batch.clear()
        out.write(b"".join(batch))
    return dict(sorted(mix.items()))


def _count_good(records: Iterator[Any]) -> int:
    good = 0
    for record in records:
        if isinstance(record.result, Success):
            good += 1
    return good


def _read_decode(path: Path) -> int:
    count = 0
    for _ in read_log(path):
        count += 1
    return count


def _raw_lines(path: Path) -> int:
    with opened(path) as stream:
        return sum(1 for _ in iter_raw_lines(stream))


def _lines_and_parse(path: Path) -> int:
    count = 0
    with opened(path) as stream:
        for _, data, _, _ in iter_raw_lines(stream):
            parse_line_bytes(data)
            count += 1
    return count


def _plain_json(path: Path, loads: Callable[[bytes], object] = json.loads) -> int:
    """Every line through a plain JSON parser (`json.loads` unless another is given)."""
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            loads(line)
            count += 1
    return count


def _decode_only(raws: list[dict[str, Any]]) -> int:
    for raw in raws:
        decode(raw)
    return len(raws)


def _cpu_rate(fn: Any, repeat: int = 3) -> float:
    """Items per second of *CPU* time (best of `repeat`): on a shared, loaded machine the
    wall-clock rate falls with contention, this one much less."""
    best = 0.0
    for _ in range(repeat):
        start = time.process_time()
        count = fn()
        best = max(best, count / max(time.process_time() - start, 1e-9))
    return best


def _decode_only_rate(path: Path) -> float:
    raws = [json.loads(line) for line in path.read_bytes().splitlines()]
    return throughput(lambda: _decode_only(raws), repeat=3)


_RSS_CHILD = """
import resource, sys

from benchmarks._memory import status_kib

def hwm_kib():
    found = status_kib("VmHWM")
    return -1 if found is None else found

from selfplay_shell.eventlog import read_log
before = hwm_kib()
good = 0
for record in read_log(sys.argv[1]):
    good += 1
print(good, before, hwm_kib(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _max_rss_kib(path: Path) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    good, before, after, ru_maxrss = (int(part) for part in done.stdout.split())
    return {
        "records": good,
        "peak_rss_after_imports_kib": before,
        "peak_rss_kib": after,
        "read_growth_kib": after - before,
        "ru_maxrss_kib": ru_maxrss,
    }


def run() -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="bench_eventlog_"))
    try:
        small = directory / "small.jsonl"
        large = directory / "large.jsonl"
        mix = write_log(small, SMALL)
        started = time.perf_counter()
        write_log(large, LARGE)
        generate_seconds = time.perf_counter() - started
        size, large_size = small.stat().st_size, large.stat().st_size
        # Memory first, in fresh subprocesses, while this process is still small.
        rss_small = _max_rss_kib(small)
        rss_large = _max_rss_kib(large)
        large.unlink()
        assert _count_good(read_log(small)) == SMALL  # every line decodes: no error path timed

        read_decode = throughput(lambda: _read_decode(small), repeat=3)
        plain = throughput(lambda: _plain_json(small), repeat=3)
        read_decode_cpu = _cpu_rate(lambda: _read_decode(small))
        plain_cpu = _cpu_rate(lambda: _plain_json(small))
        raw_lines = throughput(lambda: _raw_lines(small), repeat=3)
        parsed = throughput(lambda: _lines_and_parse(small), repeat=3)
        decode_only = _decode_only_rate(small)

        zipped = directory / "small.jsonl.gz"
        with small.open("rb") as source, gzip.open(zipped, "wb", compresslevel=6) as sink:
            shutil.copyfileobj(source, sink)
        gzip_read_decode = throughput(lambda: _read_decode(zipped), repeat=2)
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    return {
        "envelopes": SMALL,
        "file_bytes": size,
        "mean_line_bytes": round(size / SMALL, 1),
        "mix": mix,
        "read_decode_envelopes_per_s": round(read_decode),
        "target_envelopes_per_s": 100_000,
        "plain_json_loads_lines_per_s": round(plain),
        "ratio_read_decode_to_plain_json_time": round(plain / read_decode, 2),
        "cpu_time": {
            "read_decode_envelopes_per_cpu_s": round(read_decode_cpu),
            "plain_json_loads_lines_per_cpu_s": round(plain_cpu),
            "ratio_read_decode_to_plain_json": round(plain_cpu / read_decode_cpu, 2),
        },
        "stages_per_s": {
            "raw_lines": round(raw_lines),
            "raw_lines_plus_strict_json": round(parsed),
            "codec_decode_only_of_parsed_dicts": round(decode_only),
        },
        "gzip_read_decode_envelopes_per_s": round(gzip_read_decode),
        "memory": {
            "100k": rss_small,
            "1M": rss_large,
            "1M_file_bytes": large_size,
            "ratio_peak_rss_1M_to_100k": round(
                rss_large["peak_rss_kib"] / rss_small["peak_rss_kib"], 3
            ),
            "generate_1M_seconds": round(generate_seconds, 1),
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
