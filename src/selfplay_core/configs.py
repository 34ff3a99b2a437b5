"""Config keys: a board and a player count, e.g. ``hex8_2p``.

The twelve canonical configs are listed in the reference's order, which breaks every tie.
"""

from __future__ import annotations

from typing import Final, Literal, cast

import attrs

Board = Literal["hex8", "square8", "square19", "hexagonal"]

BOARDS: Final[tuple[Board, ...]] = ("hex8", "square8", "square19", "hexagonal")
PLAYER_COUNTS: Final[tuple[int, ...]] = (2, 3, 4)
LARGE_BOARDS: Final[frozenset[str]] = frozenset({"square19", "hexagonal"})


class ConfigKeyError(ValueError):
    """A string that is not ``<board>_<N>p`` with a known board and N in 2..4."""


@attrs.frozen(order=False, cache_hash=True)
class ConfigKey:
    """One self-play configuration: a board and a player count."""

    board: Board = attrs.field()
    players: int = attrs.field()

    @board.validator
    def _check_board(self, _attr: attrs.Attribute[Board], value: str) -> None:
        if value not in BOARDS:
            raise ConfigKeyError(f"unknown board {value!r}; expected one of {', '.join(BOARDS)}")

    @players.validator
    def _check_players(self, _attr: attrs.Attribute[int], value: int) -> None:
        if type(value) is not int or value not in PLAYER_COUNTS:
            raise ConfigKeyError(f"player count must be 2, 3 or 4, got {value!r}")

    @classmethod
    def parse(cls, text: str) -> ConfigKey:
        """Parse ``"hex8_2p"``; anything else raises `ConfigKeyError` (never a silent default)."""
        if isinstance(text, ConfigKey):
            return text
        if not isinstance(text, str):
            raise ConfigKeyError(f"config key must be a string, got {type(text).__name__}")
        cached = _BY_TEXT.get(text)
        if cached is not None:
            return cached
        board, sep, suffix = text.rpartition("_")
        if not sep or len(suffix) != 2 or suffix[1] != "p" or not suffix[0].isdigit():
            raise ConfigKeyError(f"config key {text!r} is not of the form <board>_<N>p")
        return cls(cast(Board, board), int(suffix[0]))

    @property
    def is_large_board(self) -> bool:
        return self.board in LARGE_BOARDS

    @property
    def index(self) -> int:
        """Position in the canonical order: the tie-breaker everywhere."""
        return _INDEX[self]

    def __str__(self) -> str:
        return f"{self.board}_{self.players}p"

    def __lt__(self, other: ConfigKey) -> bool:
        return self.index < other.index


def coerce_config_key(value: ConfigKey | str) -> ConfigKey:
    """attrs converter: accept a `ConfigKey` or its string."""
    return value if isinstance(value, ConfigKey) else ConfigKey.parse(value)


ALL_CONFIGS: Final[tuple[ConfigKey, ...]] = tuple(
    ConfigKey(board, players) for board in BOARDS for players in PLAYER_COUNTS
)
_INDEX: Final[dict[ConfigKey, int]] = {key: i for i, key in enumerate(ALL_CONFIGS)}
_BY_TEXT: Final[dict[str, ConfigKey]] = {str(key): key for key in ALL_CONFIGS}
