"""Throttled counts that never rise when the throttle tightens (backpressure × health).

Backpressure and the cluster health factor compose into one factor f ≤ 1 that scales G (and the
budget). A guarantee that compares only the throttled count with the unthrottled one (f = 1) is
not enough: health and backpressure are throttles on top of each other, so *every* tighter
throttle must give at most what a milder one gives, i.e. the final count must be non-decreasing
in f.

The per-config counts at a given G are not monotone in G: the 4p minimum ⌊1.5G⌋ and the donor
guard ⌊0.5G⌋ scale with G while counts clamped up to MIN (100) do not, and the floors of
products add ±1 steps. Example: G 150 moves 75 games from square19_2p (150 → 75) to hex8_4p,
but at G 75 both hold MIN = 100 and square19_2p only gives 12 (→ 88 > 75).

So the throttled count in reference mode is the smallest count any G between the throttled and
the unthrottled one would give (the largest monotone function below the per-G counts; equal to
the per-G count wherever that is already monotone), and in budget mode the throttled budget is
apportioned with a house-monotone method (Sainte-Laguë / Webster), which, unlike largest
remainder (the Alabama paradox), never takes a game away when the total grows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from selfplay_core.allocation.configs import (
    CRITICAL,
    EMERGENCY,
    starvation_level,
)
from selfplay_core.configs import ConfigKey
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.values import ConfigPriority


def monotone_reference_counts(
    unique: Mapping[ConfigKey, ConfigPriority],
    eligible: Sequence[ConfigPriority],
    g_low: int,
    g_high: int,
    policy: SchedulerPolicy,
) -> dict[ConfigKey, int]:
    """Per config, the minimum over G in [g_low, g_high] of the reference-mode count at G (base
    max(MIN, ⌊G·(0.5+s)⌋), starvation floor, then the 4p transfers), configs with 0 left out.

    The same arithmetic as `allocation._reference_counts`, on plain integers per G (it runs for
    every G in the range, a few µs each, when the batch has a 2p and a 4p config)."""
    a = policy.allocation
    chunk = a.min_games_per_allocation
    scores = {p.config_key: 0.5 + p.score for p in eligible}
    floor_factor: dict[ConfigKey, float] = {}
    for key, p in unique.items():
        level = starvation_level(p.games_count, policy)
        if level == EMERGENCY:
            floor_factor[key] = a.emergency_floor_factor
        elif level == CRITICAL:
            floor_factor[key] = a.critical_floor_factor
    # batch order (descending score, canonical ties): every key here has a priority
    keys = sorted(set(scores) | set(floor_factor), key=lambda k: (-unique[k].score, k.index))
    n = len(keys)
    weight = [scores.get(k) for k in keys]
    factor = [floor_factor.get(k, 0.0) for k in keys]
    minimum_factor, keep_factor = a.four_player_minimum_factor, a.donor_keep_factor
    twos = [i for i, k in enumerate(keys) if k.players == 2]
    fours = [
        i
        for i, k in enumerate(keys)
        if k.players == 4 and _can_fall_short(weight[i], factor[i], minimum_factor, chunk, g_high)
    ]
    transfers = bool(twos) and bool(fours)
    best = [0] * n
    # every G for the 2p and 4p configs (the 4p step makes them non-monotone in G); the others
    # are a max of floors of products, already monotone in G, so their smallest is at g_low
    for g in range(g_low, (g_high if transfers else g_low) + 1):
        scan = range(n) if g == g_low else twos + fours
        floors = [0] * n
        counts = [0] * n
        present = [False] * n
        for i in scan:
            w = weight[i]
            floor = math.floor(factor[i] * g)
            c = 0
            if w is not None:
                c = max(chunk, math.floor(g * w))
                present[i] = True
            if floor > 0:
                present[i] = True
                c = max(c, floor)
            floors[i] = floor
            counts[i] = c
        if transfers:
            minimum = math.floor(minimum_factor * g)
            keep = math.floor(keep_factor * g)
            donors = [i for i in twos if counts[i] > 0]
            for r in fours:
                if not present[r]:
                    continue
                shortfall = max(0, minimum - counts[r])
                for d in donors:
                    if shortfall <= 0:
                        break
                    steal = min(shortfall, max(0, counts[d] - max(keep, floors[d])))
                    if steal > 0:
                        counts[d] -= steal
                        counts[r] += steal
                        shortfall -= steal
        for i in scan:
            if g == g_low or counts[i] < best[i]:
                best[i] = counts[i]
    return {keys[i]: best[i] for i in range(n) if best[i] > 0}


def _can_fall_short(
    weight: float | None, floor_factor: float, minimum_factor: float, chunk: int, g_high: int
) -> bool:
    """Can a 4p config hold fewer than its minimum ⌊m·G⌋ at some G ≤ `g_high`? Not when its
    own count ⌊w·G⌋ or floor ⌊φ·G⌋ grows at least as fast as the minimum (floating-point
    products are monotone in the factor, so ⌊w·G⌋ ≥ ⌊m·G⌋ at every G when w ≥ m), nor when the
    minimum never exceeds the MIN chunk it already holds. A config that is never short receives
    nothing at any G, so leaving it out of the scan changes no count: when no 4p config can be
    short, every count is monotone in G and the scan is the single G = g_low."""
    if floor_factor >= minimum_factor:
        return False
    if weight is None:
        return True
    return weight < minimum_factor and math.floor(minimum_factor * g_high) > chunk


def _better(w_a: int, seat_a: int, index_a: int, w_b: int, seat_b: int, index_b: int) -> bool:
    """Does seat `seat_a` (1-based) of a weigh more than seat `seat_b` of b? Sainte-Laguë
    quotients w / (2·seat − 1), compared exactly; ties go to the canonical config order."""
    left = w_a * (2 * seat_b - 1)
    right = w_b * (2 * seat_a - 1)
    return left > right or (left == right and index_a < index_b)


def house_monotone_shares(total: int, weights: Mapping[ConfigKey, int]) -> dict[ConfigKey, int]:
    """Share `total` (≤ Σ weights) by Sainte-Laguë on integer weights: the `total` best seats
    of one fixed order, so a config's share never falls when `total` grows, and at
    total = Σ weights every config gets exactly its weight (so never more than it)."""
    keys = sorted((k for k, w in weights.items() if w > 0), key=lambda k: k.index)
    shares = dict.fromkeys(weights, 0)
    whole = sum(weights[k] for k in keys)
    if total <= 0 or not keys:
        return shares
    total = min(total, whole)
    w = [weights[k] for k in keys]
    idx = [k.index for k in keys]
    # start near the answer (rounded quotas, exact integers), then repair to the best seats
    seats = [min(w[i], (2 * total * w[i] + whole) // (2 * whole)) for i in range(len(keys))]

    def best_out() -> int:
        pick = -1
        for i in range(len(keys)):
            if seats[i] < w[i] and (
                pick < 0 or _better(w[i], seats[i] + 1, idx[i], w[pick], seats[pick] + 1, idx[pick])
            ):
                pick = i
        return pick

    def worst_in() -> int:
        pick = -1
        for i in range(len(keys)):
            if seats[i] > 0 and (
                pick < 0 or _better(w[pick], seats[pick], idx[pick], w[i], seats[i], idx[i])
            ):
                pick = i
        return pick

    held = sum(seats)
    while held < total:
        seats[best_out()] += 1
        held += 1
    while held > total:
        seats[worst_in()] -= 1
        held -= 1
    while True:
        i, o = worst_in(), best_out()
        if i < 0 or o < 0 or i == o:
            break
        if not _better(w[o], seats[o] + 1, idx[o], w[i], seats[i], idx[i]):
            break
        seats[i] -= 1
        seats[o] += 1
    for k, s in zip(keys, seats, strict=True):
        shares[k] = s
    return shares
