"""Budgets, target game counts and games still needed (docs/reference.md §targets)."""

from __future__ import annotations

from typing import Final

from selfplay_core.configs import ConfigKey
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.priority_formula import REFERENCE_POLICY
from selfplay_core.values import MAX_INPUT_MAGNITUDE

__all__ = [
    "MAX_GAMES_NEEDED",
    "adaptive_budget",
    "games_needed",
    "samples_per_game",
    "target_games",
]


def adaptive_budget(elo: float, policy: SchedulerPolicy = REFERENCE_POLICY) -> int:
    """Gumbel budget by Elo: ≥ 2000 → 3200, ≥ 1800 → 1600, ≥ 1500 → 800, else 800."""
    b = policy.budget
    if elo >= b.master_elo:
        return b.master
    if elo >= b.ultimate_elo:
        return b.ultimate
    if elo >= b.quality_elo:
        return b.quality
    return b.standard


def target_games(
    config_key: ConfigKey, elo: float, policy: SchedulerPolicy = REFERENCE_POLICY
) -> int:
    """min(int(max(0, 1900 − elo) × 500 × board × players), 500000); 0 at or above 1900."""
    t = policy.target_games
    gap = max(0.0, t.target_elo - elo)
    if gap <= 0:
        return 0
    games = gap * t.games_per_elo
    games *= t.board_multipliers[config_key.board]
    games *= t.player_multipliers[config_key.players]
    return min(int(games), t.cap)


def samples_per_game(config_key: ConfigKey, policy: SchedulerPolicy = REFERENCE_POLICY) -> float:
    """SAMPLES_PER_GAME_BY_BOARD; every valid key has an entry (the reference's 50 is unused)."""
    return policy.constants_for(config_key).samples_per_game


#: The most games `games_needed` reports: the core's bound on numbers, as a count.
MAX_GAMES_NEEDED: Final = int(MAX_INPUT_MAGNITUDE)


def games_needed(games_count: int, target_samples: int, samples_per_game: float) -> int:
    """Games still needed to reach `target_samples`; rounds down like the reference (§targets).

    At most `MAX_GAMES_NEEDED` (deviations.md): where the reference's quotient overflows (a
    samples-per-game estimate so small or so large that a product or quotient is infinite,
    e.g. 5e-324) it raises OverflowError; here the count is capped instead."""
    if samples_per_game <= 0:
        return 0
    have = games_count * samples_per_game
    if have >= target_samples:  # also an infinite product: int(have) ≥ target, nothing needed
        return 0
    needed = (target_samples - int(have)) / samples_per_game
    return int(needed) if needed < MAX_GAMES_NEEDED else MAX_GAMES_NEEDED
