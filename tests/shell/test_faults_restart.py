"""Fault injection across runs: restarting on the same log (the README's embedding recipe run
twice), a run told to reuse old ids, and a scheduler SIGKILLed again and again mid-stream.

The rule under test (docs/eventlog.md, "Ids"): a scheduler attached to a log continues the
numbering of its id prefix from the log, so no two runs write the same id, and the writer
refuses an id already in its window instead of writing a line that replay would skip.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from returns.result import Failure, Success

from selfplay_core import SchedulerPolicy, SchedulerState, replay_report
from selfplay_shell import EventBus, EventLog, SelfplayDataAccessor, SelfplayScheduler, read_log
from selfplay_shell.eventlog import LogWriteError

SRC = Path(__file__).resolve().parents[2] / "src"


def log_ids(path: Path) -> list[str]:
    records = list(read_log(path))
    problems = [str(r.result.failure()) for r in records if isinstance(r.result, Failure)]
    assert problems == [], problems
    return [r.result.unwrap().id for r in records if isinstance(r.result, Success)]


async def readme_recipe(log_path: Path, root: Path) -> None:
    """The README's "Embedding it" example, on a data root with no stores."""
    bus = EventBus()
    with EventLog(log_path) as log:
        accessor = SelfplayDataAccessor(root)
        scheduler = SelfplayScheduler(accessor=accessor, log=log)
        scheduler.subscribe_to_events(bus)
        async with scheduler:
            bus.publish("SELFPLAY_COMPLETE", {"config_key": "hex8_2p"})
            await bus.drain()
            await scheduler.allocate_selfplay_batch(games_per_config=500)
        accessor.close()


def test_two_runs_of_the_readme_recipe_never_share_an_id(tmp_path: Path) -> None:
    path = tmp_path / "scheduler-events.jsonl"
    # Bounded: `stop()` used to wait out a 60 s timer when a cancellation met a finishing read.
    asyncio.run(asyncio.wait_for(readme_recipe(path, tmp_path / "ai-service"), 50))
    first = log_ids(path)
    asyncio.run(asyncio.wait_for(readme_recipe(path, tmp_path / "ai-service"), 50))
    both = log_ids(path)
    assert both[: len(first)] == first
    assert len(set(both)) == len(both)  # every line is applied on replay; none skipped
    second = both[len(first) :]
    assert len(second) == len(first)
    numbers = [int(i.rsplit("-", 1)[1]) for i in both if i.startswith("selfplay_scheduler-")]
    assert numbers == sorted(numbers)  # the second run continued the first one's numbering
    report = replay_report(
        SchedulerState.initial(SchedulerPolicy()), (r.result for r in read_log(path))
    )
    assert (report.duplicates, report.rejected, report.ignored) == (0, 0, 0)
    assert report.applied + report.unknown == len(both)
    assert report.decisions_checked == 2  # both runs' decisions are checked, none skipped


def test_a_run_told_to_reuse_old_ids_is_refused_loudly(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        scheduler = SelfplayScheduler(log=log, clock=lambda: 1000.0)
        scheduler.tick()
        scheduler.publish("selfplay_complete", {"config_key": "hex8_2p"})
        scheduler.decide_batch(100)
    before = path.read_bytes()
    with EventLog(path) as log:
        scheduler = SelfplayScheduler(log=log, clock=lambda: 2000.0, id_counter=0)
        with pytest.raises(LogWriteError, match="selfplay_scheduler-1' is already in the log"):
            scheduler.tick()  # the scheduler's own event: the caller hears of it
        result = scheduler.publish("selfplay_complete", {"config_key": "hex8_2p"})
        assert isinstance(result, Failure)  # a publisher's event: rejected and counted
        assert "already in the log" in result.failure().message
        assert scheduler.events_rejected == 1
        assert scheduler.state.applied == 0  # nothing applied that the log does not hold
    assert path.read_bytes() == before


def test_a_prefix_of_its_own_starts_at_one_and_other_prefixes_continue(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventLog(path) as log:
        SelfplayScheduler(log=log, clock=lambda: 1.0, id_prefix="a").tick()
        SelfplayScheduler(log=log, clock=lambda: 2.0, id_prefix="b").tick()
        SelfplayScheduler(log=log, clock=lambda: 3.0, id_prefix="a").tick()
        SelfplayScheduler(log=log, clock=lambda: 4.0, id_prefix="a", id_counter=40).tick()
    assert log_ids(path) == ["a-1", "b-1", "a-2", "a-41"]


# -- SIGKILL, again and again ----------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys
    from returns.result import Success
    from selfplay_shell import EventLog, SelfplayScheduler

    path, run = sys.argv[1], int(sys.argv[2])
    clock = [run * 1e6]
    def now():
        clock[0] += 1.0
        return clock[0]
    with EventLog(path, fsync="never") as log:
        scheduler = SelfplayScheduler(log=log, clock=now)
        n = 0
        while True:
            n += 1
            result = scheduler.publish(
                "selfplay_complete", {"config_key": "hex8_2p"}, id=f"run{run}-pub{n}"
            )
            verdict = "ok" if isinstance(result, Success) else "rejected"
            print(verdict, f"run{run}-pub{n}", flush=True)
            scheduler.tick()
            if n % 7 == 0:
                scheduler.decide_batch(50)
    """
)


@pytest.mark.slow
def test_sigkill_loop_of_restarting_schedulers_loses_nothing_and_reuses_no_id(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.jsonl"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    rng = random.Random(11)
    acknowledged: list[str] = []
    for run in range(1, 7):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(run)],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        assert child.stdout is not None
        wanted = rng.randint(20, 200)
        deadline = time.monotonic() + 60  # a bound on a hang, not a measure of speed
        got = 0
        while got < wanted and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            verdict, ident = line.split()
            assert verdict == "ok", line
            acknowledged.append(ident)
            got += 1
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        assert got == wanted, f"run {run} stopped after {got} publishes"
    with EventLog(path) as log:  # a torn tail from the last kill is quarantined here
        assert len(log.recovery) <= 1
    ids = log_ids(path)
    assert len(ids) == len(set(ids))  # no run reused an id of an earlier one
    assert set(acknowledged) <= set(ids)  # records lost: 0
    report = replay_report(
        SchedulerState.initial(SchedulerPolicy()), (r.result for r in read_log(path))
    )
    assert (report.duplicates, report.rejected) == (0, 0)
    decisions = [r for r in read_log(path) if r.result.unwrap().type == "allocation_decided"]
    assert len(decisions) >= 6 * 20 // 7
    assert report.decisions_checked == len(decisions)  # every decision checked, none skipped
