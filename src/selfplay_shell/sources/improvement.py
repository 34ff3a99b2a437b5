"""Improvement boosts from ``{root}/logs/improvement_optimizer_state.json`` (§sources)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_shell.sources._base import ReadContext, Reading, per_config
from selfplay_shell.sources._files import is_number, read_json_object
from selfplay_shell.sources.errors import SourceFailure

# ImprovementState defaults for the keys the boost reads (improvement_optimizer.py:75-107).
_DEFAULTS: Mapping[str, Any] = {
    "consecutive_promotions": 0,
    "best_elo_gain": 0.0,
    "parity_success_rate": 1.0,
}
NO_BOOST = 0.0


def improvement_boost(state: Mapping[str, Any], key: ConfigKey) -> float:
    """get_selfplay_priority_boost: global streak/gain/parity terms plus the config's own boost."""
    boost = 0.0
    promotions = state["consecutive_promotions"]
    if promotions >= 3:
        boost += 0.15
    elif promotions >= 2:
        boost += 0.10
    if state["config_boosts"].get(str(key), 1.0) < 0.8:
        boost += 0.10
    if state["best_elo_gain"] > 50:
        boost += 0.05
    if state["parity_success_rate"] < 0.8:
        boost -= 0.10
    return max(-0.10, min(0.15, boost))


def read_improvement(ctx: ReadContext) -> Reading[Mapping[ConfigKey, float]]:
    path = ctx.anchors.expand(ctx.config.improvement_state)
    data = read_json_object(path)
    state: dict[str, Any] = dict(_DEFAULTS)
    for name in _DEFAULTS:
        if name in data:
            value = data[name]
            if not is_number(value) or not math.isfinite(value):
                raise SourceFailure("invalid", f"{name} must be a number, got {value!r}", str(path))
            state[name] = value
    boosts = data.get("config_boosts", {})
    if not isinstance(boosts, dict) or not all(is_number(v) for v in boosts.values()):
        raise SourceFailure("invalid", "config_boosts must map config keys to numbers", str(path))
    state["config_boosts"] = boosts
    return Reading(
        per_config({key: improvement_boost(state, key) for key in ALL_CONFIGS}, NO_BOOST)
    )
