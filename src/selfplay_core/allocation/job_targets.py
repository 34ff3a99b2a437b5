"""How many self-play jobs a node should run (§job-targets), as a pure function.

The reference reads a host object with getattr and calls injected callbacks; here the host is a
`NodeResources` value and the callbacks' answers are data (`HostTarget`, `max_selfplay_override`,
`ClusterState.backpressure`). Fixed: backpressure stop/throttle take effect (the reference's
import bug made them dead), and "overloaded" never raises the target.
"""

from __future__ import annotations

import attrs

from selfplay_core._validators import count, finite, optional_count
from selfplay_core.allocation_policy import AllocationPolicy, HardwareLimitRow, JobTargetPolicy
from selfplay_core.cluster import ClusterState
from selfplay_core.policy import SchedulerPolicy

_DEFAULT_POLICY = SchedulerPolicy()


@attrs.frozen
class HostTarget:
    """The reference's unified path: `get_target_job_count_fn` → `target_job_count`,
    `get_host_targets_fn(...).max_selfplay` → `max_selfplay`, `scale_up_fn` → `scale_up`,
    `scale_down_fn` → `scale_down_reduction` (None = no scale-down)."""

    target_job_count: int = attrs.field(validator=count)
    max_selfplay: int | None = attrs.field(default=None, validator=optional_count)
    scale_up: bool = False
    scale_down_reduction: int | None = attrs.field(default=None, validator=optional_count)


@attrs.frozen
class NodeResources:
    """A host as `get_target_jobs_for_node` reads it (percentages 0-100)."""

    node_id: str = "unknown"
    memory_gb: int = attrs.field(default=0, validator=count)
    has_gpu: bool = False
    cpu_count: int = attrs.field(default=0, validator=count)
    cpu_percent: float = attrs.field(default=0.0, validator=finite)
    memory_percent: float = attrs.field(default=0.0, validator=finite)
    disk_percent: float = attrs.field(default=0.0, validator=finite)
    gpu_percent: float = attrs.field(default=0.0, validator=finite)
    gpu_memory_percent: float = attrs.field(default=0.0, validator=finite)
    selfplay_jobs: int = attrs.field(default=0, validator=count)
    gpu_name: str = ""
    gpu_count: int = attrs.field(default=1, validator=count)
    host_target: HostTarget | None = None
    max_selfplay_override: int | None = attrs.field(default=None, validator=optional_count)

    @property
    def effective_gpu_count(self) -> int:
        return (self.gpu_count or 1) if self.has_gpu else 0


def _row_limit(row: HardwareLimitRow, cpu_count: int, gpu_count: int) -> int:
    if cpu_count <= 0:
        return row.without_cpus
    limit = int(row.cpu_fraction * cpu_count)
    if row.cap is not None:
        limit = min(limit, row.cap)
    if row.per_gpu_cap is not None:
        limit = min(limit, row.per_gpu_cap * gpu_count)
    return limit


def compute_hardware_limit(
    has_gpu: bool,
    gpu_name: str,
    gpu_count: int,
    cpu_count: int,
    policy: SchedulerPolicy | AllocationPolicy | JobTargetPolicy = _DEFAULT_POLICY,
) -> int:
    """`_compute_hardware_limit`: first table row whose substring occurs in the upper-cased GPU
    name (memory is not used, as upstream)."""
    jt = _job_policy(policy)
    if not has_gpu:
        return _row_limit(jt.no_gpu_limit, cpu_count, gpu_count)
    name = gpu_name.upper()
    for row in jt.hardware_limits:
        if any(pattern in name for pattern in row.patterns):
            return _row_limit(row, cpu_count, gpu_count)
    return _row_limit(jt.other_gpu_limit, cpu_count, gpu_count)


def _job_policy(policy: SchedulerPolicy | AllocationPolicy | JobTargetPolicy) -> JobTargetPolicy:
    if isinstance(policy, SchedulerPolicy):
        return policy.allocation.job_targets
    if isinstance(policy, AllocationPolicy):
        return policy.job_targets
    return policy


def target_jobs_for_node(
    node: NodeResources,
    cluster: ClusterState = ClusterState(),  # noqa: B008 - frozen value
    policy: SchedulerPolicy | AllocationPolicy = _DEFAULT_POLICY,
) -> int:
    """`get_target_jobs_for_node`: 0 in an emergency, under a backpressure stop or with too little
    memory; otherwise the unified or the hardware-table path, scaled by the throttle, ≥ 1."""
    alloc = policy.allocation if isinstance(policy, SchedulerPolicy) else policy
    jt = alloc.job_targets
    bp = cluster.backpressure
    if bp is not None and bp.emergency_active:
        return 0
    throttle = 1.0
    if bp is not None:
        if bp.should_pause(alloc.backpressure):
            return 0
        throttle = min(1.0, bp.spawn_rate_multiplier(alloc.backpressure))
    if 0 < node.memory_gb < jt.min_memory_gb:
        return 0
    current = node.selfplay_jobs
    if node.host_target is not None:
        return _unified(node.host_target, current, throttle, jt)
    if node.max_selfplay_override is not None:
        target = node.max_selfplay_override
    else:
        target = compute_hardware_limit(
            node.has_gpu, node.gpu_name, node.effective_gpu_count, node.cpu_count, jt
        )
    if node.gpu_percent > jt.gpu_overload_percent or (
        node.gpu_memory_percent > jt.gpu_overload_percent
    ):
        target = min(target, max(jt.overload_floor, target - jt.gpu_overload_reduction))
    if node.cpu_percent > jt.cpu_overload_percent:
        target = min(target, max(jt.overload_floor, target - jt.cpu_overload_reduction))
    if node.has_gpu:
        headroom = (
            node.gpu_percent < jt.headroom_gpu_percent
            and node.gpu_memory_percent < jt.headroom_gpu_memory_percent
            and node.cpu_percent < jt.headroom_cpu_percent
        )
    else:
        headroom = node.cpu_percent < jt.headroom_cpu_percent
    if headroom and current < target:
        target = min(target, current + jt.ramp_step)
    if node.disk_percent >= jt.disk_warning_percent:
        target = min(target, jt.disk_warning_max_jobs)
    if node.memory_percent >= jt.memory_warning_percent:
        target = min(target, jt.memory_warning_max_jobs)
    return max(1, int(target * throttle))


def _unified(host: HostTarget, current: int, throttle: float, jt: JobTargetPolicy) -> int:
    target = host.target_job_count
    if host.scale_up and current < target:
        target = current + min(jt.unified_scale_up_step, target - current)
    if host.scale_down_reduction is not None:
        target = max(1, current - host.scale_down_reduction)
    target = int(target * throttle)
    if host.max_selfplay is not None:
        target = min(target, host.max_selfplay)
    return max(1, target)
