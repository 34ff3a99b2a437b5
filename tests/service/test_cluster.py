"""The cluster service end to end: real `redis-server`, real `selfplay-scheduler serve`
processes, real publisher processes, real signals. Each test is bounded by its waits.

Leaders here tick and decide once per term (`QUIET`) unless a test needs a steady flow of
decisions, so replicas reach a quiet point at which their states can be compared.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from returns.result import Success
from service_harness import (
    STREAM,
    RedisServer,
    Replica,
    decisions_by_round,
    publisher_process,
    stream_entries,
    wait_for,
)

from selfplay_core.policy import SchedulerPolicy
from selfplay_core.reducer import reduce
from selfplay_core.state import SchedulerState
from selfplay_shell.eventlog import read_log
from selfplay_shell.redis import state_digest

# Real `serve` processes, signals and restarts: the slow set (run on the main interpreter only).
pytestmark = pytest.mark.slow

QUIET = ("--decide-every", "3600", "--tick-every", "3600", "--lease", "5")
BUSY = ("--decide-every", "0.2", "--tick-every", "0.5", "--lease", "1")


def _start(replicas: list[Replica], server: RedisServer, root: Path, *names: str,
           extra: tuple[str, ...] = QUIET) -> list[Replica]:  # fmt: skip
    started = [Replica(server, root, name, *extra) for name in names]
    replicas.extend(started)
    return [replica.wait_ready() for replica in started]


def _leader(replicas: list[Replica], timeout: float = 30.0) -> Replica:
    def probe() -> Replica | None:
        leaders = [
            r for r in replicas if r.process.poll() is None and r.health()["role"] == "leader"
        ]
        return leaders[0] if len(leaders) == 1 else None

    return wait_for("exactly one leader", probe, timeout)


def _caught_up(replicas: list[Replica], server: RedisServer) -> list[dict[str, Any]]:
    """Wait until every replica has read the stream to its end; their health reports."""

    def probe() -> list[dict[str, Any]] | None:
        last: Any = server.client().xrevrange(STREAM, count=1)
        end = last[0][0].decode()
        reports = [r.health() for r in replicas]
        return reports if all(h["last_stream_id"] == end for h in reports) else None

    return wait_for("every replica to reach the stream's end", probe, timeout=120)


def _settled(replicas: list[Replica], server: RedisServer) -> list[dict[str, Any]]:
    """`_caught_up`, once the leader's first decision is in the stream (a term opens with a
    tick and a decision, the decision once the leader has read everything before it)."""
    wait_for("the first decision", lambda: decisions_by_round(server.client()) or None)
    return _caught_up(replicas, server)


def _leader_writes(server: RedisServer) -> int:
    """Entries the leaders wrote (ticks, decisions): the fenced ones."""
    return sum("fence" in fields for _, fields in stream_entries(server.client()))


def _replayed_digest(log_dir: Path) -> str:
    """The replica's local log folded again, offline."""
    policy = SchedulerPolicy()
    state = SchedulerState.initial(policy)
    for record in read_log(log_dir / "events.jsonl"):
        assert isinstance(record.result, Success), record.result
        state = reduce(state, record.result.unwrap(), policy).state
    return state_digest(state, policy)


def _publish(server: RedisServer, count: int, *prefixes: str, timeout: float = 120) -> None:
    processes = [publisher_process(server, prefix, count) for prefix in prefixes]
    for process in processes:
        out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, err.decode()
        assert out.decode().strip() == "done"


def test_interleaved_publishers_leave_every_replica_in_the_same_state(
    redis_server: RedisServer, replicas: list[Replica], tmp_path: Path
) -> None:
    _start(replicas, redis_server, tmp_path, "r1", "r2", "r3")
    _leader(replicas)
    _publish(redis_server, 1500, "alpha", "beta", "gamma")  # each batch also sent twice

    reports = _settled(replicas, redis_server)
    assert len({h["state_digest"] for h in reports}) == 1
    # 4,500 publisher envelopes, each applied once, plus the leader's ticks and decisions
    assert {h["applied"] for h in reports} == {4500 + _leader_writes(redis_server)}
    assert all(h["status"] == "healthy" and h["rejected"] == 0 for h in reports)

    digests = {h["replica"]: h["state_digest"] for h in reports}
    # standbys first: stopping the leader first would start a new term (a tick, a decision)
    for replica in sorted(replicas, key=lambda r: r.health()["role"] == "leader"):
        assert replica.terminate() == 0
        assert _replayed_digest(replica.log_dir) == digests[replica.name]


