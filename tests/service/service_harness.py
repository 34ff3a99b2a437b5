"""Real processes for the service tests: a private `redis-server`, replicas run through the
`selfplay-scheduler serve` command, and publisher processes. No fakes.

Every wait is bounded (`wait_for`), so a broken service fails a test instead of hanging it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import redis

T = TypeVar("T")

REDIS_BINARY = "redis-server"
STREAM = "selfplay:events"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll `probe` until it returns something other than None/False; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except (OSError, redis.RedisError, ValueError) as error:
            last_error, value = error, None
        if value is not None and value is not False:
            return value
        time.sleep(0.05)
    raise AssertionError(
        f"timed out after {timeout} s waiting for {what} (last error: {last_error})"
    )


class RedisServer:
    """`redis-server` on a free loopback port, data in its own folder, AOF on, no RDB."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary = binary
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=10)

    def start(self) -> None:
        command = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
            str(self.folder), "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
        ]  # fmt: skip
        with (self.folder / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_for("redis-server to answer", lambda: self.client().ping(), timeout=20)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM: Redis flushes its AOF first)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None


class Replica:
    """One `selfplay-scheduler serve` process."""

    def __init__(self, server: RedisServer, root: Path, name: str, *extra: str) -> None:
        self.name = name
        self.log_dir = root / name
        self.stderr_path = root / f"{name}.stderr"
        self.base_url = ""
        command = [
            sys.executable, "-m", "selfplay_shell.cli", "serve", "--redis", server.url,
            "--stream", STREAM, "--log", str(self.log_dir), "--name", name,
            "--http-port", "0", *extra,
        ]  # fmt: skip
        with self.stderr_path.open("ab") as err:
            self.process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=err,
                env={**os.environ, "PYTHONHASHSEED": "0"},
            )

    def wait_ready(self, timeout: float = 60.0) -> Replica:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline().decode()
            if "serving replica" in line:
                self.base_url = line.strip().rsplit(" ", 1)[-1]
                return self
            if not line and self.process.poll() is not None:
                break
        raise AssertionError(f"replica {self.name} never became ready: {self.stderr()}")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.base_url + path, timeout=10) as response:
            return str(response.read().decode())

    def health(self) -> dict[str, Any]:
        return dict(json.loads(self.get("/healthz")))

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


#: A publisher process: `python -c PUBLISHER URL PREFIX COUNT START_AT` publishes COUNT
#: config events with ids PREFIX-0…, in batches, re-sending each batch once (a duplicate
#: delivery), retrying a batch until Redis takes it; prints "done" at the end.
PUBLISHER = """
import sys, time
import redis
from selfplay_core.configs import ALL_CONFIGS
from selfplay_core.events import EloUpdated, SelfplayComplete, TrainingCompleted, make_envelope
from selfplay_shell.redis import RedisPublisher

url, prefix, count, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
kinds = (
    lambda key, i: EloUpdated(key, 1400.0 + (i * 7) % 300),
    lambda key, i: SelfplayComplete(key),
    lambda key, i: TrainingCompleted(key),
)
publisher = RedisPublisher(url, "STREAM_NAME")
batch = []
for i in range(count):
    key = ALL_CONFIGS[(i * 5 + len(prefix)) % len(ALL_CONFIGS)]
    event = kinds[i % 3](key, i)
    batch.append(make_envelope(event, id=f"{prefix}-{i}", at=start + i * 0.001, source=prefix))
    if len(batch) == 100 or i == count - 1:
        for attempt in range(2):
            while True:
                try:
                    publisher.publish_many(batch)
                    break
                except (redis.ConnectionError, redis.TimeoutError, OSError):
                    publisher.close()
                    time.sleep(0.1)
        batch = []
print("done", flush=True)
""".replace("STREAM_NAME", STREAM)


def publisher_process(server: RedisServer, prefix: str, count: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, server.url, prefix, str(count), "1800000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def stream_entries(client: redis.Redis, key: str = STREAM) -> list[tuple[str, dict[str, str]]]:
    entries: Any = client.xrange(key)
    return [
        (sid.decode(), {k.decode(): v.decode() for k, v in fields.items()})
        for sid, fields in entries
    ]


def decisions_by_round(client: redis.Redis) -> dict[str, set[str]]:
    """Round (decision envelope id) → the fencing tokens of the entries that decided it."""
    rounds: dict[str, set[str]] = {}
    for _, fields in stream_entries(client):
        if "fence" not in fields:  # not the leader's
            continue
        envelope = json.loads(fields["envelope"])
        if envelope["type"] == "allocation_decided":
            rounds.setdefault(envelope["id"], set()).add(fields["fence"])
    return rounds
