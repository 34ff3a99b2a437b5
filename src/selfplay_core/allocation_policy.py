"""Allocation, node-cap and job-target constants of the reference (allocation.md §1, §10).

Owned by the allocation work (issue 3); composed into `SchedulerPolicy.allocation`.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class AllocationPolicy:
    """Placeholder until the allocation issue fills it in."""
