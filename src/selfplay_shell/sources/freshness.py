"""Data freshness: age of ``{cwd}/data/training/{config}.npz`` by mtime (§sources)."""

from __future__ import annotations

import os
from collections.abc import Mapping

from selfplay_core.configs import ALL_CONFIGS, ConfigKey
from selfplay_shell.sources._base import ReadContext, Reading, per_config
from selfplay_shell.sources.errors import SourceFailure

MAX_STALENESS_HOURS = 24.0  # a missing file reads as this (reference MAX_STALENESS_HOURS)


def read_freshness(ctx: ReadContext) -> Reading[Mapping[ConfigKey, float]]:
    """Hours since each config's NPZ was written; not capped (the score caps at 24 h)."""
    hours: dict[ConfigKey, float] = {}
    for key in ALL_CONFIGS:
        path = ctx.anchors.expand(ctx.config.training_npz, config=str(key))
        try:
            mtime = os.stat(path).st_mtime
        except FileNotFoundError:
            hours[key] = MAX_STALENESS_HOURS
            continue
        except OSError as exc:
            raise SourceFailure("io", f"cannot stat: {exc.strerror}", str(path)) from exc
        hours[key] = (ctx.now - mtime) / 3600.0
    return Reading(per_config(hours, MAX_STALENESS_HOURS))
