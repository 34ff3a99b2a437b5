"""Config keys: a board and a player count, e.g. ``hex8_2p``.

The twelve canonical configs are listed in the reference's order, which breaks every tie.
"""

from __future__ import annotations

import inspect
from typing import Any, Final, Literal, cast

import attrs

Board = Literal["hex8", "square8", "square19", "hexagonal"]

BOARDS: Final[tuple[Board, ...]] = ("hex8", "square8", "square19", "hexagonal")
PLAYER_COUNTS: Final[tuple[int, ...]] = (2, 3, 4)
LARGE_BOARDS: Final[frozenset[str]] = frozenset({"square19", "hexagonal"})


class ConfigKeyError(ValueError):
    """A string that is not ``<board>_<N>p`` with a known board and N in 2..4."""


class _Canonical(type):
    """Every construction of a `ConfigKey` yields one of the twelve canonical instances, so a
    key's equality and hash are identity (C-level; keys are hashed in every config-keyed dict).

    A call with a known (board, players) pair returns the canonical instance directly; anything
    else goes through the class's validating `__init__` (which raises `ConfigKeyError` for an
    unknown pair) and the valid result is exchanged for the canonical instance."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 2 and not kwargs:
            board, players = args
        else:
            board = args[0] if args else kwargs.get("board")
            players = args[1] if len(args) > 1 else kwargs.get("players")
        if type(board) is str and type(players) is int:
            found = _CANONICAL.get((board, players))
            if found is not None and len(args) + len(kwargs) == 2:
                return found
        made = super().__call__(*args, **kwargs)
        return _CANONICAL.get((str(made.board), made.players), made)


@attrs.frozen(eq=False, order=False)
class ConfigKey(metaclass=_Canonical):
    """One self-play configuration: a board and a player count.

    There are exactly twelve instances (`ALL_CONFIGS`): every way of making a key — the class,
    `parse`, `attrs.evolve`, cattrs, pickle, `copy` — returns one of them, so equality and hash
    are identity (`eq=False`), which keeps dict lookups by key at C speed.
    """

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

    def __reduce__(self) -> tuple[type[ConfigKey], tuple[str, int]]:
        return (ConfigKey, (self.board, self.players))  # unpickles to the canonical instance

    def __copy__(self) -> ConfigKey:
        return self

    def __deepcopy__(self, memo: object) -> ConfigKey:
        return self


# Introspection (hypothesis's `builds`, `inspect.signature`) sees `__init__`'s parameters, not
# the metaclass's `*args, **kwargs`.
_INIT_SIGNATURE: Final = inspect.signature(ConfigKey.__init__)
ConfigKey.__signature__ = _INIT_SIGNATURE.replace(  # type: ignore[attr-defined]
    parameters=tuple(_INIT_SIGNATURE.parameters.values())[1:]
)


def coerce_config_key(value: ConfigKey | str) -> ConfigKey:
    """attrs converter: accept a `ConfigKey` or its string."""
    return value if isinstance(value, ConfigKey) else ConfigKey.parse(value)


_CANONICAL: Final[dict[tuple[str, int], ConfigKey]] = {}
ALL_CONFIGS: Final[tuple[ConfigKey, ...]] = tuple(
    ConfigKey(board, players) for board in BOARDS for players in PLAYER_COUNTS
)
_CANONICAL.update({(key.board, key.players): key for key in ALL_CONFIGS})
_INDEX: Final[dict[ConfigKey, int]] = {key: i for i, key in enumerate(ALL_CONFIGS)}
_BY_TEXT: Final[dict[str, ConfigKey]] = {str(key): key for key in ALL_CONFIGS}
