"""selfplay_core: the pure functional core of selfplay-scheduler.

No clock, I/O, randomness, logging or environment here: time is data.
"""

from selfplay_core.cluster import NodeCapability
from selfplay_core.configs import ALL_CONFIGS, ConfigKey, ConfigKeyError
from selfplay_core.policy import PolicyError, SchedulerPolicy

__all__ = [
    "ALL_CONFIGS",
    "ConfigKey",
    "ConfigKeyError",
    "NodeCapability",
    "PolicyError",
    "SchedulerPolicy",
]
