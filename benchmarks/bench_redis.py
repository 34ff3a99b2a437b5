"""The cluster service on Redis Streams, end to end, with real processes on a private
`redis-server` (skipped, with a note, where the binary is missing).

- `flood_events_per_second`: 100,000 envelopes from 2 publisher processes (built before the
  clock starts) → the stream → the state of *every* replica (2 `serve` processes): from the
  first append to the moment the last replica has applied the last envelope. On a shared
  host the wall clock mostly measures the neighbours, so `events_per_replica_cpu_second`
  (envelopes per second of the busiest replica's own CPU time) is reported beside it.
- `replica_peak_rss_mib`: the replicas' peak resident memory (VmHWM) after that flood, and
  `replica_rss_before_flood_mib` just before it.
- `replay_identical`: each replica's local log folded again offline gives its live state
  (same `state_digest` as its `/healthz`).
- `failover_seconds`: the leader killed (SIGKILL) → the first decision applied that the new
  leader wrote, with a 1 s lease and a decision every 0.2 s (target ≤ lease + 1 s).

Everything shares the benchmark host's 2 cores (Redis, publishers, replicas, this process),
so figures are rough; the load average at the start is in the report.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

FLOOD = 100_000
PUBLISHERS = 2
LEASE_SECONDS = 1.0
STREAM = "bench:events"

#: A publisher: builds its share of envelopes, says "ready", waits for a line on stdin,
#: publishes them, says "done".
_PUBLISHER = """
import sys
from selfplay_core.configs import ALL_CONFIGS
from selfplay_core.events import EloUpdated, SelfplayComplete, make_envelope
from selfplay_shell.redis import RedisPublisher

