"""Sources with no store in the reference, or an opt-in file mode (§sources)."""

from __future__ import annotations

import math
from collections.abc import Mapping

from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_core.signals import FeedbackSignal
from selfplay_shell.sources._base import ReadContext, Reading, parse_canonical, per_config
from selfplay_shell.sources._files import is_number, read_json_object
from selfplay_shell.sources.errors import SourceFailure

NEUTRAL = 1.0
BOOTSTRAP_MULTIPLIER = 1.5


def read_feedback(_ctx: ReadContext) -> Reading[Mapping[ConfigKey, FeedbackSignal]]:
    """The feedback controller is in-memory only: a fresh process reports 1.0 / not pending."""
    return Reading(per_config({}, FeedbackSignal()))


def normalise_weights(raw: Mapping[str, float]) -> Mapping[ConfigKey, float]:
    """Fill the 12 configs with 1.0, then scale to mean 1 over *all* keys (§sources)."""
    weights = dict(raw)
    for key in ALL_CONFIGS:
        weights.setdefault(str(key), 1.0)
    n = len(weights)
    total = math.fsum(weights.values())
    if total > 0 and abs(total - n) > 0.01:
        weights = {name: value * n / total for name, value in weights.items()}
    canonical = {parse_canonical(name): value for name, value in weights.items()}
    return per_config({k: v for k, v in canonical.items() if k is not None}, NEUTRAL)


def read_curriculum(ctx: ReadContext) -> Reading[Mapping[ConfigKey, float]]:
    """in_process: every weight 1.0. json: the exported file, ignored when older than 2 h."""
    if ctx.config.curriculum_source == "in_process":
        return Reading(per_config({}, NEUTRAL))
    path = ctx.anchors.expand(ctx.config.curriculum_json)
    data = read_json_object(path)
    updated_at = data.get("updated_at")
    if not is_number(updated_at):
        return Reading(
            per_config({}, NEUTRAL), (f"{path}: no numeric updated_at; treated as stale",)
        )
    age = ctx.now - float(updated_at)
    if age > ctx.config.curriculum_max_age_seconds:
        return Reading(
            per_config({}, NEUTRAL),
            (f"{path}: stale ({age:.0f} s > {ctx.config.curriculum_max_age_seconds:.0f} s)",),
        )
    weights = data.get("weights")
    if not isinstance(weights, dict) or not all(
        is_number(v) and math.isfinite(v) and v >= 0 for v in weights.values()
    ):
        raise SourceFailure("invalid", "weights must map config keys to numbers ≥ 0", str(path))
    return Reading(normalise_weights({str(k): float(v) for k, v in weights.items()}))


def read_quality(ctx: ReadContext) -> Reading[Mapping[ConfigKey, float]]:
    """constant: 0.7 (the reference's effective value). json: config_quality, then last_quality."""
    default = ctx.config.default_quality
    if ctx.config.quality_source == "constant":
        return Reading(per_config({}, default))
    path = ctx.anchors.expand(ctx.config.quality_json)
    data = read_json_object(path)
    last = data.get("last_quality")
    fallback = float(last) if is_number(last) and math.isfinite(last) else default
    per_key = data.get("config_quality") or {}
    if not isinstance(per_key, dict):
        raise SourceFailure("invalid", "config_quality must be a mapping", str(path))
    values = {
        key: float(per_key[str(key)])
        for key in ALL_CONFIGS
        if is_number(per_key.get(str(key))) and math.isfinite(per_key[str(key)])
    }
    return Reading(per_config(values, fallback))


def read_cascade(ctx: ReadContext) -> Reading[Mapping[ConfigKey, float]]:
    """none: 1.0. bootstrap: the reference's effective ×1.5 for every 2p config (§sources)."""
    if ctx.config.cascade_source == "none":
        return Reading(per_config({}, NEUTRAL))
    return Reading(
        per_config({k: BOOTSTRAP_MULTIPLIER for k in ALL_CONFIGS if k.players == 2}, NEUTRAL)
    )
