"""`IdWindow`: the last N envelope ids of a log, each with where it is.

The reader reports an id seen within its window as `duplicate_id` and replay skips that
line; the writer keeps the same window and refuses such an id before writing it. Memory is
bounded by the window, whatever the log's length.
"""

from __future__ import annotations

from collections import deque

__all__ = ["IdWindow", "Where"]

# (file, line number): where an id was written or read
Where = tuple[str, int]


class IdWindow:
    """The last `size` ids added (every id when `size` is None), oldest forgotten first."""

    __slots__ = ("_order", "_seen", "_size")

    def __init__(self, size: int | None) -> None:
        if size is not None and size <= 0:
            raise ValueError("an id window must be positive or None")
        self._size = size
        self._seen: dict[str, Where] = {}
        self._order: deque[str] = deque()

    def __contains__(self, ident: object) -> bool:
        return ident in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def get(self, ident: str) -> Where | None:
        """Where `ident` was added, if it is still in the window."""
        return self._seen.get(ident)

    def add(self, ident: str, where: Where) -> None:
        """Remember `ident` (the caller checked it is not in the window)."""
        self._seen[ident] = where
        if self._size is not None:
            order = self._order
            order.append(ident)
            if len(order) > self._size:
                del self._seen[order.popleft()]
