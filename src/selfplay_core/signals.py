"""Small per-config values that data sources report (shared by the accessor and the events)."""

from __future__ import annotations

import attrs

from selfplay_core._validators import finite


@attrs.frozen
class FeedbackSignal:
    """What the feedback controller says of one config (reference §sources)."""

    exploration_boost: float = attrs.field(default=1.0, validator=finite)
    training_pending: bool = False
