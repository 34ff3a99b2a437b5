"""`target_jobs_for_node` and `compute_hardware_limit` (§job-targets)."""

from __future__ import annotations

import attrs
import pytest

from selfplay_core.allocation.job_targets import (
    HostTarget,
    NodeResources,
    compute_hardware_limit,
    target_jobs_for_node,
)
from selfplay_core.cluster import Backpressure, ClusterState


@pytest.mark.parametrize(
    ("name", "cpus", "gpus", "limit"),
    [
        ("GH200", 72, 1, 57),
        ("GH200", 0, 1, 48),
        ("H100 SXM", 128, 8, 48),
        ("H100 PCIe", 0, 1, 32),
        ("A100 PCIe", 64, 1, 25),
        ("L40S", 100, 2, 32),
        ("RTX 5090", 64, 2, 19),
        ("2x RTX 5090", 200, 2, 24),
        ("RTX 5090", 0, 1, 48),
        ("A10G", 32, 1, 9),
        ("8x RTX 3090", 96, 8, 24),
        ("RTX 4080", 32, 1, 8),
        ("RTX 4060 Ti", 16, 1, 4),
        ("RTX 3060", 32, 1, 6),
        ("RTX 2080 Ti", 16, 1, 3),
        ("A40", 64, 1, 8),
        ("RTX 5080", 32, 1, 6),
        ("none", 16, 1, 3),
    ],
)
def test_hardware_limit_table(name: str, cpus: int, gpus: int, limit: int) -> None:
    assert compute_hardware_limit(True, name, gpus, cpus) == limit


@pytest.mark.parametrize(("cpus", "limit"), [(200, 32), (0, 8), (10, 3)])
def test_hardware_limit_without_gpu(cpus: int, limit: int) -> None:
    assert compute_hardware_limit(False, "", 0, cpus) == limit


BASE = NodeResources(
    node_id="base",
    memory_gb=128,
    has_gpu=True,
    cpu_count=32,
    cpu_percent=50,
    memory_percent=60,
    disk_percent=40,
    gpu_percent=55,
    gpu_memory_percent=50,
    selfplay_jobs=4,
    gpu_name="RTX 4090",
)
GH200 = NodeResources(node_id="gh", has_gpu=True, cpu_count=64, gpu_name="GH200 (96 GB)")


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        (BASE, 6),
        (GH200, 2),
        (attrs.evolve(GH200, gpu_percent=70, selfplay_jobs=10), 51),
        (attrs.evolve(GH200, gpu_percent=90, selfplay_jobs=10), 49),
        (attrs.evolve(GH200, gpu_percent=90, cpu_percent=85, selfplay_jobs=10), 48),
        (NodeResources(cpu_count=64, selfplay_jobs=4), 6),
        (NodeResources(cpu_count=2), 1),
        (attrs.evolve(BASE, memory_gb=4), 0),
        (attrs.evolve(BASE, memory_gb=0), 6),
        (attrs.evolve(BASE, disk_percent=95, gpu_percent=70, selfplay_jobs=8), 4),
        (attrs.evolve(BASE, memory_percent=95, gpu_percent=70, selfplay_jobs=8), 2),
    ],
)
def test_reference_job_targets(node: NodeResources, expected: int) -> None:
    assert target_jobs_for_node(node, ClusterState()) == expected


@pytest.mark.parametrize(
    ("host", "current", "expected"),
    [
        (HostTarget(20, max_selfplay=10, scale_up=True), 4, 8),
        (HostTarget(20, max_selfplay=10), 4, 10),
        (HostTarget(20, scale_down_reduction=6), 4, 1),
        (HostTarget(0), 0, 1),
    ],
)
def test_unified_path(host: HostTarget, current: int, expected: int) -> None:
    node = attrs.evolve(BASE, host_target=host, selfplay_jobs=current)
    assert target_jobs_for_node(node, ClusterState()) == expected


def test_max_selfplay_override() -> None:
    node = attrs.evolve(BASE, max_selfplay_override=40, gpu_percent=70)
    assert target_jobs_for_node(node, ClusterState()) == 40


def test_overload_never_raises_the_target() -> None:
    """Reference: unknown GPU, 4 CPUs, gpu 90% → 2 (max(2, 0 − 2) raised a limit of 0)."""
    node = NodeResources(has_gpu=True, cpu_count=4, gpu_name="mystery", gpu_percent=90)
    assert compute_hardware_limit(True, "mystery", 1, 4) == 0
    assert target_jobs_for_node(node, ClusterState()) == 1


def test_backpressure_stop_gives_zero() -> None:
    """Reference: dead (QueueType import error), so a stop signal still gave a normal target."""
    paused = ClusterState(backpressure=Backpressure(1.0, 1.0, 1.0, 1.0, 1.0))
    assert target_jobs_for_node(BASE, paused) == 0


def test_backpressure_throttle_scales_the_target() -> None:
    busy = attrs.evolve(GH200, gpu_percent=70, selfplay_jobs=10)  # 51 unthrottled
    half = ClusterState(backpressure=Backpressure(0.6, 0.6, 0.6, 0.6, 0.6))
    assert target_jobs_for_node(busy, half) == 25
    unified = attrs.evolve(BASE, host_target=HostTarget(20))
    assert target_jobs_for_node(unified, half) == 10


def test_emergency_gives_zero() -> None:
    assert (
        target_jobs_for_node(BASE, ClusterState(backpressure=Backpressure(emergency_active=True)))
        == 0
    )
