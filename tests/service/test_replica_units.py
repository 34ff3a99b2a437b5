"""The service's pure parts, without Redis: entries ⇄ envelopes, dead letters, the replica's
fold and commit over a real local log, and what /metrics and /healthz say."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import attrs
import orjson
import pytest
from hypothesis import given, settings
from returns.result import Failure, Success

from selfplay_core.codec import encode
from selfplay_core.configs import ALL_CONFIGS
from selfplay_core.events import Envelope, SelfplayComplete, Tick, make_envelope
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.status import HealthStatus
from selfplay_core.testing.events import envelopes
from selfplay_shell.cli.serve import SERVE_GC_THRESHOLD
from selfplay_shell.eventlog import DEFAULT_MAX_LINE_BYTES, encode_line
from selfplay_shell.redis.replica import Replica
from selfplay_shell.redis.status import ServiceFacts, health, healthz, metrics_text
from selfplay_shell.redis.streams import (
    EntryProblem,
    dead_letter_fields,
    entry_envelope,
    wire_text,
)

POLICY = SchedulerPolicy()


def _envelope(i: int) -> Envelope:
    return make_envelope(
        SelfplayComplete(ALL_CONFIGS[i % 12]), id=f"e-{i}", at=10.0 + i, source="t"
    )


def _entry(i: int, envelope: Envelope) -> tuple[bytes, dict[bytes, bytes]]:
    return (f"{1000 + i}-0".encode(), {b"envelope": wire_text(envelope)})


@settings(max_examples=50)
@given(envelopes())
def test_an_entry_gives_back_the_envelope_it_was_made_from(envelope: Envelope) -> None:
    fields = {b"envelope": wire_text(envelope), b"fence": b"1"}  # as the leader writes it
    result = entry_envelope(fields)
    assert isinstance(result, Success)
    assert encode(result.unwrap()) == encode(envelope)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({b"other": b"x"}, "envelope: missing"),
        ({b"envelope": b"{oops"}, "envelope: not JSON"),
        ({b"envelope": b'{"id": "x"}'}, "envelope: "),
        ({b"envelope": b"[1, 2]"}, "envelope: not JSON: expected a JSON object, got an array"),
        ({b"envelope": b"{" + b" " * DEFAULT_MAX_LINE_BYTES + b"}"}, "over the event log's"),
        (
            {
                b"envelope": orjson.dumps(
                    encode(make_envelope(Tick(1.0), id="t", at=1.0, source=""))
                )
            },
            "scheduler-own event",
        ),
    ],
)
def test_an_entry_without_an_acceptable_envelope_says_why(
    fields: dict[bytes, bytes], reason: str
) -> None:
    result = entry_envelope(fields)
    assert isinstance(result, Failure)
    assert str(result.failure()).startswith(reason) or reason in str(result.failure())


def test_a_dead_letter_keeps_every_original_field_beside_the_error() -> None:
    letter = dead_letter_fields(
        {b"envelope": b"{oops", b"error": b"a publisher's own field"},
        EntryProblem("envelope", "not JSON"),
        b"17-3",
        "r1",
    )
    assert letter == {
        b"error": b"envelope: not JSON",
        b"stream_id": b"17-3",
        b"replica": b"r1",
        b"original.envelope": b"{oops",
        b"original.error": b"a publisher's own field",
    }


def test_fold_drops_repeated_ids_sets_aside_bad_entries_and_commit_logs_first(
    tmp_path: Path,
) -> None:
    replica, problems = Replica.resume(POLICY, tmp_path)
    assert problems == []
    entries = [_entry(i, _envelope(i % 3)) for i in range(6)]  # each envelope twice
    entries.insert(2, (b"1002-1", {b"envelope": b"junk"}))
    folded = replica.fold(entries)
    assert [e.id for e in folded.applied] == ["e-0", "e-1", "e-2"]
    assert folded.duplicates == 3
    assert [d.stream_id for d in folded.dead] == [b"1002-1"]
    assert replica.applied == 0  # folding changes nothing yet
    assert not (tmp_path / "events.jsonl").read_text()

    replica.commit(folded)
    assert replica.applied == 3
    assert replica.rejected == 1
    assert replica.last_stream_id == "1005-0"
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["e-0", "e-1", "e-2"]

    digest = replica.digest()
    replica.close()
    resumed, _ = Replica.resume(POLICY, tmp_path)
    assert resumed.digest() == digest
    assert resumed.fold(entries).applied == ()  # everything is a duplicate after a restart
    resumed.close()


def test_the_log_holds_each_applied_entry_text_as_it_came(tmp_path: Path) -> None:
    """The stream's text is the log line: a replica logs what a publisher sent (both are
    `encode_line`)."""
    replica, _ = Replica.resume(POLICY, tmp_path)
    entries = [_entry(i, _envelope(i)) for i in range(4)]
    replica.commit(replica.fold(entries))
    replica.close()
    logged = (tmp_path / "events.jsonl").read_bytes()
    assert logged == b"".join(fields[b"envelope"] + b"\n" for _, fields in entries)
    assert logged == b"".join(encode_line(_envelope(i)) for i in range(4))


def test_a_loosely_written_entry_is_logged_as_its_envelope_line(tmp_path: Path) -> None:
    """Another publisher's JSON (indented, keys in any order) decodes to the same envelope:
    the log holds the envelope's own line, which replays to it."""
    replica, _ = Replica.resume(POLICY, tmp_path)
    loose = json.dumps(dict(reversed(encode(_envelope(0)).items())), indent=2).encode()
    replica.commit(replica.fold([(b"1-0", {b"envelope": loose})]))
    replica.close()
    assert (tmp_path / "events.jsonl").read_bytes() == encode_line(_envelope(0))


