"""Every location and knob of the data accessor, defined once (reference: §sources).

Locations are templates: ``{root}`` is the reference's ``ai-service/`` directory, ``{cwd}`` its
working directory, ``~`` the user's home. Candidate lists are tried in order, first existing wins.
"""

from __future__ import annotations

import os
import string
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs

# --- reference default locations (§sources) -------------------------------------------
TRAINING_NPZ = "{cwd}/data/training/{config}.npz"
ELO_DB_CANDIDATES = (
    "{root}/data/unified_elo.db",
    "/lambda/nfs/RingRift/elo/unified_elo.db",
    "~/ringrift/ai-service/data/unified_elo.db",
)
# The first of these that has a data/ folder is the game-discovery root (§sources).
GAME_ROOT_CANDIDATES = (
    "{root}",
    "{cwd}",
    "~/ringrift/ai-service",
    "/workspace/ringrift/ai-service",
    "/lambda/nfs/RingRift/ai-service",
)
# §sources, in order; {board} and {n} expand over the 4 boards × 2..4 players.
GAME_DB_PATTERNS = (
    "data/games/selfplay.db",
    "data/games/jsonl_aggregated.db",
    "data/games/{board}_{n}p.db",
    "data/games/{board}_{n}.db",
    "data/games/tournament_{board}_{n}p.db",
    "data/games/tournament_{board}_{n}.db",
    "data/selfplay/canonical_{board}_{n}p.db",
    "data/selfplay/canonical_{board}.db",
    "data/selfplay/unified_*/games.db",
    "data/selfplay/p2p/{board}_{n}p*/*/games.db",
    "data/selfplay/p2p/{board}_{n}*/*/games.db",
    "data/selfplay/p2p_hybrid/{board}_{n}p/*/games.db",
    "data/selfplay/p2p_hybrid/{board}_{n}/*/games.db",
    "data/training/*/harvested_games.db",
    "data/games/hex8_*.db",
    "data/games/canonical_*.db",
)
# Legacy board strings found in game databases (§configs; BoardType aliases).
BOARD_ALIASES: Mapping[str, str] = {
    "hex": "hexagonal",
    "full_hex": "hexagonal",
    "full_hexagonal": "hexagonal",
    "sq8": "square8",
    "sq19": "square19",
}
IMPROVEMENT_STATE = "{root}/logs/improvement_optimizer_state.json"
MOMENTUM_DB = "{root}/data/feedback/accelerator_state.db"
OVERRIDES_YAML_CANDIDATES = (
    "{root}/config/unified_loop.yaml",
    "{cwd}/config/unified_loop.yaml",
    "/etc/ringrift/unified_loop.yaml",
)
HOSTS_YAML_CANDIDATES = (
    "{root}/config/distributed_hosts.yaml",
    "{cwd}/config/distributed_hosts.yaml",
)
CURRICULUM_JSON = "{root}/data/curriculum_weights.json"
QUALITY_JSON = "{cwd}/data/coordination/quality_monitor_state.json"
# Absolute in the reference (queue_monitor.py:56); no anchor.
QUEUE_MONITOR_DB = "/tmp/ringrift_coordination/queue_monitor.db"

CurriculumSource = Literal["in_process", "json"]
QualitySource = Literal["constant", "json"]
CascadeSource = Literal["none", "bootstrap"]
DiskPressureSource = Literal["reference", "p2p"]


class AccessorConfigError(ValueError):
    """A config file or mapping the accessor cannot use; the message names the key."""


def _sorted_mapping(mapping: Mapping[str, str]) -> dict[str, str]:
    return dict(sorted(dict(mapping).items()))


def _float_mapping(mapping: Mapping[str, float]) -> dict[str, float]:
    return {str(k): float(v) for k, v in sorted(dict(mapping).items())}


