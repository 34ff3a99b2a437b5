"""Allocation, node-cap and job-target constants of the reference (§batch, §job-targets).

Owned by the allocation work (issue 3); composed into `SchedulerPolicy.allocation`. Tables are
string-keyed mappings (read-only) so a policy loads from TOML/JSON; every bound is checked at
construction with the field's name in the message.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, Final

import attrs

from selfplay_core._validators import EachValue, count, non_negative, optional_count

# --- reference tables (thresholds.py 1127-1150) ---

REFERENCE_GPU_WEIGHTS: Final[Mapping[str, float]] = types.MappingProxyType(
    {
        "GH200": 2.4,
        "H200": 2.0,
        "H100": 2.0,
        "A100_80": 2.0,
        "A100": 1.0,
        "A10": 0.6,
        "RTX_4090": 0.6,
        "RTX_3090": 0.6,
        "CPU": 0.1,
    }
)
REFERENCE_GAMES_PER_NODE: Final[Mapping[str, int]] = types.MappingProxyType(
    {
        "GH200": 2000,
        "H200": 1500,
        "H100": 1500,
        "A100_80": 1200,
        "A100": 800,
        "A10": 400,
        "RTX_4090": 400,
        "RTX_3090": 300,
        "CPU": 50,
    }
)
# Free-text host GPU names ("GH200 (96 GB)", "H100 SXM", "8x RTX 4090") → table rows. A pattern
# is space-separated tokens that must all occur in the upper-cased name; the longest matching
# pattern wins, so "GH200" beats "H200" and "A100 80" beats "A100" beats "A10".
REFERENCE_GPU_ALIASES: Final[Mapping[str, str]] = types.MappingProxyType(
    {
        "GH200": "GH200",
        "H200": "H200",
        "H100": "H100",
        "A100 80": "A100_80",
        "A100": "A100",
        "A10": "A10",
        "4090": "RTX_4090",
        "3090": "RTX_3090",
        "CPU": "CPU",
        "NONE": "CPU",
    }
)
REFERENCE_PRESSURE_WEIGHTS: Final[Mapping[str, float]] = types.MappingProxyType(
    {"queue": 0.30, "training": 0.25, "disk": 0.20, "sync": 0.15, "memory": 0.10}
)


def _freeze_str_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """Read-only copy, keys sorted so equal tables compare and encode identically."""
    return types.MappingProxyType({str(k): value[k] for k in sorted(value)})


def _positive_int(_inst: Any, attribute: attrs.Attribute[Any], value: int) -> None:
    count(_inst, attribute, value)
    if value < 1:
        raise ValueError(f"{attribute.name}: must be at least 1, got {value!r}")


def _fraction(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    non_negative(_inst, attribute, value)
    if value > 1:
        raise ValueError(f"{attribute.name}: must lie in [0, 1], got {value!r}")


def _percent(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    non_negative(_inst, attribute, value)
    if value > 100:
        raise ValueError(f"{attribute.name}: must lie in [0, 100], got {value!r}")


def _weights_table(_inst: Any, attribute: attrs.Attribute[Any], value: Mapping[str, Any]) -> None:
    if not all(value):
        raise ValueError(f"{attribute.name}: empty GPU name")
    EachValue(non_negative)(_inst, attribute, value)


def _caps_table(_inst: Any, attribute: attrs.Attribute[Any], value: Mapping[str, Any]) -> None:
    if not all(value):
        raise ValueError(f"{attribute.name}: empty GPU name")
    EachValue(count)(_inst, attribute, value)


@attrs.frozen
class BackpressureRules:
    """backpressure.py 44-110: weighted pressure → spawn-rate multiplier → pause."""

    weights: Mapping[str, float] = attrs.field(
        default=REFERENCE_PRESSURE_WEIGHTS, converter=_freeze_str_map, validator=_weights_table
    )
    # multiplier 1.0 below `low`, 0.0 above `high`, linear in between
    low_pressure: float = attrs.field(default=0.3, validator=_fraction)
    high_pressure: float = attrs.field(default=0.9, validator=_fraction)
    # pause when the multiplier falls below this (pressure > 0.84 with the defaults)
    pause_below_multiplier: float = attrs.field(default=0.1, validator=_fraction)

    def __attrs_post_init__(self) -> None:
        if not self.low_pressure < self.high_pressure:
            raise ValueError(
                "backpressure: low_pressure must be below high_pressure, got "
                f"{self.low_pressure!r} ≥ {self.high_pressure!r}"
            )
        unknown = sorted(set(self.weights) - set(REFERENCE_PRESSURE_WEIGHTS))
        if unknown:
            raise ValueError(
                f"backpressure.weights: unknown pressure(s) {unknown}; "
                f"expected {sorted(REFERENCE_PRESSURE_WEIGHTS)}"
            )


def _patterns(value: Any) -> tuple[str, ...]:
    return tuple(str(p) for p in value)


@attrs.frozen
class HardwareLimitRow:
    """One row of `_compute_hardware_limit`: a GPU whose upper-cased name contains any of
    `patterns` may run min(⌊cpu_fraction·cpus⌋, cap, per_gpu_cap·gpus) jobs, or
    `without_cpus` when the CPU count is unknown."""

    patterns: tuple[str, ...] = attrs.field(converter=_patterns)
    cpu_fraction: float = attrs.field(validator=non_negative)
    without_cpus: int = attrs.field(validator=count)
    cap: int | None = attrs.field(default=None, validator=optional_count)
    per_gpu_cap: int | None = attrs.field(default=None, validator=optional_count)


REFERENCE_HARDWARE_LIMITS: Final[tuple[HardwareLimitRow, ...]] = (
    HardwareLimitRow(("GH200",), 0.8, 48),
    HardwareLimitRow(("H100", "H200"), 0.5, 32, cap=48),
    HardwareLimitRow(("A100", "L40"), 0.4, 24, cap=32),
    HardwareLimitRow(("5090",), 0.3, 48, cap=64, per_gpu_cap=12),
    HardwareLimitRow(("A10", "4090", "3090"), 0.3, 16, cap=24),
    HardwareLimitRow(("4080", "4070", "3080", "4060"), 0.25, 8, cap=12),
    HardwareLimitRow(("3070", "3060", "2060", "2070", "2080"), 0.2, 6, cap=10),
)


def _rows(value: Any) -> tuple[HardwareLimitRow, ...]:
    return tuple(
        row if isinstance(row, HardwareLimitRow) else HardwareLimitRow(**row) for row in value
    )


@attrs.frozen
class JobTargetPolicy:
    """`get_target_jobs_for_node` (§job-targets): thresholds in percent, counts in jobs."""

    min_memory_gb: int = attrs.field(default=8, validator=count)
    gpu_overload_percent: float = attrs.field(default=85.0, validator=_percent)
    gpu_overload_reduction: int = attrs.field(default=2, validator=count)
    cpu_overload_percent: float = attrs.field(default=80.0, validator=_percent)
    cpu_overload_reduction: int = attrs.field(default=1, validator=count)
    overload_floor: int = attrs.field(default=2, validator=count)
    headroom_gpu_percent: float = attrs.field(default=60.0, validator=_percent)
    headroom_gpu_memory_percent: float = attrs.field(default=75.0, validator=_percent)
    headroom_cpu_percent: float = attrs.field(default=60.0, validator=_percent)
    ramp_step: int = attrs.field(default=2, validator=count)
    disk_warning_percent: float = attrs.field(default=90.0, validator=_percent)
    disk_warning_max_jobs: int = attrs.field(default=4, validator=count)
    memory_warning_percent: float = attrs.field(default=95.0, validator=_percent)
    memory_warning_max_jobs: int = attrs.field(default=2, validator=count)
    unified_default_cpu_count: int = attrs.field(default=8, validator=_positive_int)
    unified_scale_up_step: int = attrs.field(default=4, validator=count)
    hardware_limits: tuple[HardwareLimitRow, ...] = attrs.field(
        default=REFERENCE_HARDWARE_LIMITS, converter=_rows
    )
    other_gpu_limit: HardwareLimitRow = HardwareLimitRow((), 0.2, 6, cap=8)
    no_gpu_limit: HardwareLimitRow = HardwareLimitRow((), 0.3, 8, cap=32)


@attrs.frozen
class AllocationPolicy:
    """Every allocation constant of the reference; `AllocationPolicy()` is the reference."""

    # games
    min_games_per_allocation: int = attrs.field(default=100, validator=_positive_int)
    default_games_per_config: int = attrs.field(default=500, validator=count)
    # starvation floors, as multiples of G (thresholds live in `SchedulerPolicy.starvation`)
    emergency_floor_factor: float = attrs.field(default=2.0, validator=non_negative)
    critical_floor_factor: float = attrs.field(default=1.5, validator=non_negative)
    # 4p minimum and what a 2p donor keeps, as multiples of G
    four_player_minimum_factor: float = attrs.field(default=1.5, validator=non_negative)
    donor_keep_factor: float = attrs.field(default=0.5, validator=non_negative)
    # ephemeral nodes: short-job share ×1.5 and batch budget 1.5·CAP; large boards ×0.5, ≤ 0.5·CAP
    ephemeral_short_factor: float = attrs.field(default=1.5, validator=non_negative)
    ephemeral_long_factor: float = attrs.field(default=0.5, validator=non_negative)
    ephemeral_id_markers: tuple[str, ...] = attrs.field(
        default=("vast-", "runpod-", "spot-", "ephemeral-"), converter=_patterns
    )
    # node eligibility: available capacity must be strictly above this
    capacity_threshold: float = attrs.field(default=0.1, validator=non_negative)
    # GPU tables (exact keys), the fallbacks for unknown GPUs, and the name aliases
    gpu_weights: Mapping[str, float] = attrs.field(
        default=REFERENCE_GPU_WEIGHTS, converter=_freeze_str_map, validator=_weights_table
    )
    games_per_node: Mapping[str, int] = attrs.field(
        default=REFERENCE_GAMES_PER_NODE, converter=_freeze_str_map, validator=_caps_table
    )
    default_gpu_weight: float = attrs.field(default=1.0, validator=non_negative)
    default_games_per_node: int = attrs.field(default=500, validator=count)
    gpu_aliases: Mapping[str, str] = attrs.field(
        default=REFERENCE_GPU_ALIASES, converter=_freeze_str_map
    )
    # cluster health factor: max(floor, healthy/total), or `unknown` when total is 0
    health_factor_floor: float = attrs.field(default=0.3, validator=_fraction)
    health_factor_unknown: float = attrs.field(default=0.5, validator=_fraction)
    backpressure: BackpressureRules = attrs.field(factory=BackpressureRules)
    job_targets: JobTargetPolicy = attrs.field(factory=JobTargetPolicy)

    def __attrs_post_init__(self) -> None:
        known = set(self.gpu_weights) | set(self.games_per_node)
        for pattern, target in self.gpu_aliases.items():
            if not pattern.split():
                raise ValueError("gpu_aliases: empty pattern")
            if target not in known:
                raise ValueError(
                    f"gpu_aliases.{pattern}: target {target!r} is not a row of gpu_weights "
                    "or games_per_node"
                )


__all__ = [
    "REFERENCE_GAMES_PER_NODE",
    "REFERENCE_GPU_ALIASES",
    "REFERENCE_GPU_WEIGHTS",
    "REFERENCE_HARDWARE_LIMITS",
    "AllocationPolicy",
    "BackpressureRules",
    "HardwareLimitRow",
    "JobTargetPolicy",
]
