"""A small real filesystem that fills up: a 256 KiB tmpfs, mounted for one test.

Mounting needs root (CI runs as root); elsewhere the tests using it skip, saying why. The
disk is filled with a filler file to leave exactly as much room as a test wants, and freed
again by shrinking the filler ("space returns").
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SIZE = 256 * 1024
PAGE = 4096


@contextlib.contextmanager
def small_disk(directory: Path) -> Iterator[Path]:
    """A fresh 256 KiB tmpfs at `directory`, unmounted afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE // 1024}k", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not permitted'})")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False, capture_output=True)


class Filler:
    """A file that takes up the disk's free space, all of it or all but `room` bytes."""

    def __init__(self, disk: Path) -> None:
        self.path = disk / "filler.bin"
        self.path.touch()

    def fill(self, room: int = 0) -> None:
        """Grow the filler until the disk is full, then give back `room` bytes (rounded up to
        whole pages, as tmpfs counts them)."""
        with self.path.open("ab", buffering=0) as handle:
            chunk = b"\0" * PAGE
            while True:
                try:
                    handle.write(chunk)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break
        if room:
            size = self.path.stat().st_size
            os.truncate(self.path, max(0, size - -(-room // PAGE) * PAGE))

    def free(self) -> None:
        os.truncate(self.path, 0)


def digest(path: Path) -> str:
    """The SHA-256 of a file's bytes (following no link: a link is hashed as its target text)."""
    if path.is_symlink():
        return "link:" + os.readlink(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_digest(directory: Path) -> dict[str, str]:
    """Every entry of `directory` with its digest (what a refusal must leave unchanged)."""
    return {
        str(path.relative_to(directory)): digest(path)
        for path in sorted(directory.rglob("*"))
        if path.is_symlink() or path.is_file()
    }
