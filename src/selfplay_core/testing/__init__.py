"""Testing aids shipped with the library (extra `[testing]`, needs hypothesis).

- `strategies`: hypothesis strategies for nodes, clusters, priorities and allocation requests.
- `guarantees.check_batch`: asserts every guarantee of one allocation batch.
- `allocation_machine`: a `RuleBasedStateMachine` running many rounds on a changing cluster;
  `make_allocation_machine(policy)` runs it against your own policy.
- `events`: strategies for events and envelopes.
"""