url, stream, prefix, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
envelopes = [
    make_envelope(
        EloUpdated(ALL_CONFIGS[i % 12], 1400.0 + i % 300)
        if i % 2
        else SelfplayComplete(ALL_CONFIGS[i % 12]),
        id=f"{prefix}-{i}", at=1.8e9 + i * 0.001, source=prefix,
    )
    for i in range(count)
]
publisher = RedisPublisher(url, stream)
publisher.publish_many(envelopes[:1])
print("ready", flush=True)
sys.stdin.readline()
publisher.publish_many(envelopes[1:])
print("done", flush=True)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(what: str, probe: Callable[[], T | None], timeout: float = 120.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
        except OSError:
            value = None
        if value is not None and value is not False:
            return value
        time.sleep(0.01)
    raise RuntimeError(f"timed out waiting for {what}")


class _Replica:
    def __init__(self, url: str, root: Path, name: str, *extra: str) -> None:
        self.log_dir = root / name
        command = [
            sys.executable, "-m", "selfplay_shell.cli", "serve", "--redis", url, "--stream",
            STREAM, "--log", str(self.log_dir), "--name", name, "--http-port", "0", *extra,
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=(root / f"{name}.err").open("wb")
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode()
        if "serving replica" not in line:
            raise RuntimeError(f"replica {name} did not start: {line!r}")
        self.base = line.strip().rsplit(" ", 1)[-1]

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.base + "/healthz", timeout=10) as response:
            return dict(json.loads(response.read()))

    def applied(self) -> int:
        """Progress from `/metrics` (cheap: `/healthz` also digests the whole state)."""
        with urllib.request.urlopen(self.base + "/metrics", timeout=10) as response:
            for line in response.read().decode().splitlines():
                if line.startswith("selfplay_service_applied_total"):
                    return int(line.split()[-1])
        return 0

    def cpu_seconds(self) -> float:
        """User + system CPU time of the replica process so far."""
        with open(f"/proc/{self.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self, field: str) -> float:
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self, signum: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        self.process.wait(timeout=60)


def _replayed_digest(log_dir: Path) -> str:
    from returns.result import Success

    from selfplay_core.policy import SchedulerPolicy
    from selfplay_core.reducer import reduce
    from selfplay_core.state import SchedulerState
    from selfplay_shell.eventlog import read_log
    from selfplay_shell.redis import state_digest

    policy = SchedulerPolicy()
    state = SchedulerState.initial(policy)
    for record in read_log(log_dir / "events.jsonl"):
        if isinstance(record.result, Success):
            state = reduce(state, record.result.unwrap(), policy).state
    return state_digest(state, policy)


def _flood(url: str, root: Path) -> dict[str, Any]:
    quiet = ("--decide-every", "3600", "--tick-every", "3600", "--lease", "5")
    replicas = [_Replica(url, root, f"flood{i}", *quiet) for i in range(2)]
    _wait("a leader", lambda: any(r.health()["role"] == "leader" for r in replicas))
    share = FLOOD // PUBLISHERS
    publishers = [
        subprocess.Popen(
            [sys.executable, "-c", _PUBLISHER, url, STREAM, f"p{i}", str(share)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for i in range(PUBLISHERS)
    ]
    for process in publishers:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"ready"
    expected = FLOOD + 2  # plus the leader's first tick and decision
    _wait(
        "the first envelopes",
        lambda: all(r.applied() >= 2 + PUBLISHERS for r in replicas),
    )
    rss_before = max(r.rss_mib("VmRSS") for r in replicas)
    cpu_before = [r.cpu_seconds() for r in replicas]
    started = time.perf_counter()
    for process in publishers:
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        process.stdin.flush()
    appended = []
    for process in publishers:
        process.communicate(timeout=300)
        appended.append(time.perf_counter() - started)
    _wait(
        "every replica to apply the flood",
        lambda: all(r.applied() >= expected for r in replicas),
        timeout=600,
    )
    elapsed = time.perf_counter() - started
    peak = max(r.rss_mib("VmHWM") for r in replicas)
    cpu = max(r.cpu_seconds() - c for r, c in zip(replicas, cpu_before, strict=True))
    live = [r.health()["state_digest"] for r in replicas]
    # standbys first: stopping the leader first would start a new term (a tick, a decision)
    for replica in sorted(replicas, key=lambda r: r.health()["role"] == "leader"):
        replica.stop()
    replayed = [_replayed_digest(r.log_dir) for r in replicas]
    return {
        "flood_envelopes": FLOOD,
        "flood_replicas": len(replicas),
        "flood_seconds": round(elapsed, 3),
        "flood_events_per_second": round(FLOOD / elapsed),
        "flood_append_seconds": round(max(appended), 3),
        "replica_cpu_seconds": round(cpu, 3),
        "events_per_replica_cpu_second": round(FLOOD / cpu),
        "replica_rss_before_flood_mib": round(rss_before, 1),
        "replica_peak_rss_mib": round(peak, 1),
        "replicas_agree": len(set(live)) == 1,
        "replay_identical": live == replayed,
    }


def _failover(url: str, root: Path) -> dict[str, Any]:
    busy = ("--decide-every", "0.2", "--tick-every", "1", "--lease", str(LEASE_SECONDS))
    replicas = [_Replica(url, root, f"fail{i}", *busy) for i in range(2)]
    leader = _wait(
        "a leader",
        lambda: next((r for r in replicas if r.health()["role"] == "leader"), None),
    )
    old_token = leader.health()["fencing_token"]
    standby = next(r for r in replicas if r is not leader)
    _wait("a few decisions", lambda: standby.health()["decisions"] >= 3)
    leader.stop(signal.SIGKILL)
    killed = time.perf_counter()
    _wait("the new leader's first decision", lambda: standby.health()["decisions_written"] > 0)
    took = time.perf_counter() - killed
    new_token = standby.health()["fencing_token"]
    standby.stop()
    return {
        "lease_seconds": LEASE_SECONDS,
        "failover_seconds": round(took, 3),
        "failover_token_before_after": [old_token, new_token],
    }


def run() -> dict[str, Any]:
    binary = shutil.which("redis-server")
    if binary is None:
        return {"skipped": "redis-server is not installed (apt-get install redis-server)"}
    folder = Path(tempfile.mkdtemp(prefix="bench_redis_"))
    port = _free_port()
    server = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--appendonly",
            "yes",
            "--save",
            "",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        import redis

        _wait("redis-server", lambda: redis.Redis(port=port).ping())
        figures = _flood(url, folder)
        redis.Redis(port=port).flushall()
        figures.update(_failover(url, folder))
        figures["load_average"] = [round(x, 2) for x in os.getloadavg()]
        return figures
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
