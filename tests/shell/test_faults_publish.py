"""Hostile strings from publishers, through `publish` (directly and over the bus), the event log
and replay: nothing raises, whatever the log cannot write is a rejected event (counted, not
applied, with or without a log), and the log replays to exactly the scheduler's state.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Failure, Success

from selfplay_core import SchedulerPolicy, SchedulerState, replay_report
from selfplay_core.events import REFERENCE_EVENTS
from selfplay_shell import EventBus, EventLog, SelfplayScheduler, read_log

# Every code point, lone surrogates included (a JSON text may hold them; UTF-8 may not).
any_char = st.characters(codec=None, exclude_categories=())
hostile = st.one_of(
    st.text(any_char, max_size=12),
    st.sampled_from(
        [
            "\ud800",
            "hex8_2p\udfff",
            "\x00",
            "line\nbreak",
            "\u2028",
            '{"id":"x"}',
            "\u202eevil",
            "é" * 3000,
            "",
        ]
    ),
)
config_key = st.one_of(st.sampled_from(["hex8_2p", "square19_4p"]), hostile)
event_type = st.one_of(
    st.sampled_from(["selfplay_complete", "node_overloaded", "elo_updated", "future_thing"]),
    hostile,
)
payload = st.one_of(
    st.fixed_dictionaries({"config_key": config_key}),
    st.fixed_dictionaries({"host": hostile}),
    st.fixed_dictionaries({"config_key": config_key, "new_elo": st.floats(1000, 2000)}),
    st.dictionaries(hostile, hostile, max_size=3),
)
SUBSCRIBED = frozenset(cls.TAG for cls in REFERENCE_EVENTS)
publication = st.tuples(event_type, payload, st.one_of(st.none(), hostile), hostile)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def publish_all(scheduler: SelfplayScheduler, items: list[tuple[Any, ...]]) -> list[bool]:
    """Publish each item; whether each was accepted (never an exception)."""
    accepted = []
    for kind, body, ident, source in items:
        result = scheduler.publish(kind, body, id=ident, source=source)
        assert isinstance(result, Success | Failure)
        accepted.append(isinstance(result, Success))
    return accepted


@settings(max_examples=60)
@given(st.lists(publication, max_size=8))
def test_hostile_publishes_never_raise_and_the_log_replays_to_the_same_state(
    items: list[tuple[Any, ...]],
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "events.jsonl"
        with EventLog(path, fsync="never") as log:
            logged = SelfplayScheduler(log=log, clock=Clock())
            accepted = publish_all(logged, items)
        unlogged = SelfplayScheduler(clock=Clock())
        assert publish_all(unlogged, items) == accepted  # the log changes no verdict
        assert unlogged.state == logged.state  # without a log nothing more was applied
        assert logged.events_rejected == accepted.count(False)
        if not path.exists() or not path.stat().st_size:
            assert logged.state.applied == 0
            return
        records = list(read_log(path))
        assert [r.result for r in records if isinstance(r.result, Failure)] == []
        report = replay_report(
            SchedulerState.initial(SchedulerPolicy()), (r.result for r in records)
        )
        assert (report.rejected, report.duplicates) == (0, 0)
        assert report.final_state == logged.state


@settings(max_examples=40)
@given(st.lists(publication, max_size=6))
def test_hostile_messages_over_the_bus_never_raise(items: list[tuple[Any, ...]]) -> None:
    bus = EventBus(run_id="")
    with tempfile.TemporaryDirectory() as directory:
        with EventLog(Path(directory) / "events.jsonl", fsync="never") as log:
            scheduler = SelfplayScheduler(log=log, clock=Clock())
            scheduler.subscribe_to_events(bus)
            direct = SelfplayScheduler(clock=Clock())
            for kind, body, ident, source in items:
                bus.publish(kind, body, id=ident, source=source)  # delivered before it returns
                if kind.strip().lower() in SUBSCRIBED:  # what the bus delivers to the scheduler
                    direct.publish(kind.strip().lower(), body, id=ident or None, source=source)
        assert bus.handler_errors == 0
    assert scheduler.events_rejected == direct.events_rejected
    assert scheduler.state.applied == direct.state.applied


def test_a_lone_surrogate_is_rejected_and_counted_with_and_without_a_log() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "events.jsonl"
        for log in (EventLog(path), None):
            scheduler = SelfplayScheduler(log=log, clock=Clock())
            for kind, body, ident, source in [
                ("node_overloaded", {"host": "gpu-\ud800"}, None, ""),
                ("selfplay_complete", {"config_key": "hex8_2p"}, "id-\udfff", ""),
                ("selfplay_complete", {"config_key": "hex8_2p"}, None, "src\ud83d"),
            ]:
                result = scheduler.publish(kind, body, id=ident, source=source)
                assert isinstance(result, Failure)
                # the codec's own check (not_utf8) or, before it, the log's (invalid)
                assert "surrogates not allowed" in str(result.failure())
            assert scheduler.events_rejected == 3
            assert scheduler.state.applied == 0
            assert scheduler.get_status()["events_rejected"] == 3
            if log is not None:
                log.close()
        assert path.read_bytes() == b""
