"""The wire codec: aliases the reference's publishers send, precise errors, upcasting."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from returns.result import Failure, Success

from selfplay_core import codec
from selfplay_core import events as ev
from selfplay_core.cluster import NodeCapability
from selfplay_core.codec import DecodeError, decode, decode_value, encode, encode_value
from selfplay_core.configs import ConfigKey
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.signals import FeedbackSignal

HEX8_2P = ConfigKey.parse("hex8_2p")
SQ8_3P = ConfigKey.parse("square8_3p")


def wire(type_: str, payload: Any, **envelope: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": "e1",
        "type": type_,
        "schema_version": 1,
        "at": 1767225600.0,
        "source": "test",
        "payload": payload,
    }
    record.update(envelope)
    return record


def event_of(record: object) -> Any:
    result = decode(record)
    assert isinstance(result, Success), result
    return result.unwrap().event


def error_of(record: object) -> DecodeError:
    result = decode(record)
    assert isinstance(result, Failure), result
    return result.failure()


# --- worked payloads from the reference's publishers (§events) ---


def test_selfplay_complete_from_emit_selfplay_complete() -> None:
    payload = {
        "config_key": "hex8_2p",
        "games_played": 500,
        "db_path": "/d/x.db",
        "duration_seconds": 12.5,
        "engine": "gumbel",
    }
    assert event_of(wire("selfplay_complete", payload)) == ev.SelfplayComplete(HEX8_2P)


def test_model_promoted_from_auto_promotion_daemon_has_unknown_success() -> None:
    # §events: the only live emitter sends no `success`; that is not a failure.
    payload = {
        "config_key": "hex8_2p",
        "model_path": "m.pth",
        "reason": "gauntlet",
        "vs_random": 0.9,
        "vs_heuristic": 0.7,
        "timestamp": 1.0,
    }
    assert event_of(wire("MODEL_PROMOTED", payload)) == ev.ModelPromoted(HEX8_2P, success=None)
    promoted = event_of(wire("model_promoted", {"config_key": "hex8_2p", "success": False}))
    assert promoted.success is False


def test_selfplay_target_updated_with_int_priority_from_data_events() -> None:
    # §events [BUG] (deviations.md): data_events sends priority 5; the reference crashes.
    event = event_of(wire("selfplay_target_updated", {"config_key": "hex8_2p", "priority": 5}))
    assert event.priority == 5


def test_selfplay_target_updated_from_feedback_loop() -> None:
    payload = {
        "config_key": "square8_3p",
        "search_budget": 800,
        "exploration_boost": 1.3,
        "elo_gap": 120.0,
        "velocity": 2.5,
        "priority": "HIGH",
        "reason": "velocity_feedback",
    }
    assert event_of(wire("selfplay_target_updated", payload)) == ev.SelfplayTargetUpdated(
        SQ8_3P, priority="HIGH", reason="velocity_feedback", search_budget=800.0,
        exploration_boost=1.3,
    )  # fmt: skip


def test_opponent_mastered_echo_shape_is_a_curriculum_rebalance_without_weight() -> None:
    # §events: emit_curriculum_updated's payload: config and config_key, new_weight, no `weight`.
    payload = {
        "config": "hex8_2p",
        "old_weights": {},
        "new_weights": {"hex8_2p": 0.9},
        "reason": "config_update_hex8_2p",
        "trigger": "opponent_mastered:L3",
        "config_key": "hex8_2p",
        "new_weight": 0.9,
        "timestamp": "2025-12-29T00:00:00",
    }
    event = event_of(wire("curriculum_rebalanced", payload))
    assert event == ev.CurriculumRebalanced(
        config_key=HEX8_2P,
        weight=None,
        new_weight=0.9,
        trigger="opponent_mastered:L3",
        reason="config_update_hex8_2p",
    )


def test_curriculum_rebalanced_batch_skips_unknown_configs() -> None:
    # §events step 3: only known configs in `weights` are applied.
    payload = {"weights": {"square8_3p": 0.8, "all": 1.0, "hex8_2p": 1.2, "7": 3}}
    event = event_of(wire("curriculum_rebalanced", payload))
    assert event.config_key is None
    assert list(event.weights.items()) == [(HEX8_2P, 1.2), (SQ8_3P, 0.8)]


def test_low_quality_warning_global_and_per_config_shapes() -> None:
    daemon = {"quality_score": 0.45, "old_state": "good", "new_state": "degraded", "timestamp": 1}
    assert event_of(wire("low_quality_data_warning", daemon)) == ev.LowQualityDataWarning(0.45)
    per_config = {"config": "hex8_2p", "avg_quality": 0.3}
    event = event_of(wire("low_quality_data_warning", per_config))
    assert event == ev.LowQualityDataWarning(quality_score=None, config_key=HEX8_2P)


# --- aliases ---


@pytest.mark.parametrize(
    "type_",
    [
        "selfplay_complete",
        "training_completed",
        "model_promoted",
        "quality_degraded",
        "exploration_boost",
        "elo_updated",
        "regression_detected",
        "curriculum_advanced",
    ],
)
def test_config_is_an_alias_of_config_key(type_: str) -> None:
    assert event_of(wire(type_, {"config": "hex8_2p"})).config_key == HEX8_2P


def test_config_key_wins_over_config_unless_empty() -> None:
    both = {"config_key": "square8_3p", "config": "hex8_2p"}
    assert event_of(wire("selfplay_complete", both)).config_key == SQ8_3P
    empty = {"config_key": "", "config": "hex8_2p"}
    assert event_of(wire("selfplay_complete", empty)).config_key == HEX8_2P


@pytest.mark.parametrize("type_", ["node_unhealthy", "p2p_node_dead", "node_recovered"])
@pytest.mark.parametrize("alias", ["node_id", "node_name", "host"])
def test_node_id_aliases(type_: str, alias: str) -> None:
    assert event_of(wire(type_, {alias: "gpu-7"})).node_id == "gpu-7"


@pytest.mark.parametrize("type_", ["host_offline", "node_terminated", "node_overloaded"])
def test_host_first_then_node_id(type_: str) -> None:
    # §nodes: `host`, falling back to node_id when host is falsy.
    assert event_of(wire(type_, {"host": "h1", "node_id": "n1"})).node_id == "h1"
    assert event_of(wire(type_, {"host": "", "node_id": "n1"})).node_id == "n1"


def test_new_rate_falls_back_to_rate_multiplier_when_falsy() -> None:
    # §events: new_rate or rate_multiplier (default 1.0)
    def rate(payload: dict[str, Any]) -> float:
        record = wire("selfplay_rate_changed", {"config": "hex8_2p", **payload})
        return float(event_of(record).new_rate)

    assert rate({"new_rate": 1.3, "rate_multiplier": 0.5}) == 1.3
    assert rate({"rate_multiplier": 0.5}) == 0.5
    assert rate({"new_rate": 0, "rate_multiplier": 0.7}) == 0.7
    assert rate({"new_rate": 0}) == 1.0
    assert rate({}) == 1.0


def test_zero_rate_survives_encode_decode() -> None:
    envelope = ev.make_envelope(
        ev.SelfplayRateChanged(HEX8_2P, new_rate=0.0), id="e", at=1.0, source=""
    )
    assert decode(encode(envelope)) == Success(envelope)


def test_cluster_unhealthy_reads_the_counts_publishers_send() -> None:
    # §nodes [BUG] deviations.md: nobody sends total_nodes.
    bridge = event_of(wire("p2p_cluster_unhealthy", {"alive_peers": 8, "total_peers": 10}))
    assert (bridge.healthy_nodes, bridge.total_nodes) == (8, 10)
    emitters = event_of(wire("p2p_cluster_unhealthy", {"healthy_nodes": 3, "node_count": 5}))
    assert (emitters.healthy_nodes, emitters.total_nodes) == (3, 5)
    bare = event_of(wire("p2p_cluster_unhealthy", {"errors": ["x"]}))
    assert (bare.healthy_nodes, bare.total_nodes) == (None, None)


def test_extra_payload_fields_are_ignored() -> None:
    payload = {"config_key": "hex8_2p", "new_elo": 1510.0, "who": "me", "nested": {"a": [1]}}
    assert event_of(wire("elo_updated", payload)) == ev.EloUpdated(HEX8_2P, new_elo=1510.0)


def test_null_counts_as_absent_where_null_is_not_allowed() -> None:
    payload = {"config_key": "hex8_2p", "trend": None, "velocity": None}
    assert event_of(wire("elo_velocity_changed", payload)) == ev.EloVelocityChanged(HEX8_2P)
    assert error_of(wire("elo_updated", {"config_key": None})).problem == "missing"


def test_upper_case_router_name_decodes_to_the_lower_case_tag() -> None:
    envelope = decode(wire("TRAINING_COMPLETED", {"config_key": "hex8_2p"})).unwrap()
    assert envelope.type == "training_completed"


# --- errors: event type, field path and problem ---


@pytest.mark.parametrize(
    ("record", "event_type", "path", "problem"),
    [
        (wire("quality_degraded", {}), "quality_degraded", "payload.config_key", "missing"),
        (
            wire("quality_degraded", {"config_key": "hex8_2p", "quality_score": "low"}),
            "quality_degraded",
            "payload.quality_score",
            "wrong_type",
        ),
        (
            wire("quality_degraded", {"config_key": "hex8_2p", "threshold": math.nan}),
            "quality_degraded",
            "payload.threshold",
            "not_finite",
        ),
        (
            wire("backpressure_activated", {"pending_count": -3}),
            "backpressure_activated",
            "payload.pending_count",
            "negative",
        ),
        (
            wire("selfplay_complete", {"config_key": "hex8_7p"}),
            "selfplay_complete",
            "payload.config_key",
            "unknown_config",
        ),
        (
            wire("selfplay_complete", {"config": "octagon_2p"}),
            "selfplay_complete",
            "payload.config",
            "unknown_config",
        ),
        (
            wire("sources_refreshed", {"game_counts": {"hex8_2p": 10, "square8_3p": -1}}),
            "sources_refreshed",
            "payload.game_counts.square8_3p",
            "negative",
        ),
        (
            wire("sources_refreshed", {"current_elos": {"hex9_2p": 1500.0}}),
            "sources_refreshed",
            "payload.current_elos.hex9_2p",
            "unknown_config",
        ),
        (
            wire("sources_refreshed", {"nodes": [{"node_id": "a"}, {"gpu_type": "h100"}]}),
            "sources_refreshed",
            "payload.nodes.1.node_id",
            "missing",
        ),
        (
            wire("sources_refreshed", {"feedback": {"hex8_2p": {"exploration_boost": math.inf}}}),
            "sources_refreshed",
            "payload.feedback.hex8_2p.exploration_boost",
            "not_finite",
        ),
        (
            wire("elo_updated", {"config_key": "hex8_2p", "new_elo": 10**400}),
            "elo_updated",
            "payload.new_elo",
            "not_finite",
        ),
        (wire("node_unhealthy", {"reason": "x"}), "node_unhealthy", "payload.node_id", "missing"),
        (wire("tick", {"at": 5.0}, at=math.nan), "tick", "at", "not_finite"),
        (wire("tick", {"at": 5.0}, at=-2.0), "tick", "at", "negative"),
        (wire("tick", {"at": 5.0}, at="now"), "tick", "at", "wrong_type"),
        (wire("tick", {"at": 5.0}, id=7), "tick", "id", "wrong_type"),
        (wire("tick", {"at": 5.0}, id=""), "tick", "id", "empty"),
        (wire("tick", [1, 2]), "tick", "payload", "wrong_type"),
        (wire("tick", {"at": 5.0}, schema_version=2), "tick", "schema_version", "future_version"),
        (wire("tick", {"at": 5.0}, schema_version="1"), "tick", "schema_version", "wrong_type"),
        (
            wire("tick", {"at": 5.0}, schema_version=-1),
            "tick",
            "schema_version",
            "unsupported_version",
        ),
        (wire("mystery", {"x": math.nan}), "mystery", "payload.x", "not_finite"),
        (wire("mystery", {"x": {1: 2}}), "mystery", "payload.x", "not_json"),
        ({"id": "e"}, None, "type", "missing"),
        ([1, 2, 3], None, "", "wrong_type"),
    ],
)
def test_error_names_event_path_and_problem(
    record: object, event_type: str | None, path: str, problem: str
) -> None:
    error = error_of(record)
    assert (error.event_type, error.path, error.problem) == (event_type, path, problem)
    assert error.message
    assert str(error)


def test_deeply_nested_unknown_payload_is_an_error_not_a_crash() -> None:
    deep: list[Any] = []
    for _ in range(10_000):
        deep = [deep]
    error = error_of(wire("mystery", {"a": deep}))
    assert (error.event_type, error.problem) == ("mystery", "not_json")
    assert error.path.startswith("payload.a.0.0")


def test_missing_schema_version_is_an_error() -> None:
    record = wire("tick", {"at": 1.0})
    del record["schema_version"]
    assert (error_of(record).path, error_of(record).problem) == ("schema_version", "missing")


@pytest.mark.parametrize(
    "junk", [None, 3, "text", b"bytes", 1.5, [], (), {1, 2}, object(), math.nan, {"type": None}]
)
def test_decode_never_raises_on_non_envelopes(junk: object) -> None:
    assert isinstance(decode(junk), Failure)


def test_decode_survives_a_hostile_mapping() -> None:
    class Hostile(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise RuntimeError("boom")

        def __iter__(self) -> Iterator[str]:
            raise RuntimeError("boom")

        def __len__(self) -> int:
            return 1

    assert decode(Hostile()).failure().problem == "invalid"


# --- unknown types are preserved, never errors ---


def test_unknown_type_is_kept_verbatim_and_encodes_back() -> None:
    record = wire("gpu_selfplay_complete", {"board_type": "hex8", "num_players": 2, "x": [1, {}]})
    envelope = decode(record).unwrap()
    assert envelope.event == ev.UnknownEvent("gpu_selfplay_complete", record["payload"])
    assert envelope.type == "gpu_selfplay_complete"
    assert encode(envelope) == record


# --- upcasting ---


def test_v0_envelope_is_upcast() -> None:
    # v0 (defined in codec's docstring): `timestamp` not `at`, no `source`, payload `config`.
    v0 = {
        "id": "old-1",
        "type": "quality_degraded",
        "schema_version": 0,
        "timestamp": 1700000000.0,
        "payload": {"config": "hex8_2p", "quality_score": 0.4, "threshold": 0.6},
    }
    envelope = decode(v0).unwrap()
    assert envelope == ev.make_envelope(
        ev.QualityDegraded(HEX8_2P, quality_score=0.4, threshold=0.6),
        id="old-1",
        at=1700000000.0,
        source="",
    )
    assert encode(envelope)["payload"]["config_key"] == "hex8_2p"


def test_upcaster_rewrites_the_v0_dict_only() -> None:
    v0 = {"id": "a", "type": "x", "schema_version": 0, "timestamp": 2.0, "payload": {"config": 1}}
    v1 = codec.UPCASTERS[0](v0)
    assert v1 == {
        "id": "a",
        "type": "x",
        "schema_version": 1,
        "at": 2.0,
        "source": "",
        "payload": {"config_key": 1},
    }
    assert v0["payload"] == {"config": 1}  # input untouched


# --- encode ---


def test_encode_is_json_ready_with_canonical_key_order() -> None:
    event = ev.SourcesRefreshed(
        current_elos={"square8_3p": 1600.0, "hex8_2p": 1500.5},
        nodes=(NodeCapability(node_id="n1", gpu_type="h100", gpu_memory_gb=80.0),),
        feedback={"hex8_2p": FeedbackSignal(exploration_boost=1.2, training_pending=True)},
    )
    envelope = ev.make_envelope(event, id="r1", at=3.0, source="accessor")
    out = encode(envelope)
    assert list(out) == ["id", "type", "schema_version", "at", "source", "payload"]
    assert list(out["payload"]["current_elos"]) == ["hex8_2p", "square8_3p"]
    assert out["payload"]["nodes"][0]["node_id"] == "n1"
    assert json.loads(json.dumps(out)) == out
    assert decode(out) == Success(envelope)


def test_event_payload_matches_encode() -> None:
    event = ev.RegressionDetected(HEX8_2P, severity="severe")
    envelope = ev.make_envelope(event, id="x", at=0.0, source="")
    assert codec.event_payload(event) == encode(envelope)["payload"]


# --- any core value ---


def test_policy_round_trips_through_encode_value() -> None:
    policy = SchedulerPolicy()
    data = encode_value(policy)
    assert json.loads(json.dumps(data)) == data
    assert decode_value(data, SchedulerPolicy) == Success(policy)


def test_decode_value_reports_the_path() -> None:
    data = encode_value(ev.SourcesRefreshed(game_counts={"hex8_2p": 1}))
    data["game_counts"]["hex8_2p"] = -4
    error = decode_value(data, ev.SourcesRefreshed).failure()
    assert (error.path, error.problem) == ("game_counts.hex8_2p", "negative")


def test_sets_encode_sorted() -> None:
    assert encode_value(frozenset({"b", "c", "a"})) == ["a", "b", "c"]


class _Window:
    """A hand-written (non-attrs) value using the snapshot protocol."""

    __slots__ = ("ids",)

    def __init__(self, ids: tuple[str, ...]) -> None:
        self.ids = ids

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Window) and other.ids == self.ids

    __hash__ = None  # type: ignore[assignment]

    def __to_data__(self) -> list[str]:
        return list(self.ids)

    @classmethod
    def __from_data__(cls, data: Any) -> _Window:
        if not isinstance(data, list) or not all(isinstance(i, str) for i in data):
            raise TypeError("expected a list of ids")
        return cls(tuple(data))


def test_snapshot_protocol_for_hand_written_values() -> None:
    window = _Window(("a", "b"))
    assert encode_value(window) == ["a", "b"]
    assert decode_value(["a", "b"], _Window) == Success(window)
    assert decode_value([1], _Window).failure().problem == "wrong_type"


def test_scheduler_state_snapshot_round_trips() -> None:
    from selfplay_core.reducer import reduce
    from selfplay_core.state import SchedulerState

    state = SchedulerState.initial()
    assert decode_value(json.loads(json.dumps(encode_value(state))), SchedulerState) == Success(
        state
    )
    steps = [
        ev.EloUpdated(HEX8_2P, new_elo=1500.0),
        ev.NodeUnhealthy(node_id="gpu-1"),
        ev.ExplorationBoost(SQ8_3P, boost_factor=1.6),
        ev.EloUpdated(HEX8_2P, new_elo=1512.5),
        ev.UnknownEvent("mystery", {"a": 1}),
    ]
    for i, event in enumerate(steps):
        envelope = ev.make_envelope(event, id=f"s{i}", at=1000.0 + 1800.0 * i, source="t")
        state = reduce(state, envelope).state
    text = json.dumps(encode_value(state), allow_nan=False)
    assert decode_value(json.loads(text), SchedulerState) == Success(state)


# --- strings the log cannot write (issue 11: decode rejects them, naming the field) ---

LONE = "a\udc80b"


@pytest.mark.parametrize(
    ("record", "path"),
    [
        (wire("tick", {"at": 5.0}, id=LONE), "id"),
        (wire("tick", {"at": 5.0}, source=LONE), "source"),
        (wire(LONE, {"x": 1}), "type"),
        (
            wire("regression_detected", {"config_key": "hex8_2p", "severity": LONE}),
            "payload.severity",
        ),
        (wire("node_overloaded", {"host": LONE}), "payload.host"),
        (wire("mystery", {"x": [1, LONE]}), "payload.x.1"),
        (wire("mystery", {"x": {LONE: 1}}), "payload.x"),
        (
            wire("sources_refreshed", {"nodes": [{"node_id": "a", "gpu_type": LONE}]}),
            "payload.nodes.0.gpu_type",
        ),
    ],
)
def test_a_lone_surrogate_is_a_decode_error_at_its_field(record: dict[str, Any], path: str) -> None:
    error = error_of(record)
    assert (error.path, error.problem) == (path, codec.NOT_UTF8)
    str(error).encode("utf-8")  # the error can be printed and logged


def test_control_characters_and_non_bmp_text_decode() -> None:
    text = "\x00\x1f\u2028\U0001f600"
    envelope = decode(wire("regression_detected", {"config_key": "hex8_2p", "severity": text}))
    assert envelope.unwrap().event.severity == text
