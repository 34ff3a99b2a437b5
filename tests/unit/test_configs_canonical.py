"""Every way of making a `ConfigKey` yields one of the twelve canonical instances."""

from __future__ import annotations

import copy
import inspect
import pickle

import attrs
import cattrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfplay_core.codec import decode_value, encode_value
from selfplay_core.configs import ALL_CONFIGS, ConfigKey, ConfigKeyError

keys = st.sampled_from(ALL_CONFIGS)


@given(keys)
def test_every_construction_path_returns_the_canonical_instance(key: ConfigKey) -> None:
    board, players = key.board, key.players
    assert ConfigKey(board, players) is key
    assert ConfigKey(board=board, players=players) is key
    assert ConfigKey(board, players=players) is key
    assert ConfigKey("".join(board), int(str(players))) is key  # type: ignore[arg-type]
    assert ConfigKey.parse(str(key)) is key
    assert attrs.evolve(key) is key
    assert cattrs.Converter().structure({"board": board, "players": players}, ConfigKey) is key
    assert decode_value(encode_value(key), ConfigKey).unwrap() is key
    assert copy.copy(key) is key
    assert copy.deepcopy(key) is key
    assert copy.deepcopy({key: [key]}) == {key: [key]}
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(key, protocol=protocol)) is key


def test_a_str_subclass_board_still_gives_the_canonical_instance() -> None:
    class Text(str):
        __slots__ = ()

    assert ConfigKey(Text("hex8"), 3) is ALL_CONFIGS[1]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("board", "players"), [("hex8", 2.0), ("hex8", True), ("hex9", 2), ("hex8", 5), (None, 2)]
)
def test_anything_else_is_still_rejected(board: object, players: object) -> None:
    with pytest.raises(ConfigKeyError):
        ConfigKey(board, players)  # type: ignore[arg-type]
    # the canonical instances are untouched by the rejected attempt
    assert [(k.board, k.players) for k in ALL_CONFIGS[:3]] == [
        ("hex8", 2),
        ("hex8", 3),
        ("hex8", 4),
    ]


def test_equality_and_hash_are_identity_and_order_is_canonical() -> None:
    assert len(set(ALL_CONFIGS)) == 12
    assert all(hash(key) == object.__hash__(key) for key in ALL_CONFIGS)
    assert ALL_CONFIGS[0] != ALL_CONFIGS[1]
    assert ALL_CONFIGS[0] != "hex8_2p"  # type: ignore[comparison-overlap]
    shuffled = [ALL_CONFIGS[(5 * i) % 12] for i in range(12)]
    assert sorted(shuffled) == list(ALL_CONFIGS)


def test_introspection_sees_the_fields() -> None:
    assert list(inspect.signature(ConfigKey).parameters) == ["board", "players"]
    assert [field.name for field in attrs.fields(ConfigKey)] == ["board", "players"]
    assert repr(ALL_CONFIGS[0]) == "ConfigKey(board='hex8', players=2)"
