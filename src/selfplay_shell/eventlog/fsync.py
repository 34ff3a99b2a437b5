"""`FsyncPolicy`: when the writer forces appended lines to disk, and the one call that does."""

from __future__ import annotations

import os
from typing import Any, Literal

import attrs

__all__ = ["FsyncMode", "FsyncPolicy", "sync_data"]

FsyncMode = Literal["always", "interval", "never"]


def _positive_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (not isinstance(value, int | float) or value <= 0):
        raise ValueError(f"{attribute.name} must be positive or None, got {value!r}")


@attrs.frozen
class FsyncPolicy:
    """When appended lines are forced to disk.

    `always`: after every append. `interval`: once `every_seconds` have passed or
    `every_records` appends have accumulated since the last sync, checked at append time
    (there is no background timer), and at close. `never`: leave it to the OS.
    """

    mode: FsyncMode = attrs.field(
        default="interval",
        validator=attrs.validators.in_(("always", "interval", "never")),
    )
    every_seconds: float | None = attrs.field(default=1.0, validator=_positive_or_none)
    every_records: int | None = attrs.field(default=None, validator=_positive_or_none)

    def __attrs_post_init__(self) -> None:
        if self.mode == "interval" and self.every_seconds is None and self.every_records is None:
            raise ValueError("an interval fsync policy needs every_seconds or every_records")

    @classmethod
    def always(cls) -> FsyncPolicy:
        return cls("always", None, None)

    @classmethod
    def never(cls) -> FsyncPolicy:
        return cls("never", None, None)

    @classmethod
    def interval(cls, seconds: float | None = 1.0, records: int | None = None) -> FsyncPolicy:
        return cls("interval", seconds, records)

    @classmethod
    def coerce(cls, value: FsyncPolicy | str) -> FsyncPolicy:
        if isinstance(value, FsyncPolicy):
            return value
        if value == "always":
            return cls.always()
        if value == "never":
            return cls.never()
        if value == "interval":
            return cls.interval()
        raise ValueError(f"unknown fsync policy {value!r}: use always, interval or never")


def sync_data(fd: int) -> None:
    # fdatasync is enough for appends (it flushes the size too) and cheaper where it exists.
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # pragma: no cover - macOS, Windows
        os.fsync(fd)