def test_a_killed_leader_is_replaced_within_the_lease_and_nothing_is_lost(
    redis_server: RedisServer, replicas: list[Replica], tmp_path: Path
) -> None:
    _start(replicas, redis_server, tmp_path, "r1", "r2", extra=BUSY)
    leader = _leader(replicas)
    first_token = leader.health()["fencing_token"]
    wait_for("a few decisions", lambda: leader.health()["decisions"] >= 3)
    publishers = [publisher_process(redis_server, p, 3000) for p in ("alpha", "beta")]

    leader.kill()  # kill -9, mid-stream
    killed_at = time.monotonic()
    standby = next(r for r in replicas if r is not leader)
    new_token = wait_for(
        "the standby to take over",
        lambda: standby.health()["fencing_token"] if standby.health()["role"] == "leader" else None,
        timeout=30,
    )
    took = time.monotonic() - killed_at
    assert new_token > first_token
    # the lease (1 s) plus the standby's polling and this test's own polling on a busy host
    assert took < 1.0 + 4.0, took
    for process in publishers:
        process.communicate(timeout=120)
    decided = standby.health()["decisions"]
    wait_for("decisions by the new leader", lambda: standby.health()["decisions"] >= decided + 2)

    rounds = decisions_by_round(redis_server.client())
    assert all(len(tokens) == 1 for tokens in rounds.values()), rounds
    # the fencing sequence continues: tokens never go back from one round to the next (a busy
    # host may add a term of its own: the standby losing and retaking a 1 s lease)
    by_round = sorted((int(r.removeprefix("decision-")), int(t.pop())) for r, t in rounds.items())
    assert [t for _, t in by_round] == sorted(t for _, t in by_round)
    assert {first_token, new_token} <= {t for _, t in by_round}
    ids = set()
    for record in read_log(standby.log_dir / "events.jsonl"):
        ids.add(record.result.unwrap().id)
    assert {f"{p}-{i}" for p in ("alpha", "beta") for i in range(3000)} <= ids


def test_a_paused_leader_loses_the_lease_and_never_decides_a_round_twice(
    redis_server: RedisServer, replicas: list[Replica], tmp_path: Path
) -> None:
    _start(replicas, redis_server, tmp_path, "r1", "r2", extra=BUSY)
    old = _leader(replicas)
    old_token = old.health()["fencing_token"]
    wait_for("a few decisions", lambda: old.health()["decisions"] >= 3)

    old.signal(signal.SIGSTOP)
    try:
        standby = next(r for r in replicas if r is not old)
        wait_for("the standby to take over", lambda: standby.health()["role"] == "leader")
        time.sleep(1.0)  # the new leader decides while the old one is still frozen
    finally:
        old.signal(signal.SIGCONT)
    wait_for("the old leader to step down", lambda: old.health()["role"] == "standby")
    assert "stepping down" in old.stderr()  # refused by the fence, or its lease ran out
    new_token = standby.health()["fencing_token"]
    assert new_token > old_token
    time.sleep(1.0)  # both running: only one may write
    assert old.health()["role"] == "standby"
    assert standby.health()["role"] == "leader"

    rounds = decisions_by_round(redis_server.client())
    assert all(len(tokens) == 1 for tokens in rounds.values()), rounds
    reports = _caught_up(replicas, redis_server)
    assert reports[0]["decisions"] == reports[1]["decisions"] == len(rounds)


def test_replicas_ride_out_a_redis_restart_under_load(
    redis_server: RedisServer, replicas: list[Replica], tmp_path: Path
) -> None:
    _start(replicas, redis_server, tmp_path, "r1", "r2")
    _leader(replicas)
    publishers = [publisher_process(redis_server, p, 4000) for p in ("alpha", "beta")]
    wait_for("the load to arrive", lambda: replicas[0].health()["applied"] > 500)

    redis_server.stop()
    degraded = wait_for(
        "a degraded health report",
        lambda: [h for h in (r.health() for r in replicas) if h["status"] == "degraded"] or None,
    )
    assert "redis unreachable" in degraded[0]["reasons"][0]
    time.sleep(0.5)
    redis_server.start()

    for process in publishers:
        _out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err.decode()
    reports = _settled(replicas, redis_server)
    assert all(h["status"] == "healthy" for h in reports)
    assert len({h["state_digest"] for h in reports}) == 1
    assert {h["applied"] for h in reports} == {8000 + _leader_writes(redis_server)}
    assert all(r.process.poll() is None for r in replicas)


