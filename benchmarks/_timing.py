"""Small timing helpers shared by the benchmark modules (best medians and best rates, not
means: the machine is shared, and noise only ever slows a run down)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(
    fn: Callable[[], object], *, repeat: int = 200, warmup: int = 20, rounds: int = 5
) -> float:
    """Wall time of one call of `fn`, in seconds: the median of `repeat` calls, taken in
    `rounds` separate rounds, and the lowest of those medians reported.

    The median shrugs off single slow calls; taking the best round shrugs off a slow stretch
    of a shared machine (a neighbour's burst lasts longer than one call). Like `timeit`'s
    advice to take the minimum: the fastest round is the one least disturbed."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(rounds):
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        best = min(best, statistics.median(samples))
    return best


def throughput(fn: Callable[[], int], *, repeat: int = 5) -> float:
    """Best items-per-second over `repeat` runs of `fn`, which returns how many items it did."""
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        n = fn()
        elapsed = time.perf_counter() - start
        best = max(best, n / elapsed)
    return best


def reference_loop_ms() -> float:
    """Best of five runs of a fixed pure-Python loop (a million additions), in milliseconds.

    Not a figure of this library: a yardstick of how fast the machine was at that moment, so
    a report taken while a shared host was slow can be told from a regression (every figure
    slows together, and so does this one)."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        total = 0
        for number in range(1_000_000):
            total += number
        best = min(best, time.perf_counter() - start)
    return round(1000 * best, 2)
