"""`selfplay_shell.compat`: the reference module's public names over this library.

Replace ``from app.coordination.selfplay_scheduler import …`` with
``from selfplay_shell.compat import …``: the same names (`SelfplayScheduler` with the reference's
constructor callbacks, `ConfigPriority` with its computed properties, `NodeCapability`,
`DynamicWeights`, `get_selfplay_scheduler`, `reset_selfplay_scheduler`, `ALL_CONFIGS` as plain
strings and the constants), string keys in and out. It only translates: every number comes from
`SchedulerPolicy()`, every property and decision from the core's functions, every change of
state from an event the core applies. What a user can see differ: docs/deviations.md ("Compat").
"""

from selfplay_core import DynamicWeights
from selfplay_core.status import HealthReport as HealthCheckResult
from selfplay_shell.compat.callbacks import CallbackAccessor
from selfplay_shell.compat.constants import *  # noqa: F403 - the reference's constants
from selfplay_shell.compat.constants import __all__ as _constants
from selfplay_shell.compat.records import ConfigPriority, NodeCapability
from selfplay_shell.compat.scheduler import (
    UNUSED_CALLBACKS,
    ReferenceCallbacks,
    SelfplayScheduler,
    get_selfplay_scheduler,
    reset_selfplay_scheduler,
)

__all__ = [
    *_constants,
    "UNUSED_CALLBACKS",
    "CallbackAccessor",
    "ConfigPriority",
    "DynamicWeights",
    "HealthCheckResult",
    "NodeCapability",
    "ReferenceCallbacks",
    "SelfplayScheduler",
    "get_selfplay_scheduler",
    "reset_selfplay_scheduler",
]