def test_malformed_entries_go_to_the_dead_letter_stream_and_the_replica_moves_on(
    redis_server: RedisServer, replicas: list[Replica], tmp_path: Path
) -> None:
    client = redis_server.client()
    good = {"id": "ok-1", "type": "selfplay_complete", "schema_version": 1, "at": 1.0,
            "source": "t", "payload": {"config_key": "hex8_2p"}}  # fmt: skip
    forged = {**good, "id": "forged", "type": "tick", "payload": {"at": 5.0}}
    bad_entries = [
        {"payload": "no envelope field"},
        {"envelope": "{not json"},
        {"envelope": json.dumps({**good, "id": "bad", "payload": {"config_key": "hex9_9p"}})},
        {"envelope": json.dumps(forged)},  # time from a publisher, without a fence
    ]
    bad_ids = [client.xadd(STREAM, fields).decode() for fields in bad_entries]  # type: ignore[arg-type, union-attr]
    client.xadd(STREAM, {"envelope": json.dumps(good)})

    r1, r2 = _start(replicas, redis_server, tmp_path, "r1", "r2")
    reports = _settled(replicas, redis_server)
    assert {h["rejected"] for h in reports} == {4}
    letters = stream_entries(client, STREAM + ":dead")
    assert [sid for sid, _ in letters] == bad_ids  # one per entry, whichever replica came first
    first, _, third, fourth = (fields for _, fields in letters)
    assert first["error"] == "envelope: missing"
    assert first["original.payload"] == "no envelope field"
    assert first["stream_id"] == bad_ids[0]
    assert "not JSON" in letters[1][1]["error"]
    assert "config_key" in third["error"]
    assert "hex9_9p" in third["original.envelope"]
    assert "scheduler-own" in fourth["error"]
    # the good one, and the leader's tick and decision
    assert {h["applied"] for h in reports} == {1 + _leader_writes(redis_server)}
    assert r1.terminate() == 0
    assert r2.terminate() == 0


def test_sigterm_releases_the_lease_and_a_restart_resumes_from_the_log(
    redis_server: RedisServer, replicas: list[Replica], tmp_path: Path
) -> None:
    (first,) = _start(replicas, redis_server, tmp_path, "r1")
    _leader(replicas)
    _publish(redis_server, 300, "alpha")
    before = _caught_up(replicas, redis_server)[0]
    assert first.terminate() == 0
    assert redis_server.client().get(STREAM + ":lease") is None  # released, not left to expire

    _publish(redis_server, 300, "beta")  # while it is down
    (again,) = _start(replicas, redis_server, tmp_path, "r1")
    wait_for("its next term's decision", lambda: again.health()["decisions"] > before["decisions"])
    after = _caught_up([again], redis_server)[0]
    # its 302 from the log, 300 new ones, and the new term's tick and decision
    assert after["applied"] == before["applied"] + 300 + 2
    assert after["fencing_token"] == before["fencing_token"] + 1
    lines = (again.log_dir / "events.jsonl").read_text().splitlines()
    assert len(lines) == after["applied"]  # every envelope once in the log
    assert again.terminate() == 0
    assert _replayed_digest(again.log_dir) == after["state_digest"]


def _rss_kib(replica: Replica, field: str) -> int:
    with open(f"/proc/{replica.process.pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {replica.name}")


def test_a_flood_of_100000_events_is_absorbed_in_bounded_memory(
    redis_server: RedisServer, replicas: list[Replica], tmp_path: Path
) -> None:
    r1, r2 = _start(replicas, redis_server, tmp_path, "r1", "r2")
    _leader(replicas)
    rss_before = max(_rss_kib(r, "VmRSS") for r in replicas)
    client = redis_server.client()
    publishers = [publisher_process(redis_server, p, 50_000) for p in ("alpha", "beta")]
    malformed = [client.xadd(STREAM, {"envelope": f"junk {i}"}) for i in range(10)]
    for process in publishers:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err.decode()

    reports = _settled(replicas, redis_server)
    assert {h["applied"] for h in reports} == {100_000 + _leader_writes(redis_server)}
    assert {h["rejected"] for h in reports} == {10}
    assert len({h["state_digest"] for h in reports}) == 1
    letters = [sid for sid, _ in stream_entries(client, STREAM + ":dead")]
    assert letters == [sid.decode() for sid in malformed]  # type: ignore[union-attr]
    # a batch of entries at a time, the state, and the reducer's bounded window of ids: the
    # replica's peak stays within a few tens of MiB of where it started
    growth_mib = (max(_rss_kib(r, "VmHWM") for r in replicas) - rss_before) / 1024
    assert growth_mib < 64, growth_mib
    assert r1.terminate() == 0
    assert r2.terminate() == 0


def test_the_leader_refreshes_from_the_data_stores_through_the_stream(
    redis_server: RedisServer, replicas: list[Replica], tmp_path: Path
) -> None:
    data = tmp_path / "data"  # no stores at all: every source reports what it has (nothing)
    data.mkdir()
    (only,) = _start(
        replicas, redis_server, tmp_path, "r1",
        extra=("--data", str(data), "--refresh-every", "0.5", *QUIET),
    )  # fmt: skip
    client = redis_server.client()

    def refreshes() -> list[dict[str, str]] | None:
        found = [
            fields
            for _, fields in stream_entries(client)
            if json.loads(fields["envelope"])["type"] == "sources_refreshed"
        ]
        return found if len(found) >= 2 else None

    found = wait_for("two source refreshes", refreshes, timeout=60)
    assert {fields["fence"] for fields in found} == {"1"}
    assert only.terminate() == 0
