"""Event classes, the registry and the envelope (§events)."""

from __future__ import annotations

import math

import attrs
import pytest

from selfplay_core import events as ev
from selfplay_core.configs import ConfigKey, ConfigKeyError

HEX8_2P = ConfigKey.parse("hex8_2p")

# §events, in table order: the wire tag is the lower-case DataEventType value.
REFERENCE_TAGS = (
    "selfplay_complete",
    "training_completed",
    "model_promoted",
    "selfplay_target_updated",
    "quality_degraded",
    "curriculum_rebalanced",
    "selfplay_rate_changed",
    "training_blocked_by_quality",
    "opponent_mastered",
    "training_early_stopped",
    "elo_velocity_changed",
    "exploration_boost",
    "curriculum_advanced",
    "adaptive_params_changed",
    "low_quality_data_warning",
    "node_unhealthy",
    "p2p_node_dead",
    "node_recovered",
    "node_activated",
    "host_offline",
    "node_terminated",
    "p2p_cluster_unhealthy",
    "p2p_cluster_healthy",
    "regression_detected",
    "backpressure_activated",
    "backpressure_released",
    "node_overloaded",
    "elo_updated",
)


def test_the_28_reference_types_in_catalog_order() -> None:
    assert tuple(cls.TAG for cls in ev.REFERENCE_EVENTS) == REFERENCE_TAGS
    assert len(set(ev.REFERENCE_EVENTS)) == 28


def test_scheduler_own_tags() -> None:
    assert [cls.TAG for cls in ev.SCHEDULER_EVENTS] == [
        "tick",
        "sources_refreshed",
        "allocation_decided",
        "target_training_samples_set",
        "config_boosted",
        "spawning_paused",
        "spawning_resumed",
    ]


def test_registry_is_a_bijection_over_all_classes() -> None:
    assert len(ev.EVENT_TYPES) == len(ev.EVENT_CLASSES) == 38
    for tag, cls in ev.EVENT_TYPES.items():
        assert tag == cls.TAG
        assert attrs.has(cls)
        assert tag == tag.lower()


def test_every_event_class_is_frozen() -> None:
    event = ev.SelfplayComplete(config_key="hex8_2p")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.config_key = HEX8_2P  # type: ignore[misc]


def test_config_key_accepts_string_or_key_and_rejects_unknown() -> None:
    assert ev.TrainingCompleted("hex8_2p") == ev.TrainingCompleted(HEX8_2P)
    with pytest.raises(ConfigKeyError):
        ev.TrainingCompleted("hex8_5p")


def test_router_upper_case_names_map_to_the_tag() -> None:
    assert ev.event_class_for("SELFPLAY_COMPLETE") is ev.SelfplayComplete
    assert ev.event_class_for("MODEL_PROMOTED") is ev.ModelPromoted
    assert ev.event_class_for("no_such_event") is None


@pytest.mark.parametrize(
    ("build", "problem"),
    [
        (lambda: ev.QualityDegraded(HEX8_2P, quality_score=math.nan), "not_finite"),
        (lambda: ev.QualityDegraded(HEX8_2P, threshold=math.inf), "not_finite"),
        (lambda: ev.CurriculumAdvanced(HEX8_2P, consecutive_promotions=-1), "negative"),
        (lambda: ev.CurriculumAdvanced(HEX8_2P, consecutive_promotions=True), "wrong_type"),
        (lambda: ev.ExplorationBoost(HEX8_2P, boost_factor="2"), "wrong_type"),
        (lambda: ev.NodeUnhealthy(node_id=""), "empty"),
        (lambda: ev.ModelPromoted(HEX8_2P, success=1), "wrong_type"),
        (lambda: ev.SelfplayTargetUpdated(HEX8_2P, priority=1.5), "wrong_type"),
        (lambda: ev.Tick(at=-1.0), "negative"),
        (lambda: ev.ConfigBoosted(HEX8_2P, multiplier=-2.0), "negative"),
        (lambda: ev.TargetTrainingSamplesSet(HEX8_2P, target=-5), "negative"),
    ],
)
def test_validation_names_the_problem(build: object, problem: str) -> None:
    with pytest.raises(ev.FieldProblem) as info:
        build()  # type: ignore[operator]
    assert info.value.problem == problem


def test_model_promoted_success_defaults_to_unknown() -> None:
    assert ev.ModelPromoted(HEX8_2P).success is None


def test_selfplay_target_updated_accepts_int_priority() -> None:
    assert ev.SelfplayTargetUpdated(HEX8_2P, priority=5).priority == 5


