"""`EloSeries`: the ELO_UPDATED observations of one config, as a persistent value.

Successive series share one append-only log of (at, elo) points (`_PointLog`), each series
seeing the slice `[start, end)` of it, so appending to the newest series and dropping points
older than the window are O(1) and O(log n) instead of copying the window on every update;
appending to an older series (a branch) copies its window first. Equality is by content.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator

import attrs

__all__ = ["EloSeries"]


class _PointLog:
    """The append-only list of (at, elo) points shared by successive `EloSeries` values (their
    one mutable part, never visible outside this module)."""

    __slots__ = ("points", "top")

    def __init__(self, points: list[tuple[float, float]]) -> None:
        self.points = points
        self.top = len(points)  # the end of the newest series


@attrs.frozen(eq=False, repr=False)
class EloSeries:
    """ELO_UPDATED observations of one config, (at, elo) oldest first."""

    _log: _PointLog
    _start: int
    _end: int

    @classmethod
    def of(cls, points: Iterable[tuple[float, float]] = ()) -> EloSeries:
        kept = [(float(t), float(elo)) for t, elo in points]
        return cls(_PointLog(kept), 0, len(kept))

    @property
    def points(self) -> tuple[tuple[float, float], ...]:
        return tuple(self._log.points[self._start : self._end])

    @property
    def first(self) -> tuple[float, float]:
        return self._log.points[self._start]

    @property
    def last(self) -> tuple[float, float]:
        return self._log.points[self._end - 1]

    def appended(self, at: float, elo: float, cutoff: float) -> EloSeries:
        """This series without points before `cutoff`, with (at, elo) appended (`at` ≥ every
        point's time: the reducer's clock never goes back)."""
        log, start, end = self._log, self._start, self._end
        if end != log.top:  # a branch: copy this series' window
            log = _PointLog(list(log.points[start:end]))
            start, end = 0, log.top
        points = log.points
        if start < end and points[start][0] < cutoff:
            start = bisect.bisect_left(points, (cutoff,), start, end)
        points.append((at, elo))
        end += 1
        log.top = end
        if start > 1024 and 2 * start > end:  # mostly dropped points: compact
            log = _PointLog(points[start:end])
            start, end = 0, log.top
        return EloSeries(log, start, end)

    def ends(self) -> tuple[int, float, float, float]:
        """(number of points, first time, first Elo, last Elo): what a velocity needs."""
        points = self._log.points
        first_t, first_elo = points[self._start]
        return self._end - self._start, first_t, first_elo, points[self._end - 1][1]

    def __len__(self) -> int:
        return self._end - self._start

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return iter(self.points)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EloSeries):
            return NotImplemented
        return self.points == other.points

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EloSeries({list(self.points)!r})"

    def __to_data__(self) -> list[list[float]]:
        """Plain data for snapshots: [[at, elo], ...]."""
        return [[t, elo] for t, elo in self.points]

    @classmethod
    def __from_data__(cls, data: object) -> EloSeries:
        if not isinstance(data, list | tuple):
            raise TypeError(f"elo series: expected a list, got {type(data).__name__}")
        points: list[tuple[float, float]] = []
        for i, point in enumerate(data):
            ok = isinstance(point, list | tuple) and len(point) == 2
            if not ok or not all(type(x) in (int, float) and math.isfinite(x) for x in point):
                raise ValueError(f"elo series.{i}: expected [at, elo], finite numbers")
            points.append((float(point[0]), float(point[1])))
        return cls.of(points)
