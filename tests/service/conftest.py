"""A private `redis-server` per test (skipped, with the reason, only where the binary is missing:
CI installs it, see `.ci/run`)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_harness import REDIS_BINARY, RedisServer, Replica


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    binary = shutil.which(REDIS_BINARY)
    if binary is None:
        pytest.skip("redis-server is not installed here (apt-get install redis-server)")
    server = RedisServer(binary, tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[list[Replica]]:
    """Replicas a test starts; whatever is still running at the end is killed."""
    started: list[Replica] = []
    yield started
    for replica in started:
        replica.kill()
