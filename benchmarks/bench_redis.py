"""The cluster service on Redis Streams, end to end, with real processes on a private
`redis-server` (skipped, with a note, where the binary is missing).

- `flood_events_per_second`: 100,000 envelopes from 2 publisher processes (built before the
  clock starts; encoded and appended while it runs) → the stream → the state of *every*
  replica (2 `serve` processes): from the go to the moment the last replica has acknowledged
  the last entry (a replica acknowledges a batch only after it is logged and applied). The
  end is watched through Redis (`XINFO GROUPS`), not by asking the replicas, so the watching
  costs them nothing; their `applied` counters are checked once at the end.
- CPU of every process during the flood, in microseconds per envelope: each replica
  (`replica_cpu_us_per_event`), Redis (`redis_cpu_us_per_event`), the publishers together
  (`publishers_cpu_us_per_event`). Everything shares the host's 2 cores, so the wall clock
  cannot beat their sum divided by 2 (`cpu_bound_events_per_second`).
- `replica_stage_us_per_event`: where a replica's time goes, measured after the flood by
  running the replica's own steps over the same stream in this process, one step at a time
  over each batch of 1,000: `read` (XREAD), `decode` (`entry_envelope`, of which
  `decode_codec` is the codec's `decode`), `reduce`, `log` (`EventLog.extend` and
  one fsync per batch), `ack` (the position recorded: XGROUP SETID).
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

import time

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
cpu = time.process_time()
publisher.publish_many(envelopes[1:])
print("done", time.process_time() - cpu, flush=True)
"""


#: Every process the benchmark starts: whatever happens, `run` kills those still running
#: before it stops Redis (a replica left behind would retry its lost Redis for ever, and take
#: a share of the host from the next benchmark).
_CHILDREN: list[subprocess.Popen[bytes]] = []


def _spawn(command: list[str], **options: Any) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, **options)
    _CHILDREN.append(process)
    return process


