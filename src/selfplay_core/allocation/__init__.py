"""Allocation: ranked priorities + cluster + request → `BatchAllocation` (pure).

The package's modules, in the order a batch goes through them:

| module | job |
| --- | --- |
| `batch` | `allocate` composes the steps below; `AllocationManager` holds a policy |
| `configs` | scores → games per config (`allocate_to_configs`), starvation floors, 4p minimums |
| `throttle` | backpressure and the cluster health factor, which only ever scale counts down |
| `nodes` | games per config → games per node (`allocate_to_nodes`), caps and chunking |
| `capacity` | the GPU capacity table and why a node is excluded |
| `job_targets` | the per-node job target (`target_jobs_for_node`) |
| `values` | the frozen results: `BatchAllocation`, `NodeAllocation`, `ConfigDecision`, … |

The rules they apply live in `selfplay_core.allocation_policy` (part of `SchedulerPolicy`).
"""

from selfplay_core.allocation.batch import AllocationManager, allocate
from selfplay_core.allocation.configs import (
    allocate_to_configs,
    enforce_4p_minimums,
    enforce_starvation_floor,
)
from selfplay_core.allocation.job_targets import (
    HostTarget,
    NodeResources,
    compute_hardware_limit,
    target_jobs_for_node,
)
from selfplay_core.allocation.nodes import allocate_to_nodes
from selfplay_core.allocation.values import (
    AllocationExplanation,
    AllocationRequest,
    BatchAllocation,
    ConfigDecision,
    NodeAllocation,
    Placement,
    UnmetConstraint,
)
from selfplay_core.cluster import Backpressure, ClusterState, NodeCapability

__all__ = [
    "AllocationExplanation",
    "AllocationManager",
    "AllocationRequest",
    "Backpressure",
    "BatchAllocation",
    "ClusterState",
    "ConfigDecision",
    "HostTarget",
    "NodeAllocation",
    "NodeCapability",
    "NodeResources",
    "Placement",
    "UnmetConstraint",
    "allocate",
    "allocate_to_configs",
    "allocate_to_nodes",
    "compute_hardware_limit",
    "enforce_4p_minimums",
    "enforce_starvation_floor",
    "target_jobs_for_node",
]