def test_a_failing_log_leaves_the_replica_where_it_was(tmp_path: Path) -> None:
    replica, _ = Replica.resume(POLICY, tmp_path)
    folded = replica.fold([_entry(0, _envelope(0))])
    replica.log.close()  # writing now fails
    with pytest.raises(ValueError, match="closed"):
        replica.commit(folded)
    assert replica.applied == 0
    assert replica.last_stream_id == "0-0"


def _facts(**changes: object) -> ServiceFacts:
    base = ServiceFacts(
        replica='r"1',
        role="leader",
        fencing_token=7,
        last_stream_id="5-0",
        applied=10,
        duplicates=2,
        rejected=1,
        decisions=3,
        decisions_written=2,
        lag=0,
        lease_age=0.25,
        connected=True,
        disconnected_reason=None,
        persistence_problem=None,
    )
    return attrs.evolve(base, **changes)


def test_health_is_degraded_with_every_reason() -> None:
    assert health(_facts()) == (HealthStatus.HEALTHY, ())
    level, reasons = health(
        _facts(
            connected=False,
            disconnected_reason="ConnectionError: refused",
            persistence_problem="redis persistence: appendonly is off",
            lag=500,
            lag_limit=100,
        )
    )
    assert level is HealthStatus.DEGRADED
    assert reasons == (
        "redis unreachable: ConnectionError: refused",
        "redis persistence: appendonly is off",
        "lagging: 500 entries unread (limit 100)",
    )


def test_healthz_and_metrics_say_the_same_things() -> None:
    report = healthz(_facts(), "abc")
    assert report["role"] == "leader"
    assert report["fencing_token"] == 7
    assert report["state_digest"] == "abc"
    assert report["status"] == "healthy"
    text = metrics_text(_facts())
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    label = '{replica="r\\"1"}'
    assert lines[f"selfplay_service_applied_total{label}"] == "10"
    assert lines[f"selfplay_service_fencing_token{label}"] == "7"
    assert lines[f"selfplay_service_leader{label}"] == "1"
    assert lines[f"selfplay_service_lease_age_seconds{label}"] == "0.25"
    assert "# TYPE selfplay_service_lag gauge" in text


def test_a_standby_reports_token_zero_and_no_lease_age() -> None:
    text = metrics_text(_facts(role="standby", fencing_token=None, lease_age=None))
    assert 'selfplay_service_fencing_token{replica="r\\"1"} 0' in text
    assert 'selfplay_service_leader{replica="r\\"1"} 0' in text
    assert "lease_age_seconds{" not in text


def test_a_batch_larger_than_the_dedup_window_is_refused(tmp_path: Path) -> None:
    """A batch read again after a restart must drop out as duplicates: it has to fit in the
    reducer's id window, so the configuration says so instead of letting it apply twice."""
    from selfplay_shell.redis.service import ServiceConfig, ServiceError

    window = SchedulerPolicy().events.dedup_window
    assert ServiceConfig("redis://localhost", tmp_path, batch=window).batch == window
    for batch in (0, -1, window + 1):
        with pytest.raises(ServiceError, match=rf"--batch must be between 1 and .*\({window}\)"):
            ServiceConfig("redis://localhost", tmp_path, batch=batch)


def test_serve_tunes_the_collector_of_its_own_process_only() -> None:
    """`tune_collector` (run by `serve` once started) freezes what exists and raises the young
    generation's threshold; it runs in a child process here, as in `serve`, so pytest's own
    collector keeps its settings."""
    code = (
        "import gc; from selfplay_shell.cli.serve import tune_collector; "
        "before = gc.get_freeze_count(); tune_collector(); "
        "print(gc.get_freeze_count() > before, *gc.get_threshold())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", *map(str, SERVE_GC_THRESHOLD)]


async def test_a_stop_request_ends_the_backoff_at_once(tmp_path: Path) -> None:
    """Redis is away and the reader backs off; a stop requested meanwhile ends the wait and
    no further attempt is made (before, the pause ran out and the step ran once more)."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from selfplay_shell.redis.service import ReplicaService, ServiceConfig

    service = ReplicaService(ServiceConfig("redis://127.0.0.1:1/0", tmp_path))
    attempts = 0

    async def unreachable() -> None:
        nonlocal attempts
        attempts += 1
        asyncio.get_running_loop().call_soon(service.stop)  # lands during the pause
        raise RedisConnectionError("Redis is away")

    try:
        await asyncio.wait_for(service._with_backoff(unreachable), timeout=60)
    finally:
        service.replica.close()
        await service.client.aclose()
    assert attempts == 1
    assert service.facts().stopping
    assert service.disconnected_reason == "ConnectionError: Redis is away"
