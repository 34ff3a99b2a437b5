"""Replay: the fold, decision checks, rejections, counterfactuals, starvation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs
import pytest
from _replay_support import DECIDE, SCRIPT, counts, record, refresh
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Success

from selfplay_core.codec import encode_value
from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.events import (
    AllocationDecided,
    QualityPenaltyApplied,
    Tick,
    UnknownEvent,
    make_envelope,
)
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.replay import (
    MAX_REJECTIONS,
    Difference,
    Outcome,
    Rejected,
    Verdict,
    VerdictKind,
    canonical_json,
    counterfactual,
    first_difference,
    replay,
    replay_report,
    replay_verdict,
    same_json,
    starvation_figures,
    summarize,
)
from selfplay_core.state import SchedulerState
from selfplay_core.testing.events import envelopes, events

K = ConfigKey.parse


def _report(log: Sequence[Any], policy: SchedulerPolicy = SchedulerPolicy()) -> Any:  # noqa: B008
    return summarize(replay(SchedulerState.initial(policy), log, policy))


# --- the identity check ------------------------------------------------------------------------


def test_every_recorded_decision_replays_identical() -> None:
    log = record(SCRIPT)
    report = _report(log)
    assert report.items == len(log) == 10
    assert report.applied == 10
    assert report.decisions_checked == 4
    assert report.decisions_identical == 4
    assert report.first_difference is None
    assert report.all_identical


def test_a_tampered_decision_is_reported_in_full() -> None:
    log = record(SCRIPT)
    third = log[4]  # the second decision
    assert isinstance(third.event, AllocationDecided)
    recorded = third.event.result
    key = next(k for k, v in recorded.games_by_config.items() if v)
    games = dict(recorded.games_by_config)
    games[key] += 1
    tampered = attrs.evolve(recorded, games_by_config=games, unplaced={key: 1})
    log[4] = attrs.evolve(third, event=AllocationDecided(third.event.request, tampered))
    report = _report(log)
    assert report.decisions_checked == 4
    assert report.decisions_identical == 3
    first = report.first_difference
    assert first is not None
    assert first.number == 2
    assert first.position == 4
    assert first.envelope_id == "e00004"
    assert first.difference == Difference(
        f"games_by_config.{key}",
        str(recorded.games_by_config[key] + 1),
        str(recorded.games_by_config[key]),
    )
    assert first.recorded == tampered
    assert first.replayed == recorded
    data = report.as_dict()
    assert data["first_difference"]["decision"] == 2
    assert data["first_difference"]["path"] == f"games_by_config.{key}"
    json.dumps(data)  # JSON-ready


def test_only_the_first_difference_is_kept() -> None:
    log = record(SCRIPT)
    for index in (1, 4):
        env = log[index]
        assert isinstance(env.event, AllocationDecided)
        request = attrs.evolve(env.event.request, games_per_config=999)
        log[index] = attrs.evolve(env, event=AllocationDecided(request, env.event.result))
    report = _report(log)
    assert report.decisions_identical == 2
    assert report.first_difference is not None
    assert report.first_difference.number == 1


def test_replay_under_another_policy_differs() -> None:
    log = record(SCRIPT)
    other = SchedulerPolicy.from_mapping({"starvation": {"emergency_multiplier": 1.0}})
    report = _report(log, other)
    assert report.decisions_checked == 4
    assert report.decisions_identical < 4


# --- outcomes and rejections -------------------------------------------------------------------


def test_outcomes_are_counted() -> None:
    log = record(SCRIPT[:2])
    unknown = make_envelope(UnknownEvent("mystery_event", {"x": 1}), id="u1", at=5e3, source="s")
    emitted = make_envelope(QualityPenaltyApplied(config_key="hex8_2p"), id="q", at=5e3, source="s")
    items: list[Any] = [
        *log,
        unknown,
        log[0],  # a duplicate
        emitted,
        Rejected("log.jsonl:7", "invalid JSON"),
        Failure("plain failure"),
        Success(make_envelope(Tick(at=1.0), id="t", at=6e3, source="s")),
    ]
    steps = list(replay(SchedulerState.initial(), items))
    assert [s.outcome for s in steps] == [
        Outcome.APPLIED,
        Outcome.APPLIED,
        Outcome.UNKNOWN,
        Outcome.DUPLICATE,
        Outcome.IGNORED,
        Outcome.REJECTED,
        Outcome.REJECTED,
        Outcome.APPLIED,
    ]
    assert [s.position for s in steps] == list(range(8))
    report = summarize(steps)
    assert (report.applied, report.unknown, report.duplicates, report.ignored) == (3, 1, 1, 1)
    assert report.rejected == 2
    assert [str(r) for r in report.rejections] == [
        "log.jsonl:7: invalid JSON",
        "item 6: plain failure",
    ]
    assert dict(report.unknown_types) == {"mystery_event": 1}
    assert report.decisions_checked == 1


def test_a_reader_problem_keeps_file_line_field_and_kind() -> None:
    from selfplay_shell.eventlog import LogProblem, ProblemKind

    problem = LogProblem(
        "a.jsonl", 3, "payload.config_key", "unknown config", ProblemKind.DECODE_ERROR
    )
    (step,) = replay(SchedulerState.initial(), [Failure(problem)])
    assert step.rejection == Rejected(
        "a.jsonl:3", "[payload.config_key] unknown config (decode_error)"
    )


def test_rejection_reasons_are_capped_but_counted() -> None:
    items = [Rejected(f"x:{i}", "bad") for i in range(MAX_REJECTIONS + 25)]
    report = summarize(replay(SchedulerState.initial(), items))
    assert report.rejected == MAX_REJECTIONS + 25
    assert len(report.rejections) == MAX_REJECTIONS
    assert report.as_dict()["rejections_truncated"] is True


@given(st.lists(envelopes() | st.builds(Rejected, st.text(max_size=5), st.text()), max_size=25))
def test_outcomes_add_up_and_the_fold_never_raises(items: list[Any]) -> None:
    report = replay_report(SchedulerState.initial(), items)
    parts = report.applied + report.unknown + report.duplicates + report.ignored + report.rejected
    assert parts == report.items == len(items)
    assert report.decisions_identical <= report.decisions_checked
    assert report.final_state is not None
    assert report.final_state.applied == report.applied


@given(st.lists(events(include_unknown=False), min_size=1, max_size=12), st.data())
def test_decisions_recorded_after_any_events_replay_identical(
    script: list[Any], data: st.DataObject
) -> None:
    marks = data.draw(st.lists(st.integers(0, len(script)), min_size=1, max_size=4))
    full: list[Any] = [refresh(counts(10))]
    for i, event in enumerate(script):
        full.extend(DECIDE for m in marks if m == i)
        if not isinstance(event, AllocationDecided):
            full.append(event)
    full.extend(DECIDE for m in marks if m == len(script))
    log = record(full)
    report = _report(log)
    assert report.decisions_checked == len(marks)
    assert report.decisions_identical == len(marks), report.first_difference
    # and the counterfactual under the same policy changes nothing
    same = counterfactual(SchedulerState.initial(), log, SchedulerPolicy())
    assert same.decisions_differing == 0
    assert same.recorded_games == same.counterfactual_games
    assert same.recorded_starvation == same.counterfactual_starvation


# --- first difference --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ({"x": 1}, {"x": 1}, None),
        ({"x": 1}, {"x": 1.0}, Difference("x", "1", "1.0")),
        ({"x": 0.0}, {"x": -0.0}, Difference("x", "0.0", "-0.0")),
        ({"x": {"y": [1, 2]}}, {"x": {"y": [1, 3]}}, Difference("x.y[1]", "2", "3")),
        ({"x": [1]}, {"x": [1, 2]}, Difference("x[1]", "<absent>", "2")),
        ({"x": 1}, {}, Difference("x", "1", "<absent>")),
        ({}, {"z": "a"}, Difference("z", "<absent>", '"a"')),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, Difference("", '["a","b"]', '["b","a"]')),
    ],
)
def test_first_difference(a: Any, b: Any, expected: Difference | None) -> None:
    assert first_difference(a, b) == expected


# --- same_json: the canonical texts compared without building them ----------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)


def _twin(value: Any, data: st.DataObject) -> Any:
    """A value that differs from `value` only where the text shows and `==` may not: key
    order, 1 against 1.0 against True, 0.0 against -0.0 (or a copy, unchanged)."""
    if isinstance(value, dict):
        items = [(key, _twin(item, data)) for key, item in value.items()]
        if data.draw(st.booleans()):
            items.reverse()
        return dict(items)
    if isinstance(value, list):
        return [_twin(item, data) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and abs(value) < 2**53 and data.draw(st.booleans()):
        return float(value)
    if isinstance(value, float) and value == 0.0 and data.draw(st.booleans()):
        return -value
    return value


@given(json_values, st.data())
def test_same_json_is_canonical_text_equality(value: Any, data: st.DataObject) -> None:
    other = _twin(value, data) if data.draw(st.booleans()) else data.draw(json_values)
    assert same_json(value, other) is (canonical_json(value) == canonical_json(other))


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({"x": 1}, {"x": 1.0}, False),
        ({"x": 0.0}, {"x": -0.0}, False),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, False),
        ({"x": True}, {"x": 1}, False),
        ({"x": 2**70}, {"x": 2**70}, True),  # orjson refuses it: canonical_json decides
        ({"x": 2**70}, {"x": 2**70 + 1}, False),
        ({"x": float("inf")}, {"x": None}, False),  # orjson writes both as null
        ({"x": "\ud800"}, {"x": "\ud800"}, True),
    ],
)
def test_same_json_edges(a: Any, b: Any, same: bool) -> None:
    assert same_json(a, b) is same


# --- starvation figures ------------------------------------------------------------------------


def test_starvation_figures_worked_example() -> None:
    a, b, c = K("hex8_2p"), K("square8_2p"), K("hexagonal_4p")
    decisions = [
        (0.0, {a: 100, b: 50}),
        (600.0, {a: 100}),
        (1200.0, {a: 50, c: 50}),
        (4200.0, {b: 100}),
    ]
    figures = starvation_figures(decisions, window_seconds=3600.0)
    assert figures.span_seconds == 4200.0
    assert figures.decisions == 4
    assert figures.longest_wait_seconds[a] == 3000.0  # fed at 1200, then never until the end
    assert figures.longest_wait_seconds[b] == 4200.0  # fed at 0 and 4200
    assert figures.longest_wait_seconds[c] == 3000.0  # 0 → 1200 before, 1200 → 4200 after
    assert figures.longest_wait_decisions[b] == 2
    assert figures.longest_wait_decisions[c] == 2  # at 0 and 600
    never = [k for k in ALL_CONFIGS if k not in (a, b, c)]
    assert figures.never_fed == tuple(never)
    assert all(figures.longest_wait_seconds[k] == 4200.0 for k in never)
    assert [start for start, _ in figures.windows] == [0.0, 3600.0]
    assert figures.windows[0][1][a] == 250
    assert figures.windows[1][1][b] == 100
    assert figures.share[a] == 250 / 450
    shares = figures.window_shares()
    assert shares[1][1][b] == 1.0
    assert sum(shares[0][1].values()) == pytest.approx(1.0)


def test_starvation_figures_of_nothing() -> None:
    figures = starvation_figures([])
    assert figures.decisions == 0
    assert figures.windows == ()
    json.dumps(figures.as_dict())


# --- counterfactual ----------------------------------------------------------------------------


def test_counterfactual_under_the_same_policy_changes_nothing() -> None:
    log = record(SCRIPT)
    result = counterfactual(SchedulerState.initial(), log, SchedulerPolicy())
    assert len(result.decisions) == 4
    assert result.decisions_differing == 0
    assert dict(result.games_delta) == {}
    assert dict(result.nodes_delta) == {}
    assert result.recorded_games == result.counterfactual_games
    assert result.replay.decisions_identical == 4
    assert sum(result.recorded_nodes.values()) == sum(
        d.recorded_games[k] for d in result.decisions for k in d.recorded_games
    ) - sum(e.event.result.unplaced_games for e in log if isinstance(e.event, AllocationDecided))


def test_counterfactual_totals_add_up_per_decision() -> None:
    log = record(SCRIPT)
    other = SchedulerPolicy.from_mapping(
        {"starvation": {"emergency_multiplier": 1.0, "critical_multiplier": 1.0}}
    )
    result = counterfactual(SchedulerState.initial(), log, other)
    assert result.decisions_differing >= 1
    for key in ALL_CONFIGS:
        assert result.counterfactual_games.get(key, 0) == sum(
            d.counterfactual_games.get(key, 0) for d in result.decisions
        )
        assert result.recorded_games.get(key, 0) == sum(
            d.recorded_games.get(key, 0) for d in result.decisions
        )
    delta = result.games_delta
    assert all(v != 0 for v in delta.values())
    for key, value in delta.items():
        assert value == result.counterfactual_games.get(key, 0) - result.recorded_games.get(key, 0)
    # the recorded side is what the log holds
    logged = [e.event.result for e in log if isinstance(e.event, AllocationDecided)]
    assert [dict(d.recorded_games) for d in result.decisions] == [
        {k: v for k, v in r.games_by_config.items() if v} for r in logged
    ]
    data = result.as_dict()
    json.dumps(data)
    assert data["decisions"] == 4
    assert set(data["starvation"]) == {"recorded", "counterfactual"}


def test_counterfactual_decisions_enter_the_state() -> None:
    log = record(SCRIPT)
    other = SchedulerPolicy.from_mapping({"starvation": {"emergency_multiplier": 1.0}})
    result = counterfactual(SchedulerState.initial(), log, other)
    final = result.replay.final_state
    assert final is not None
    # the book counts placed games: what the counterfactual decisions put on nodes
    assert final.allocations.games_total == sum(result.counterfactual_nodes.values())


def test_encoded_decisions_are_what_is_compared() -> None:
    log = record(SCRIPT[:2])
    check = next(s.check for s in replay(SchedulerState.initial(), log) if s.check is not None)
    assert check.recorded_json == check.replayed_json
    assert json.loads(check.recorded_json) == encode_value(check.recorded)


# --- the verdict -------------------------------------------------------------------------------


def _tampered(log: list[Any], index: int) -> list[Any]:
    envelope = log[index]
    assert isinstance(envelope.event, AllocationDecided)
    request = attrs.evolve(envelope.event.request, games_per_config=999)
    return [
        *log[:index],
        attrs.evolve(envelope, event=AllocationDecided(request, envelope.event.result)),
        *log[index + 1 :],
    ]


def test_a_clean_replay_is_identical() -> None:
    verdict = replay_verdict(_report(record(SCRIPT)))
    assert verdict == Verdict(
        VerdictKind.IDENTICAL, "all 4 decision(s) identical; all 10 line(s) replayed"
    )
    assert verdict.ok


def test_a_differing_decision_is_named() -> None:
    verdict = replay_verdict(_report(_tampered(record(SCRIPT), 4)))
    assert verdict.kind == VerdictKind.DIFFERS
    assert verdict.message.startswith("1 of 4 decision(s) differ; the first is decision 2")
    assert "'e00004'" in verdict.message
    assert not replay_verdict(_report(_tampered(record(SCRIPT), 4)), lenient=True).ok


@pytest.mark.parametrize(
    ("extra", "kind_text", "reason"),
    [
        (Rejected("log.jsonl:12", "invalid JSON"), "1 rejected", "log.jsonl:12: invalid JSON"),
        (
            make_envelope(UnknownEvent("allocation_decided_v2", {}), id="u", at=9e3, source="s"),
            "1 of an unknown type",
            "item 4: envelope 'u' has a type this library does not know",
        ),
        (None, "1 a repeated id", "item 4: envelope 'e00000' repeats an id"),
    ],
)
def test_a_line_not_replayed_makes_the_replay_incomplete(
    extra: Any, kind_text: str, reason: str
) -> None:
    log = record(SCRIPT[:4])
    items = [*log, log[0] if extra is None else extra]
    report = _report(items)
    assert report.skipped == 1
    assert report.first_skipped is not None
    assert report.first_skipped.position == 4
    verdict = replay_verdict(report)
    assert verdict.kind == VerdictKind.INCOMPLETE
    assert verdict.message.startswith(f"1 line(s) not replayed ({kind_text}), the first at ")
    assert reason in verdict.message
    assert verdict.message.endswith("; 1 decision(s) checked")
    assert "line 5" in replay_verdict(report, first_skipped_at="line 5").message
    lenient = replay_verdict(report, lenient=True)
    assert lenient.ok
    assert "(accepted: lenient)" in lenient.message


def test_a_counterfactual_verdict_judges_only_the_lines() -> None:
    log = [*record(SCRIPT), Rejected("x:11", "bad")]
    other = SchedulerPolicy.from_mapping({"starvation": {"emergency_multiplier": 1.0}})
    report = counterfactual(SchedulerState.initial(), log, other).replay
    assert not report.all_identical
    assert replay_verdict(report, compare_decisions=False).kind == VerdictKind.INCOMPLETE
    assert replay_verdict(report, compare_decisions=False, lenient=True).ok


@given(st.lists(envelopes() | st.builds(Rejected, st.text(max_size=5), st.text()), max_size=25))
def test_only_a_full_identical_replay_is_ok(items: list[Any]) -> None:
    report = replay_report(SchedulerState.initial(), items)
    verdict = replay_verdict(report)
    assert verdict.ok == (
        report.applied + report.ignored == report.items == len(items)
        and report.decisions_identical == report.decisions_checked
    )
    assert "\n" not in verdict.message