def _kill_children() -> None:
    while _CHILDREN:
        process = _CHILDREN.pop()
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)


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
        self.process = _spawn(
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
        return _cpu_seconds(self.process.pid)

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


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (every thread)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _all_acknowledged(client: Any, groups: list[str]) -> bool:
    """Every replica's group has read up to the stream's last entry and acknowledged it all."""
    last = client.xinfo_stream(STREAM)["last-generated-id"]
    found = {g["name"].decode(): g for g in client.xinfo_groups(STREAM)}
    return all(
        name in found
        and found[name]["last-delivered-id"] == last
        and int(found[name]["pending"]) == 0
        for name in groups
    )


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


def _flood(url: str, root: Path, redis_pid: int) -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(url)
    quiet = ("--decide-every", "3600", "--tick-every", "3600", "--lease", "5")
    replicas = [_Replica(url, root, f"flood{i}", *quiet) for i in range(2)]
    _wait("a leader", lambda: any(r.health()["role"] == "leader" for r in replicas))
    share = FLOOD // PUBLISHERS
    publishers = [
        _spawn(
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
    groups = [f"replica:flood{i}" for i in range(2)]
    _wait("the replicas to be idle", lambda: _all_acknowledged(client, groups))
    rss_before = max(r.rss_mib("VmRSS") for r in replicas)
    cpu_before = [r.cpu_seconds() for r in replicas]
    redis_before = _cpu_seconds(redis_pid)
    client.config_resetstat()
    started = time.perf_counter()
    for process in publishers:
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        process.stdin.flush()
    appended, publishers_cpu = [], 0.0
    for process in publishers:
        out, _ = process.communicate(timeout=300)
        appended.append(time.perf_counter() - started)
        publishers_cpu += float(out.split()[-1])
    _wait(
        "every replica to apply the flood",
        lambda: _all_acknowledged(client, groups),
        timeout=600,
    )
    elapsed = time.perf_counter() - started
    redis_cpu = _cpu_seconds(redis_pid) - redis_before
    commands = {
        name.removeprefix("cmdstat_"): stats for name, stats in client.info("commandstats").items()
    }
    cpu = [r.cpu_seconds() - c for r, c in zip(replicas, cpu_before, strict=True)]
    applied = [r.applied() for r in replicas]
    peak = max(r.rss_mib("VmHWM") for r in replicas)
    live = [r.health()["state_digest"] for r in replicas]
    # standbys first: stopping the leader first would start a new term (a tick, a decision)
    for replica in sorted(replicas, key=lambda r: r.health()["role"] == "leader"):
        replica.stop()
    replayed = [_replayed_digest(r.log_dir) for r in replicas]
    per_event = [round(c / FLOOD * 1e6, 1) for c in cpu]
    total_cpu = sum(cpu) + redis_cpu + publishers_cpu
    return {
        "flood_envelopes": FLOOD,
        "flood_replicas": len(replicas),
        "flood_seconds": round(elapsed, 3),
        "flood_events_per_second": round(FLOOD / elapsed),
        "flood_append_seconds": round(max(appended), 3),
        "replicas_applied_all": all(a >= expected for a in applied),
        "replica_cpu_us_per_event": per_event,
        "events_per_replica_cpu_second": round(FLOOD / max(cpu)),
        "redis_cpu_us_per_event": round(redis_cpu / FLOOD * 1e6, 1),
        # where Redis's time went (µs per envelope, as Redis counts it) and how many entries
        # a replica's read brought on average
        "redis_command_us_per_event": {
            name: round(stats["usec"] / FLOOD, 2)
            for name, stats in commands.items()
            if stats["usec"] / FLOOD >= 0.05
        },
        "replica_mean_batch": round(2 * FLOOD / max(1, commands.get("xread", {}).get("calls", 1))),
        "publishers_cpu_us_per_event": round(publishers_cpu / FLOOD * 1e6, 1),
        "cpu_bound_events_per_second": round(FLOOD / (total_cpu / 2)),
        "replica_rss_before_flood_mib": round(rss_before, 1),
        "replica_peak_rss_mib": round(peak, 1),
        "replicas_agree": len(set(live)) == 1,
        "replay_identical": live == replayed,
    }


def _stage_split(url: str, root: Path) -> dict[str, float]:
    """A replica's steps, one at a time over each batch of the flood's stream (see the module
    docstring): thread CPU per envelope of each."""
    import asyncio

    import redis.asyncio

    from selfplay_core.codec import decode_json
    from selfplay_core.policy import SchedulerPolicy
    from selfplay_core.reducer import reduce
    from selfplay_core.state import SchedulerState
    from selfplay_shell.eventlog import EventLog
    from selfplay_shell.eventlog.jsonline import parse_line_bytes
    from selfplay_shell.redis.streams import entry_envelope

    spent = dict.fromkeys(("read", "decode", "decode_codec", "reduce", "log", "ack"), 0.0)

    async def split() -> int:
        client = redis.asyncio.Redis.from_url(url)
        await client.xgroup_create(STREAM, "split", id="0")
        policy = SchedulerPolicy()
        state = SchedulerState.initial(policy)
        log = EventLog(root / "split" / "events.jsonl")
        count, position = 0, "0-0"
        while True:
            clock = time.thread_time()
            reply: Any = await client.xread({STREAM: position}, count=1000)
            spent["read"] += time.thread_time() - clock
            if not reply:
                break
            entries = reply[0][1]
            clock = time.thread_time()
            envelopes = [entry_envelope(fields).unwrap() for _, fields in entries]
            spent["decode"] += time.thread_time() - clock
            # the codec's share of `decode`: the same texts parsed first (untimed), then decoded
            values = [parse_line_bytes(fields[b"envelope"]) for _, fields in entries]
            clock = time.thread_time()
            for value in values:
                decode_json(value)
            spent["decode_codec"] += time.thread_time() - clock
            clock = time.thread_time()
            for envelope in envelopes:
                state = reduce(state, envelope, policy).state
            spent["reduce"] += time.thread_time() - clock
            clock = time.thread_time()
            log.extend(envelopes)
            log.sync()
            spent["log"] += time.thread_time() - clock
            clock = time.thread_time()
            position = entries[-1][0]
            await client.xgroup_setid(STREAM, "split", position, entries_read=count + len(entries))
            spent["ack"] += time.thread_time() - clock
            count += len(entries)
        log.close()
        await client.aclose()
        return count

    count = asyncio.run(split())
    return {name: round(seconds / count * 1e6, 2) for name, seconds in spent.items()}


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
        figures = _flood(url, folder, server.pid)
        figures["replica_stage_us_per_event"] = _stage_split(url, folder)
        redis.Redis(port=port).flushall()
        figures.update(_failover(url, folder))
        figures["load_average"] = [round(x, 2) for x in os.getloadavg()]
        return figures
    finally:
        _kill_children()
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
