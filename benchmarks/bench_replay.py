"""Replay speed and memory: read + decode (engineer L's stage) + reduce + decision checks.

- the log: `bench_eventlog.write_log`'s mix (small reference events, ticks, a data refresh now
  and then) on a 24-node cluster, with a real recorded decision every `DECISION_EVERY`
  envelopes (decided from the state folded so far, so every one replays identical);
- throughput of a full replay (`replay_report` over `read_log`), against the target of
  100,000 envelopes/s, beside read+decode alone, read+decode+reduce without checks, and plain
  `json.loads` of every line of the same file (the ratio the issue asks for; the ratio to
  plain `orjson.loads`, which the reader uses for most lines, is reported beside it);
- the cost of one decision check (decide again, encode both, compare);
- a realistic scheduler log from `simulate` (24 nodes, 24 h), where refreshes and decisions
  are a large share of the envelopes, and the same log without its decisions (how fast the
  whole log could replay if deciding and checking cost nothing);
- peak resident memory of a subprocess replaying 100k vs 1M envelopes (flat in log length;
  both logs span more than the state's longest window, 24 h, so every window is full), and
  the 1M replay again with the reader remembering 1,000 ids instead of 65,536 (what moves in
  the default run is that window's dict being rebuilt, not anything growing with the log).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from benchmarks._timing import throughput
from benchmarks.bench_eventlog import _plain_json, _read_decode, write_log
from selfplay_core.allocation.values import AllocationRequest
from selfplay_core.cluster import NodeCapability
from selfplay_core.codec import decode, encode
from selfplay_core.decide import decide
from selfplay_core.events import AllocationDecided, SourcesRefreshed, make_envelope
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.reducer import reduce
from selfplay_core.replay import replay_report
from selfplay_core.state import SchedulerState
from selfplay_shell.eventlog import read_log
from selfplay_shell.eventlog.jsonline import dumps_line, parse_line
from selfplay_shell.eventlog.lines import iter_raw_lines, opened

SMALL = 100_000
LARGE = 1_000_000
DECISION_EVERY = 1_000
TARGET = 100_000
# 1.2 s between envelopes on average: 100k span 33 h, past the longest window the state keeps
# (the 24 h Elo history), so both logs replay with every bounded window already full and
# any growth from 100k to 1M would be a leak.
MEAN_GAP_SECONDS = 1.2

_NODES = tuple(
    NodeCapability(f"gpu-node-{i}", ("H100", "A100", "RTX_4090")[i % 3], 80.0) for i in range(24)
)


def write_replay_log(path: Path, count: int) -> dict[str, Any]:
    """`write_log`'s mix of `count` envelopes, after a node refresh, with a recorded decision
    inserted every `DECISION_EVERY` envelopes; returns counts of what was written."""
    base = path.with_suffix(".base.jsonl")
    write_log(base, count, MEAN_GAP_SECONDS)
    policy = SchedulerPolicy()
    state = SchedulerState.initial(policy)
    decisions = 0
    with opened(base) as stream, path.open("wb") as out:
        nodes = make_envelope(SourcesRefreshed(nodes=_NODES), id="nodes-0", at=1.7e9, source="b")
        state = reduce(state, nodes, policy).state
        batch = [dumps_line(encode(nodes))]
        for n, (_, data, _, _) in enumerate(iter_raw_lines(stream), start=1):
            envelope = decode(parse_line(data.decode("utf-8"))).unwrap()
            state = reduce(state, envelope, policy).state
            batch.append(data if data.endswith(b"\n") else data + b"\n")
            if n % DECISION_EVERY == 0:
                at = envelope.at
                request = AllocationRequest(games_per_config=100, now=at)
                event = AllocationDecided(request, decide(state, request, policy))
                decided = make_envelope(event, id=f"decision-{n}", at=at, source="b")
                state = reduce(state, decided, policy).state
                batch.append(dumps_line(encode(decided)))
                decisions += 1
            if len(batch) >= 10_000:
                out.write(b"".join(batch))
                batch.clear()
        out.write(b"".join(batch))
    base.unlink()
    hours = (state.ledger.last_at - nodes.at) / 3600
    return {"envelopes": count + 1 + decisions, "decisions": decisions, "hours": round(hours, 1)}


def _replay(path: Path) -> int:
    report = replay_report(SchedulerState.initial(), (r.result for r in read_log(path)))
    assert report.decisions_identical == report.decisions_checked
    return report.items


def _replay_unchecked(path: Path) -> int:
    from selfplay_core.replay import replay, summarize

    state = SchedulerState.initial()
    steps = replay(state, (r.result for r in read_log(path)), check=False)
    return summarize(steps).items


def _read_reduce(path: Path) -> int:
    state = SchedulerState.initial()
    count = 0
    for record in read_log(path):
        state = reduce(state, record.result.unwrap()).state
        count += 1
    return count


_RSS_CHILD = """
import resource, sys

from benchmarks._memory import status_kib

