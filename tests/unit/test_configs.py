from __future__ import annotations

import pytest

from selfplay_core import ALL_CONFIGS, ConfigKey, ConfigKeyError


def test_twelve_canonical_configs_in_reference_order() -> None:
    assert [str(k) for k in ALL_CONFIGS] == [
        "hex8_2p", "hex8_3p", "hex8_4p", "square8_2p", "square8_3p", "square8_4p",
        "square19_2p", "square19_3p", "square19_4p", "hexagonal_2p", "hexagonal_3p",
        "hexagonal_4p",
    ]  # fmt: skip


@pytest.mark.parametrize("key", ALL_CONFIGS)
def test_parse_str_round_trip(key: ConfigKey) -> None:
    assert ConfigKey.parse(str(key)) == key
    assert ALL_CONFIGS[key.index] == key


@pytest.mark.parametrize(
    "text",
    ["foo", "hex8_0p", "hex8_5p", "hex8", "", "invalid_config", "hex8_2", "hex8_10p", "x_2p"],
)
def test_parse_rejects_malformed_keys(text: str) -> None:
    with pytest.raises(ConfigKeyError):
        ConfigKey.parse(text)


def test_large_boards() -> None:
    assert [str(k) for k in ALL_CONFIGS if k.is_large_board] == [
        "square19_2p", "square19_3p", "square19_4p", "hexagonal_2p", "hexagonal_3p",
        "hexagonal_4p",
    ]  # fmt: skip


def test_order_is_canonical_not_alphabetical() -> None:
    shuffled = [ALL_CONFIGS[(i * 5) % 12] for i in range(12)]
    assert sorted(shuffled) == list(ALL_CONFIGS)
