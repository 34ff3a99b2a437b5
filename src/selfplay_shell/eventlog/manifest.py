"""The manifest of a rotated log: its segments in order, written atomically.

Layout: the first segment is the base path itself (`events.jsonl`), later ones are
`events.000001.jsonl`, `events.000002.jsonl`, …; the manifest is `events.jsonl.manifest.json`.
A log that never rotated is just the base file, with or without a manifest.

Crash safety: on rotation the manifest naming the new segment is replaced (temp file,
fsync, rename, fsync directory) *before* the segment is created, so a crash leaves at
worst a listed segment that is missing or empty — never an unlisted one holding data.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import attrs

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_SUFFIX",
    "Manifest",
    "ManifestError",
    "SegmentInfo",
    "manifest_path_for",
    "read_manifest",
    "segment_path",
    "write_manifest",
]

MANIFEST_FORMAT = "selfplay-eventlog-manifest"
MANIFEST_VERSION = 1
MANIFEST_SUFFIX = ".manifest.json"


class ManifestError(ValueError):
    """The manifest file is not a manifest this version understands."""


@attrs.frozen
class SegmentInfo:
    """One segment: its file (relative to the manifest) and what it held when last recorded.

    `first_line`/`last_line` are log-wide line numbers (1-based; `last_line` is
    `first_line - 1` for an empty segment). `closed` segments were rotated away and are
    never appended to again; the last one is the writer's, and may have grown since the
    manifest was written if the writer crashed (the reader reads every file to its end).
    """

    file: str
    first_line: int
    last_line: int
    bytes: int = 0
    first_id: str | None = None
    first_at: float | None = None
    last_id: str | None = None
    last_at: float | None = None
    closed: bool = False

    @property
    def records(self) -> int:
        return self.last_line - self.first_line + 1

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "first_line": self.first_line,
            "last_line": self.last_line,
            "records": self.records,
            "bytes": self.bytes,
            "first": None if self.first_id is None else {"id": self.first_id, "at": self.first_at},
            "last": None if self.last_id is None else {"id": self.last_id, "at": self.last_at},
            "closed": self.closed,
        }

    @classmethod
    def from_json(cls, raw: object) -> SegmentInfo:
        if not isinstance(raw, dict):
            raise ManifestError("segment entry is not an object")
        try:
            first = raw.get("first") or {}
            last = raw.get("last") or {}
            info = cls(
                file=_str(raw["file"], "file"),
                first_line=_int(raw["first_line"], "first_line"),
                last_line=_int(raw["last_line"], "last_line"),
                bytes=_int(raw.get("bytes", 0), "bytes"),
                first_id=first.get("id"),
                first_at=first.get("at"),
                last_id=last.get("id"),
                last_at=last.get("at"),
                closed=bool(raw.get("closed", False)),
            )
        except (KeyError, AttributeError) as error:
            raise ManifestError(f"segment entry lacks {error}") from None
        if "/" in info.file or "\\" in info.file or info.file in ("", ".", ".."):
            raise ManifestError(f"segment file {info.file!r} must be a plain file name")
        return info


@attrs.frozen
class Manifest:
    segments: tuple[SegmentInfo, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "segments": [segment.to_json() for segment in self.segments],
        }


def _str(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ManifestError(f"{name} must be a string")
    return value


def _int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ManifestError(f"{name} must be a non-negative integer")
    return value


def manifest_path_for(base: Path) -> Path:
    return base.with_name(base.name + MANIFEST_SUFFIX)


def segment_path(base: Path, index: int) -> Path:
    """Segment 0 is the base file; segment n is `<stem>.<n:06d><suffix>` beside it."""
    if index == 0:
        return base
    name = base.name
    stem, dot, suffix = name.partition(".")
    return base.with_name(f"{stem}.{index:06d}{dot}{suffix}")


def read_manifest(path: Path) -> Manifest:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise ManifestError(f"{path}: not JSON: nesting too deep to parse") from None
    except ValueError as error:  # bad UTF-8, bad JSON, an integer past the digit limit
        raise ManifestError(f"{path}: not JSON: {error}") from None
    if not isinstance(raw, dict) or raw.get("format") != MANIFEST_FORMAT:
        raise ManifestError(f"{path}: not an event-log manifest")
    if raw.get("version") != MANIFEST_VERSION:
        raise ManifestError(f"{path}: manifest version {raw.get('version')!r} is not supported")
    segments = raw.get("segments")
    if not isinstance(segments, list):
        raise ManifestError(f"{path}: segments must be a list")
    return Manifest(tuple(SegmentInfo.from_json(item) for item in segments))


def write_manifest(path: Path, manifest: Manifest, *, durable: bool = True) -> None:
    """Replace `path` atomically: temp file in the same directory, fsync, rename, fsync dir.

    On any failure (a full disk) the temp file is removed and `path` is as it was; the
    `OSError` is raised. A stale temp file (or a link in its place) is removed first, and
    the temp file is created exclusively, so nothing but our own new file is written.
    """
    data = json.dumps(manifest.to_json(), indent=2, sort_keys=True, allow_nan=False) + "\n"
    temp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb", buffering=0) as handle:
            view = memoryview(data.encode("utf-8"))
            while view:
                view = view[handle.write(view) or 0 :]
            if durable:
                os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    if durable:
        fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make a rename or file creation in `directory` durable (no-op where unsupported)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
