"""selfplay_core: the pure functional core of selfplay-scheduler.

No clock, I/O, randomness, logging or environment here: time is data.

`__all__` is the stable public contract: the values a decision is made of, the functions that
make it, and the event/codec/replay entry points. Everything else is importable from its own
module (`selfplay_core.events` for every event class, `selfplay_core.status`,
`selfplay_core.allocation`, `selfplay_core.priority`, …); see docs/MAINTAINING.md.
"""

from selfplay_core.allocation import (
    AllocationManager,
    AllocationRequest,
    BatchAllocation,
    NodeAllocation,
    allocate,
)
from selfplay_core.cluster import Backpressure, ClusterState, NodeCapability
from selfplay_core.codec import DecodeError, decode, encode
from selfplay_core.configs import ALL_CONFIGS, ConfigKey, ConfigKeyError
from selfplay_core.decide import decide
from selfplay_core.events import (
    AllocationDecided,
    Envelope,
    Event,
    SourcesRefreshed,
    Tick,
    make_envelope,
)
from selfplay_core.policy import PolicyError, SchedulerPolicy
from selfplay_core.priority import (
    PriorityCalculator,
    cluster_signals,
    compute_dynamic_weights,
    compute_priority_score,
    explain_priority,
    rank,
)
from selfplay_core.reducer import Transition, reduce
from selfplay_core.replay import counterfactual, replay, replay_report
from selfplay_core.state import SchedulerState
from selfplay_core.values import (
    ClusterSignals,
    ConfigPriority,
    DynamicWeights,
    PriorityBreakdown,
    PriorityInputs,
)

__all__ = [
    "ALL_CONFIGS",
    "AllocationDecided",
    "AllocationManager",
    "AllocationRequest",
    "Backpressure",
    "BatchAllocation",
    "ClusterSignals",
    "ClusterState",
    "ConfigKey",
    "ConfigKeyError",
    "ConfigPriority",
    "DecodeError",
    "DynamicWeights",
    "Envelope",
    "Event",
    "NodeAllocation",
    "NodeCapability",
    "PolicyError",
    "PriorityBreakdown",
    "PriorityCalculator",
    "PriorityInputs",
    "SchedulerPolicy",
    "SchedulerState",
    "SourcesRefreshed",
    "Tick",
    "Transition",
    "allocate",
    "cluster_signals",
    "compute_dynamic_weights",
    "compute_priority_score",
    "counterfactual",
    "decide",
    "decode",
    "encode",
    "explain_priority",
    "make_envelope",
    "rank",
    "reduce",
    "replay",
    "replay_report",
]
