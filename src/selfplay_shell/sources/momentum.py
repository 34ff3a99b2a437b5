"""Momentum multipliers from ``{root}/data/feedback/accelerator_state.db`` (§sources)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from selfplay_core.configs import ConfigKey
from selfplay_shell.sources._base import ReadContext, Reading, parse_canonical, per_config
from selfplay_shell.sources._sqlite import open_readonly, require_columns
from selfplay_shell.sources.errors import SourceFailure

NEUTRAL = 1.0
STATE_MULTIPLIERS: Final[Mapping[str, float]] = {
    "accelerating": 1.5,
    "improving": 1.25,
    "stable": 1.0,
    "plateau": 1.1,
    "regressing": 0.75,
}
INTENSITIES: Final[frozenset[str]] = frozenset(
    {"hot_path", "accelerated", "normal", "reduced", "paused"}
)
_REQUIRED = ("config_key", "momentum_state", "consecutive_improvements", "consecutive_plateaus")


def momentum_multiplier(state: str, improvements: int, plateaus: int) -> float:
    """get_selfplay_multiplier for one stored row (feedback_accelerator.py:787-834)."""
    multiplier = STATE_MULTIPLIERS[state]
    if improvements >= 3:
        multiplier = min(multiplier * 1.1, 1.5)
    if plateaus >= 3:
        multiplier = max(multiplier * 0.9, 0.5)
    return multiplier


def read_momentum(ctx: ReadContext) -> Reading[Mapping[ConfigKey, float]]:
    path = ctx.anchors.expand(ctx.config.momentum_db)
    location = str(path)
    with open_readonly(
        path, deadline=ctx.deadline, busy_timeout_s=ctx.config.sqlite_busy_timeout_seconds
    ) as conn:
        columns = require_columns(conn, "config_momentum", _REQUIRED, location)
        intensity = ", intensity" if "intensity" in columns else ", NULL"
        rows = conn.execute(
            "SELECT config_key, momentum_state, consecutive_improvements, consecutive_plateaus"
            f"{intensity} FROM config_momentum ORDER BY config_key"
        ).fetchall()
    values: dict[ConfigKey, float] = {}
    for config_key, state, improvements, plateaus, level in rows:
        # The reference fails to load on any unknown enum text, whatever the config (§sources).
        if state not in STATE_MULTIPLIERS:
            raise SourceFailure(
                "invalid",
                f"config_momentum {config_key}: unknown momentum_state {state!r}",
                location,
            )
        if level is not None and level not in INTENSITIES:
            raise SourceFailure(
                "invalid", f"config_momentum {config_key}: unknown intensity {level!r}", location
            )
        key = parse_canonical(config_key)
        if key is not None:
            values[key] = momentum_multiplier(state, int(improvements or 0), int(plateaus or 0))
    return Reading(per_config(values, NEUTRAL))
