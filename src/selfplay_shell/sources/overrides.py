"""Priority overrides from ``config/unified_loop.yaml`` (§sources, §overrides).

The first candidate file that exists and parses is used; a file that does not parse, or whose
``selfplay`` section is not a mapping, is skipped for the next one (as in the reference).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from selfplay_core.configs import ConfigKey
from selfplay_shell.sources._base import ReadContext, Reading, parse_canonical, per_config
from selfplay_shell.sources._files import parse_yaml, read_text
from selfplay_shell.sources.errors import SourceFailure

LOW = 3  # the level every config has without an override (multiplier ×1.0)
LEVELS = (0, 1, 2, 3)


def _overrides_section(data: Any) -> Mapping[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"top level is {type(data).__name__}, not a mapping")
    selfplay = data.get("selfplay", {})
    if not isinstance(selfplay, dict):
        raise ValueError(f"'selfplay' is {type(selfplay).__name__}, not a mapping")
    section = selfplay.get("board_priority_overrides", {})
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise ValueError("'selfplay.board_priority_overrides' is not a mapping")
    return section


def read_overrides(ctx: ReadContext) -> Reading[Mapping[ConfigKey, int]]:
    problems: list[str] = []
    candidates = ctx.anchors.expand_all(ctx.config.overrides_yaml_candidates)
    for path in candidates:
        if not path.is_file():
            continue
        try:
            section = _overrides_section(parse_yaml(read_text(path), path))
        except SourceFailure as failure:
            problems.append(f"{path}: {failure.kind}: {failure.detail}")
            continue
        except ValueError as exc:
            problems.append(f"{path}: invalid: {exc}")
            continue
        levels: dict[ConfigKey, int] = {}
        for name, level in section.items():
            key = parse_canonical(name)
            if key is None:
                continue  # the reference applies only keys it tracks
            if type(level) is int and level in LEVELS:
                levels[key] = level
            else:  # the reference stores it and its multiplier lookup falls back to ×1.0 = LOW
                problems.append(f"{path}: {name}: level {level!r} is not 0-3; treated as {LOW}")
        return Reading(per_config(levels, LOW), tuple(problems))
    if problems:
        raise SourceFailure("invalid", "; ".join(problems))
    raise SourceFailure("missing", "no overrides file", " | ".join(str(c) for c in candidates))
