"""The scheduler as a cluster service on Redis Streams (optional extra `[redis]`).

The input stream is the log: publishers (`RedisPublisher`) append envelopes, the leader appends
its ticks, refreshes and decisions through one fenced script, and every replica folds the same
stream through `reduce` into the same state, recording it in its local event log. See
`docs/redis.md` for the operator's guide.
"""

from selfplay_shell.redis.publisher import DEFAULT_CAP, RedisPublisher
from selfplay_shell.redis.replica import Replica, state_digest
from selfplay_shell.redis.service import ReplicaService, ServiceConfig, ServiceError, run_service
from selfplay_shell.redis.streams import StreamNames

__all__ = [
    "DEFAULT_CAP",
    "RedisPublisher",
    "Replica",
    "ReplicaService",
    "ServiceConfig",
    "ServiceError",
    "StreamNames",
    "run_service",
    "state_digest",
]
