"""What the scheduler knows about the nodes (plain data; the maths lives in allocation)."""

from __future__ import annotations

import attrs

from selfplay_core._validators import count, finite, non_negative


@attrs.frozen
class NodeCapability:
    """One node as last reported: GPU type and memory, load in [0, 1], running jobs."""

    node_id: str = attrs.field(validator=attrs.validators.min_len(1))
    gpu_type: str = "unknown"
    gpu_memory_gb: float = attrs.field(default=0.0, validator=non_negative)
    is_ephemeral: bool = False
    current_load: float = attrs.field(default=0.0, validator=finite)
    current_jobs: int = attrs.field(default=0, validator=count)
    data_lag_seconds: float = attrs.field(default=0.0, validator=non_negative)