def _positive(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise AccessorConfigError(f"{attribute.name}: must be > 0, got {value!r}")


_ANCHORS = frozenset({"root", "cwd"})


def _placeholders(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise AccessorConfigError(f"{template!r}: {exc}") from exc


def _template(*extra: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """Validator: every ``{placeholder}`` in the location(s) is one the reader fills in."""
    allowed = _ANCHORS | set(extra)

    def check(_inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        for template in (value,) if isinstance(value, str) else value:
            unknown = sorted(_placeholders(template) - allowed)
            if unknown:
                raise AccessorConfigError(
                    f"{attribute.name}: {template!r} uses unknown placeholder(s) "
                    f"{', '.join('{' + u + '}' for u in unknown)}; allowed: "
                    f"{', '.join('{' + a + '}' for a in sorted(allowed))}"
                )

    return check


@attrs.frozen(kw_only=True)
class AccessorConfig:
    """Where the accessor reads and how patiently. `AccessorConfig()` is the reference layout."""

    training_npz: str = attrs.field(default=TRAINING_NPZ, validator=_template("config"))
    elo_db_candidates: tuple[str, ...] = attrs.field(
        default=ELO_DB_CANDIDATES, validator=_template()
    )
    game_root_candidates: tuple[str, ...] = attrs.field(
        default=GAME_ROOT_CANDIDATES, validator=_template()
    )
    game_db_patterns: tuple[str, ...] = GAME_DB_PATTERNS
    board_aliases: Mapping[str, str] = attrs.field(default=BOARD_ALIASES, converter=_sorted_mapping)
    improvement_state: str = attrs.field(default=IMPROVEMENT_STATE, validator=_template())
    momentum_db: str = attrs.field(default=MOMENTUM_DB, validator=_template())
    overrides_yaml_candidates: tuple[str, ...] = attrs.field(
        default=OVERRIDES_YAML_CANDIDATES, validator=_template()
    )
    hosts_yaml_candidates: tuple[str, ...] = attrs.field(
        default=HOSTS_YAML_CANDIDATES, validator=_template()
    )
    cluster_status_url: str | None = None
    curriculum_source: CurriculumSource = "in_process"
    curriculum_json: str = attrs.field(default=CURRICULUM_JSON, validator=_template())
    curriculum_max_age_seconds: float = attrs.field(default=7200.0, validator=_positive)
    quality_source: QualitySource = "constant"
    quality_json: str = attrs.field(default=QUALITY_JSON, validator=_template())
    default_quality: float = 0.7
    cascade_source: CascadeSource = "none"
    # Backpressure: queue depth from the queue monitor; disk from the P2P status peers, reading
    # only `disk_usage_percent` ("reference": always absent → 0) or also `disk_percent` ("p2p").
    queue_monitor_db: str = attrs.field(default=QUEUE_MONITOR_DB, validator=_template())
    disk_pressure_source: DiskPressureSource = "reference"
    # Elo velocity: the EloService history table, participant as in get_elo_trend_for_config.
    elo_history_participant: str = attrs.field(default="canonical", validator=_template("config"))
    velocity_window_seconds: float = attrs.field(default=7 * 86400.0, validator=_positive)
    # Patience: every source has a timeout; SQLite waits for locks at most this long.
    source_timeout_seconds: float = attrs.field(default=5.0, validator=_positive)
    source_timeouts: Mapping[str, float] = attrs.field(factory=dict, converter=_float_mapping)
    sqlite_busy_timeout_seconds: float = attrs.field(default=2.0, validator=_positive)
    http_timeout_seconds: float = attrs.field(default=2.0, validator=_positive)
    # Cache lifetimes: a little under the scheduler's 15 s / 60 s refresh periods.
    ttl_seconds: float = attrs.field(default=10.0, validator=_positive)
    node_ttl_seconds: float = attrs.field(default=50.0, validator=_positive)
    max_workers: int = 8
    # Re-count a game database only when its size or mtime (or its WAL's) changed.
    game_count_cache: bool = True
    game_db_workers: int = 2  # game databases counted in parallel (more only adds GIL contention)

    def timeout_for(self, source: str) -> float:
        return float(self.source_timeouts.get(source, self.source_timeout_seconds))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> AccessorConfig:
        """Build from a plain mapping (e.g. a TOML table); unknown keys are an error."""
        known = {field.name for field in attrs.fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise AccessorConfigError(f"unknown accessor setting(s): {', '.join(unknown)}")
        try:
            return _CONVERTER.structure(dict(mapping), cls)
        except AccessorConfigError:
            raise
        except Exception as exc:  # cattrs groups several problems; report them all
            own = _own_errors(exc)
            if own:
                raise AccessorConfigError("; ".join(own)) from exc
            messages = (
                cattrs.transform_error(exc)
                if isinstance(exc, cattrs.BaseValidationError)
                else [str(exc)]
            )
            raise AccessorConfigError("; ".join(messages)) from exc

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> AccessorConfig:
        """Read a TOML file: settings at top level or under an ``[accessor]`` table.

        A file that cannot be read or parsed raises `AccessorConfigError` saying why."""
        try:
            with open(path, "rb") as handle:
                data = tomllib.load(handle)
        except OSError as exc:
            raise AccessorConfigError(f"{path}: cannot read: {exc}") from None
        except RecursionError:
            raise AccessorConfigError(f"{path}: not valid TOML: nesting too deep") from None
        except ValueError as exc:  # TOMLDecodeError, bad UTF-8, an over-long integer
            raise AccessorConfigError(f"{path}: not valid TOML: {exc}") from None
        table = data.get("accessor", data)
        if not isinstance(table, dict):
            raise AccessorConfigError(f"{path}: [accessor] must be a table")
        return cls.from_mapping(table)


_CONVERTER = cattrs.Converter(forbid_extra_keys=True)


def _own_errors(exc: BaseException) -> list[str]:
    """Our validators' messages, found inside cattrs' exception groups."""
    if isinstance(exc, AccessorConfigError):
        return [str(exc)]
    if isinstance(exc, BaseExceptionGroup):
        return [m for inner in exc.exceptions for m in _own_errors(inner)]
    return []


@attrs.frozen
class Anchors:
    """The two directories every template is relative to."""

    root: Path
    cwd: Path

    def expand(self, template: str, **extra: str) -> Path:
        text = template.format(root=self.root, cwd=self.cwd, **extra)
        return Path(os.path.expanduser(text))

    def expand_all(self, templates: tuple[str, ...]) -> tuple[Path, ...]:
        return tuple(self.expand(template) for template in templates)
