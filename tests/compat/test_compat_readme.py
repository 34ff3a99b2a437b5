"""The README's migration example ("replace this import") runs as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from selfplay_shell.compat import reset_selfplay_scheduler

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_migration_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Migrating from RingRift: replace this import", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert block is not None
    assert "from selfplay_shell.compat import (" in block.group(1)
    reset_selfplay_scheduler()
    namespace: dict[str, Any] = {}
    try:
        exec(block.group(1), namespace)
    finally:
        reset_selfplay_scheduler()
    assert "Spawning paused (sync_failed:gpu-7)" in capsys.readouterr().out
    assert namespace["record"].config_key == "square19_2p"