def peak_kib():
    found = status_kib("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss if found is None else found

def rss_kib():
    return status_kib("VmRSS") or 0

from selfplay_core.replay import replay_report
from selfplay_core.state import SchedulerState
from selfplay_shell.eventlog import read_log
marks = []

def mark(step):
    if step.position % 100_000 == 0:
        marks.append(rss_kib())

before = peak_kib()
window = int(sys.argv[2]) if len(sys.argv) > 2 else 65_536
records = (r.result for r in read_log(sys.argv[1], dedup_window=window))
report = replay_report(SchedulerState.initial(), records, on_step=mark)
after = peak_kib()
print(report.items, report.decisions_checked, before, after, *marks)
"""


def _replay_rss_kib(path: Path, dedup_window: int | None = None) -> dict[str, Any]:
    extra = [] if dedup_window is None else [str(dedup_window)]
    done = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, str(path), *extra],
        check=True,
        capture_output=True,
        text=True,
    )
    items, checked, before, after, *marks = (int(part) for part in done.stdout.split())
    return {
        "records": items,
        "decisions_checked": checked,
        "peak_rss_after_imports_kib": before,
        "peak_rss_kib": after,
        "rss_kib_every_100k_records": marks,
    }


def _check_cost_ms(path: Path) -> float:
    """Median time of one decision check (decide again, encode both, compare the texts), over
    the log's decisions, from the states they were made in."""
    import statistics

    from selfplay_core.codec import encode_value
    from selfplay_core.replay import canonical_json, replay

    policy = SchedulerPolicy()
    steps = replay(SchedulerState.initial(), (r.result for r in read_log(path)), check=False)
    before = SchedulerState.initial()
    cases = []
    for step in steps:
        envelope = step.envelope
        if envelope is not None and isinstance(envelope.event, AllocationDecided):
            cases.append((before, envelope.event))
        before = step.state
    samples = []
    for state, event in cases:
        started = time.perf_counter()
        again = decide(state, event.request, policy)
        same = canonical_json(encode_value(again)) == canonical_json(encode_value(event.result))
        samples.append(time.perf_counter() - started)
        assert same
    return 1000 * statistics.median(samples)


def _simulated(directory: Path) -> dict[str, Any]:
    from selfplay_shell.simulate import SimulationConfig, simulate

    path = directory / "simulated.jsonl"
    started = time.perf_counter()
    result = simulate(SimulationConfig(), SchedulerPolicy(), path)
    seconds = time.perf_counter() - started
    rate = throughput(lambda: _replay(path), repeat=2)
    # The same log without its decisions: what the rest of it costs to replay, i.e. the time
    # the whole log would take if deciding and checking cost nothing.
    rest = directory / "simulated-no-decisions.jsonl"
    decided = b'"type":"allocation_decided"'
    with path.open("rb") as lines, rest.open("wb") as out:
        out.writelines(line for line in lines if decided not in line)
    rest_seconds = _replay(rest) / throughput(lambda: _replay(rest), repeat=2)
    return {
        "nodes": result.nodes,
        "hours": result.hours,
        "envelopes": result.envelopes,
        "decisions": result.decisions,
        "file_bytes": path.stat().st_size,
        "simulate_seconds": round(seconds, 2),
        "replay_envelopes_per_s": round(rate),
        "replay_seconds": round(result.envelopes / rate, 3),
        "replay_seconds_without_decisions": round(rest_seconds, 3),
        "bound_if_decisions_cost_nothing_envelopes_per_s": round(result.envelopes / rest_seconds),
    }


def run() -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="bench_replay_"))
    try:
        small = directory / "small.jsonl"
        written = write_replay_log(small, SMALL)
        size = small.stat().st_size
        n = written["envelopes"]

        full = throughput(lambda: _replay(small), repeat=5)  # the figure with a target: best of 5
        unchecked = throughput(lambda: _replay_unchecked(small), repeat=3)
        read_reduce = throughput(lambda: _read_reduce(small), repeat=3)
        read_decode = throughput(lambda: _read_decode(small), repeat=3)
        plain = throughput(lambda: _plain_json(small), repeat=3)
        plain_orjson = throughput(lambda: _plain_json(small, orjson.loads), repeat=3)
        check_ms = _check_cost_ms(small)
        simulated = _simulated(directory)

        large = directory / "large.jsonl"
        started = time.perf_counter()
        written_large = write_replay_log(large, LARGE)
        generate_seconds = time.perf_counter() - started
        rss_small = _replay_rss_kib(small)
        rss_large = _replay_rss_kib(large)
        rss_large_small_window = _replay_rss_kib(large, dedup_window=1_000)
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    return {
        "envelopes": n,
        "decisions": written["decisions"],
        "hours_spanned": written["hours"],
        "file_bytes": size,
        "replay_envelopes_per_s": round(full),
        "target_envelopes_per_s": TARGET,
        "meets_target": full >= TARGET,
        "stages_per_s": {
            "plain_json_loads": round(plain),
            "plain_orjson_loads": round(plain_orjson),
            "read_decode": round(read_decode),
            "read_decode_reduce": round(read_reduce),
            "replay_without_checks": round(unchecked),
            "replay_with_checks": round(full),
        },
        "ratio_replay_time_to_plain_json_time": round(plain / full, 2),
        "ratio_replay_time_to_plain_orjson_time": round(plain_orjson / full, 2),
        "decision_check_ms_median": round(check_ms, 3),
        "simulated_log": simulated,
        "memory": {
            "100k": {"hours_spanned": written["hours"], **rss_small},
            "1M": {"hours_spanned": written_large["hours"], **rss_large},
            "ratio_peak_rss_1M_to_100k": round(
                rss_large["peak_rss_kib"] / rss_small["peak_rss_kib"], 3
            ),
            "growth_1M_minus_100k_kib": rss_large["peak_rss_kib"] - rss_small["peak_rss_kib"],
            # The same 1M replay with the reader remembering 1,000 ids instead of 65,536: what
            # is left moving in the default run is that window's dict being rebuilt.
            "1M_reader_dedup_window_1000": rss_large_small_window,
            "generate_1M_seconds": round(generate_seconds, 1),
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
