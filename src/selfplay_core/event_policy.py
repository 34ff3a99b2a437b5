"""Event-handling and runtime constants (events.md): boosts, expiries, dedup window, timers.

Owned by the events work (issue 4); composed into `SchedulerPolicy.events`.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class EventPolicy:
    """Placeholder until the events issue fills it in."""
