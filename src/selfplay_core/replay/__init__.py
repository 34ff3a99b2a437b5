"""Replay: fold a recorded stream of envelopes through `reduce`, and check every decision.

`replay(state0, items, policy)` yields one `Step` per item (`fold`); at each
`AllocationDecided` the decision is made again from the replayed state and compared with the
recorded one by their encoded JSON text, byte for byte (`checking`). `summarize(steps)` folds
the steps into a `ReplayReport`, and `replay_verdict(report)` says what it proves: every line
replayed and every decision identical, or why not (`report`). `counterfactual(state0, items,
policy)` replays the same items under another policy (`counterfactual`). A `Snapshot` (state,
policy, position, and the identity of its log) lets a long log resume where a replay stopped,
and is refused for any other log or position (`snapshots`, `identity`).

Every name below is importable from `selfplay_core.replay`, as before the modules were split.
"""

from selfplay_core.replay.checking import (
    Decider,
    DecisionCheck,
    Difference,
    canonical_json,
    check_decision,
    first_difference,
    same_json,
)
from selfplay_core.replay.counterfactual import (
    CounterfactualReport,
    DecisionDelta,
    StarvationFigures,
    counterfactual,
    starvation_figures,
)
from selfplay_core.replay.fold import Item, Outcome, Rejected, Step, envelope_of, replay
from selfplay_core.replay.identity import EnvelopeMark, LogIdentity, envelope_digest
from selfplay_core.replay.report import (
    MAX_REJECTIONS,
    ReplayReport,
    Skipped,
    Verdict,
    VerdictKind,
    replay_report,
    replay_verdict,
    summarize,
)
from selfplay_core.replay.snapshots import (
    SNAPSHOT_FORMAT,
    SNAPSHOT_VERSION,
    Snapshot,
    SnapshotMismatch,
    decode_snapshot,
    encode_snapshot,
    items_after,
    snapshot_of,
)

__all__ = [
    "MAX_REJECTIONS",
    "SNAPSHOT_FORMAT",
    "SNAPSHOT_VERSION",
    "CounterfactualReport",
    "Decider",
    "DecisionCheck",
    "DecisionDelta",
    "Difference",
    "EnvelopeMark",
    "Item",
    "LogIdentity",
    "Outcome",
    "Rejected",
    "ReplayReport",
    "Skipped",
    "Snapshot",
    "SnapshotMismatch",
    "StarvationFigures",
    "Step",
    "Verdict",
    "VerdictKind",
    "canonical_json",
    "check_decision",
    "counterfactual",
    "decode_snapshot",
    "encode_snapshot",
    "envelope_digest",
    "envelope_of",
    "first_difference",
    "items_after",
    "replay",
    "replay_report",
    "replay_verdict",
    "same_json",
    "snapshot_of",
    "starvation_figures",
    "summarize",
]
