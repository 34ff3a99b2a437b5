"""Many allocation rounds on a changing cluster (selfplay_core.testing.allocation_machine)."""

from __future__ import annotations

import attrs
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from selfplay_core.policy import SchedulerPolicy
from selfplay_core.testing.allocation_machine import AllocationMachine, make_allocation_machine

AllocationMachine.TestCase.settings = settings(
    AllocationMachine.TestCase.settings, stateful_step_count=30, max_examples=40
)
TestAllocationMachine = AllocationMachine.TestCase


def test_the_machine_runs_on_a_custom_policy() -> None:
    base = SchedulerPolicy()
    policy = attrs.evolve(
        base, allocation=attrs.evolve(base.allocation, min_games_per_allocation=50)
    )
    machine = make_allocation_machine(policy, max_nodes=6)
    run_state_machine_as_test(
        machine, settings=settings(max_examples=15, stateful_step_count=20, deadline=None)
    )
