"""Configs → games: per-config counts, starvation floors and 4p minimums (§batch, §starvation).

Floors and minimums are constraints met while the counts are decided, not patches applied to a
node-level dict afterwards, so no pass can undo another (reference R5) and games are moved, never
created or lost, by the 4p step (R2, R3). Node placement is a separate step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import attrs

from selfplay_core.allocation.values import canonical
from selfplay_core.configs import ConfigKey
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.values import ConfigPriority

_DEFAULT_POLICY = SchedulerPolicy()

EMERGENCY = "emergency"
CRITICAL = "critical"
NOT_STARVED = "none"


def unique_priorities(priorities: Iterable[ConfigPriority]) -> dict[ConfigKey, ConfigPriority]:
    """One priority per config; a repeated config keeps its highest score (then its lowest game
    count), so the result does not depend on input order."""
    best: dict[ConfigKey, ConfigPriority] = {}
    for p in priorities:
        seen = best.get(p.config_key)
        if seen is None or (p.score, -p.games_count) > (seen.score, -seen.games_count):
            best[p.config_key] = p
    return best


def ranked(priorities: Mapping[ConfigKey, ConfigPriority]) -> list[ConfigPriority]:
    """Descending score, ties in canonical config order (the reference's stable sort)."""
    return sorted(priorities.values(), key=lambda p: (-p.score, p.config_key.index))


def select_configs(
    priorities: Mapping[ConfigKey, ConfigPriority], max_configs: int
) -> tuple[list[ConfigPriority], dict[ConfigKey, str]]:
    """The top `max_configs` by score with a positive score; the others with the reason."""
    eligible: list[ConfigPriority] = []
    skipped: dict[ConfigKey, str] = {}
    for position, p in enumerate(ranked(priorities)):
        if position >= max_configs:
            skipped[p.config_key] = f"below the top {max_configs} configs"
        elif not p.score > 0:
            skipped[p.config_key] = f"score {p.score!r} ≤ 0"
        else:
            eligible.append(p)
    return eligible, skipped


def starvation_level(games_count: int, policy: SchedulerPolicy = _DEFAULT_POLICY) -> str:
    if games_count < policy.starvation.emergency_games:
        return EMERGENCY
    if games_count < policy.starvation.critical_games:
        return CRITICAL
    return NOT_STARVED


def floor_games(
    level: str, games_per_config: int, policy: SchedulerPolicy = _DEFAULT_POLICY
) -> int:
    """EMERGENCY → ⌊2G⌋, CRITICAL → ⌊1.5G⌋, otherwise 0."""
    a = policy.allocation
    if level == EMERGENCY:
        return math.floor(a.emergency_floor_factor * games_per_config)
    if level == CRITICAL:
        return math.floor(a.critical_floor_factor * games_per_config)
    return 0


def starvation_floors(
    priorities: Mapping[ConfigKey, ConfigPriority],
    games_per_config: int,
    policy: SchedulerPolicy = _DEFAULT_POLICY,
) -> dict[ConfigKey, int]:
    """Floor per starved config (any score, any rank: the floor is their route in)."""
    floors: dict[ConfigKey, int] = {}
    for key in canonical(priorities):
        level = starvation_level(priorities[key].games_count, policy)
        floor = floor_games(level, games_per_config, policy)
        if floor > 0:
            floors[key] = floor
    return floors


def batch_games_per_config(
    priorities: Mapping[ConfigKey, ConfigPriority],
    eligible: Sequence[ConfigPriority],
    games_per_config: int,
    target_games: int | None,
    policy: SchedulerPolicy = _DEFAULT_POLICY,
) -> int:
    """G, the unit of floors (2G, 1.5G) and 4p minimums (1.5G): `games_per_config` in reference
    mode; in budget mode the batch's even share ⌊N / k⌋ (k = configs in the batch: eligible or
    starved), capped at `games_per_config`, so floors and minimums scale with the budget."""
    if target_games is None:
        return games_per_config
    in_batch = {p.config_key for p in eligible} | {
        k for k, p in priorities.items() if starvation_level(p.games_count, policy) != NOT_STARVED
    }
    if not in_batch:
        return games_per_config
    return min(games_per_config, target_games // len(in_batch))


def reference_games(score: float, games_per_config: int, policy: SchedulerPolicy) -> int:
    """§batch: max(MIN, ⌊G·(0.5 + s)⌋)."""
    return max(
        policy.allocation.min_games_per_allocation, math.floor(games_per_config * (0.5 + score))
    )


def four_player_minimum(games_per_config: int, policy: SchedulerPolicy = _DEFAULT_POLICY) -> int:
    return math.floor(policy.allocation.four_player_minimum_factor * games_per_config)


def donor_keep(games_per_config: int, policy: SchedulerPolicy = _DEFAULT_POLICY) -> int:
    return math.floor(policy.allocation.donor_keep_factor * games_per_config)


def largest_remainder(
    total: int, weights: Sequence[tuple[ConfigKey, float]]
) -> dict[ConfigKey, int]:
    """Share `total` in proportion to the weights: floors of the quotas, then one more game to
    the largest remainders (ties in canonical order). Sums to `total` when any weight is > 0."""
    positive = [(key, w) for key, w in weights if w > 0]
    shares = {key: 0 for key, _ in weights}
    weight_sum = math.fsum(w for _, w in positive)
    if total <= 0 or not positive or not weight_sum > 0:
        return shares
    quotas = [(key, total * (w / weight_sum)) for key, w in positive]
    for key, q in quotas:
        shares[key] = min(total, math.floor(q))
    by_remainder = sorted(quotas, key=lambda kq: (-(kq[1] - math.floor(kq[1])), kq[0].index))
    left = total - sum(shares.values())
    if left > 0:
        # one game each down the remainder order, as many rounds as needed: with a huge total
        # the float quotas can fall short by far more than one round, so count the rounds
        rounds, extra = divmod(left, len(by_remainder))
        for position, (key, _) in enumerate(by_remainder):
            shares[key] += rounds + (1 if position < extra else 0)
        left = 0
    if left < 0:
        _take_back(shares, [key for key, _ in reversed(by_remainder)], -left)
    return shares


def _take_back(shares: dict[ConfigKey, int], order: list[ConfigKey], over: int) -> None:
    """Float quotas that overshoot the total: take `over` games back, one game at a time from
    each config that has one, smallest remainder first (a game or two for a usual total), in
    whole rounds when the total is so large that floats overshoot by many games."""
    while over > 0:
        holders = [key for key in order if shares[key] > 0]
        rounds, extra = divmod(over, len(holders))
        for position, key in enumerate(holders):
            taken = min(shares[key], rounds + (1 if position < extra else 0))
            shares[key] -= taken
            over -= taken


def allocate_to_configs(
    priorities: Iterable[ConfigPriority],
    games_per_config: int,
    policy: SchedulerPolicy = _DEFAULT_POLICY,
    *,
    max_configs: int = 12,
    target_games: int | None = None,
    reserved: Mapping[ConfigKey, int] | None = None,
) -> dict[ConfigKey, int]:
    """Games per config from the scores alone (no floors, no minimums).

    Reference mode (`target_games` None): max(MIN, ⌊G·(0.5 + s)⌋) for each of the top
    `max_configs` configs with a positive score. Budget mode: `reserved` games first, then the
    rest of `target_games` by largest remainder on the weights 0.5 + s."""
    unique = unique_priorities(priorities)
    eligible, _ = select_configs(unique, max_configs)
    if target_games is None:
        return {p.config_key: reference_games(p.score, games_per_config, policy) for p in eligible}
    held = dict(reserved or {})
    pool = max(0, target_games - sum(held.values()))
    if eligible:
        weights = [(p.config_key, 0.5 + p.score) for p in sorted(eligible, key=_canonical)]
    else:
        weights = [(key, float(held[key])) for key in canonical(held)]
    shares = largest_remainder(pool, weights)
    keys = canonical(set(held) | set(shares))
    return {k: held.get(k, 0) + shares.get(k, 0) for k in keys if held.get(k, 0) + shares.get(k, 0)}


def _canonical(p: ConfigPriority) -> int:
    return p.config_key.index


def enforce_starvation_floor(
    counts: Mapping[ConfigKey, int],
    priorities: Iterable[ConfigPriority],
    games_per_config: int,
    policy: SchedulerPolicy = _DEFAULT_POLICY,
) -> dict[ConfigKey, int]:
    """Raise every starved config to its floor (EMERGENCY ⌊2G⌋, CRITICAL ⌊1.5G⌋) with new games;
    no count is lowered. Configs without a priority (unknown game count) are left alone."""
    floors = starvation_floors(unique_priorities(priorities), games_per_config, policy)
    return raise_to_floors(counts, floors)


def raise_to_floors(
    counts: Mapping[ConfigKey, int], floors: Mapping[ConfigKey, int]
) -> dict[ConfigKey, int]:
    """`counts` with every config in `floors` raised to its floor (canonical order)."""
    raised = dict(counts)
    for key, floor in floors.items():
        raised[key] = max(raised.get(key, 0), floor)
    return {key: raised[key] for key in canonical(raised)}


@attrs.frozen
class Transfer:
    """`games` moved from a 2p donor to a 4p config by the 4p-minimum step."""

    donor: ConfigKey
    recipient: ConfigKey
    games: int


def batch_order(
    counts: Mapping[ConfigKey, int], priorities: Mapping[ConfigKey, ConfigPriority]
) -> list[ConfigKey]:
    """The reference's dict order: configs by descending score (ties canonical), then the ones
    without a priority in canonical order."""
    with_score = [k for k in counts if k in priorities]
    with_score.sort(key=lambda k: (-priorities[k].score, k.index))
    return with_score + canonical(k for k in counts if k not in priorities)


def four_player_transfers(
    counts: Mapping[ConfigKey, int],
    priorities: Iterable[ConfigPriority],
    games_per_config: int,
    policy: SchedulerPolicy = _DEFAULT_POLICY,
) -> tuple[dict[ConfigKey, int], tuple[Transfer, ...]]:
    """§four-player as whole-config transfers: each 4p config in the batch below ⌊1.5G⌋ takes the
    shortfall from the 2p configs in batch order (highest score first); a donor keeps at least
    max(⌊0.5G⌋, its own starvation floor). Totals are conserved exactly."""
    unique = unique_priorities(priorities)
    floors = starvation_floors(unique, games_per_config, policy)
    return transfers_to_4p(counts, unique, floors, games_per_config, policy)


def transfers_to_4p(
    counts: Mapping[ConfigKey, int],
    unique: Mapping[ConfigKey, ConfigPriority],
    floors: Mapping[ConfigKey, int],
    games_per_config: int,
    policy: SchedulerPolicy,
) -> tuple[dict[ConfigKey, int], tuple[Transfer, ...]]:
    """`four_player_transfers` given the unique priorities and their starvation floors."""
    minimum = four_player_minimum(games_per_config, policy)
    keep = donor_keep(games_per_config, policy)
    result = dict(counts)
    # a 4p config given with 0 games is still a recipient (the reference meant to create its
    # entry, but lost the games instead: R3)
    order = batch_order(counts, unique)
    donors = [k for k in order if k.players == 2 and counts[k] > 0]
    transfers: list[Transfer] = []
    for recipient in (k for k in order if k.players == 4):
        shortfall = max(0, minimum - result[recipient])
        for donor in donors:
            if shortfall <= 0:
                break
            guard = max(keep, floors.get(donor, 0))
            steal = min(shortfall, max(0, result[donor] - guard))
            if steal > 0:
                result[donor] -= steal
                result[recipient] += steal
                shortfall -= steal
                transfers.append(Transfer(donor, recipient, steal))
    return {k: result[k] for k in canonical(result)}, tuple(transfers)


def enforce_4p_minimums(
    counts: Mapping[ConfigKey, int],
    priorities: Iterable[ConfigPriority],
    games_per_config: int,
    policy: SchedulerPolicy = _DEFAULT_POLICY,
) -> dict[ConfigKey, int]:
    """The counts after the 4p-minimum transfers (see `four_player_transfers`)."""
    return four_player_transfers(counts, priorities, games_per_config, policy)[0]