def test_curriculum_rebalanced_single_and_batch_forms() -> None:
    single = ev.CurriculumRebalanced(config_key="hex8_2p", weight=1.4)
    batch = ev.CurriculumRebalanced(weights={"square8_2p": 0.7, "hex8_2p": 1.3})
    assert single.config_key == HEX8_2P
    assert single.weights == {}
    assert batch.config_key is None
    assert batch.weight is None
    # canonical order, not insertion order
    assert list(batch.weights) == [HEX8_2P, ConfigKey.parse("square8_2p")]
    with pytest.raises(TypeError):
        batch.weights[HEX8_2P] = 2.0  # type: ignore[index]


def test_map_values_are_validated_with_the_key_in_the_field_name() -> None:
    with pytest.raises(ev.NotFinite) as info:
        ev.SourcesRefreshed(current_elos={"hex8_3p": math.nan})
    assert info.value.field == "current_elos.hex8_3p"
    with pytest.raises(ev.Negative):
        ev.SourcesRefreshed(game_counts={"hex8_3p": -1})


def test_sources_refreshed_parts_default_to_failed() -> None:
    refreshed = ev.SourcesRefreshed()
    assert all(getattr(refreshed, f.name) is None for f in attrs.fields(ev.SourcesRefreshed))


def test_unknown_event_payload_is_frozen_json() -> None:
    unknown = ev.UnknownEvent("gpu_melted", {"a": [1, {"b": 2}]})
    assert unknown.payload == {"a": (1, {"b": 2})}
    with pytest.raises(TypeError):
        unknown.payload["a"] = 3  # type: ignore[index]


def test_make_envelope_fills_tag_and_version() -> None:
    envelope = ev.make_envelope(ev.SelfplayComplete(HEX8_2P), id="e1", at=10.0, source="t")
    assert envelope.type == "selfplay_complete"
    assert envelope.schema_version == ev.SCHEMA_VERSION == 1
    unknown = ev.make_envelope(ev.UnknownEvent("mystery", {}), id="e2", at=0.0, source="")
    assert unknown.type == "mystery"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"event": "selfplay_complete"},  # not an event
        {"id": ""},
        {"at": math.nan},
        {"at": -1.0},
    ],
)
def test_envelope_rejects_inconsistent_fields(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "id": "e",
        "at": 1.0,
        "source": "",
        "event": ev.SelfplayComplete(HEX8_2P),
    }
    fields.update(kwargs)
    with pytest.raises((ValueError, TypeError)):
        ev.Envelope(**fields)  # type: ignore[arg-type]


def test_envelope_type_and_version_follow_the_event() -> None:
    # Neither is stored: the type is the event's tag, so the two can never disagree.
    envelope = ev.Envelope(id="e", at=1.0, source="", event=ev.Tick(at=1.0))
    assert (envelope.type, envelope.schema_version) == ("tick", ev.SCHEMA_VERSION)
    assert attrs.evolve(envelope, event=ev.SelfplayComplete(HEX8_2P)).type == "selfplay_complete"
    with pytest.raises(TypeError):
        ev.Envelope(id="e", type="tick", at=1.0, source="", event=ev.Tick(at=1.0))  # type: ignore[call-arg]


def test_unknown_event_cannot_claim_a_known_type() -> None:
    with pytest.raises(ValueError, match="known type"):
        ev.make_envelope(ev.UnknownEvent("TICK", {}), id="e", at=0.0, source="")


def test_frozen_config_map_is_read_only_and_copyable() -> None:
    import copy
    import pickle

    frozen = ev.freeze_config_map({"square8_2p": 1, "hex8_2p": 2})
    assert type(frozen) is ev.FrozenConfigMap
    assert list(frozen) == [HEX8_2P, ConfigKey.parse("square8_2p")]
    for mutate in (
        lambda: frozen.__setitem__(HEX8_2P, 3),
        lambda: frozen.pop(HEX8_2P),
        lambda: frozen.update({}),
        lambda: frozen.clear(),
        lambda: frozen.setdefault(HEX8_2P, 1),
    ):
        with pytest.raises(TypeError):
            mutate()
    assert ev.freeze_config_map(frozen) is frozen  # freezing again is free
    assert copy.deepcopy(frozen) == frozen == pickle.loads(pickle.dumps(frozen))
    assert type(copy.copy(frozen)) is ev.FrozenConfigMap
    assert hash(ev.SourcesRefreshed(game_counts=frozen)) == hash(
        ev.SourcesRefreshed(game_counts={"hex8_2p": 2, "square8_2p": 1})
    )
