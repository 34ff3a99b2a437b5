"""The README's library example runs and says what it claims."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_block_after(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, f"no python block after {heading!r}"
    return match.group(1)


def test_library_example_runs_and_matches_its_comments() -> None:
    namespace: dict[str, Any] = {}
    exec(_python_block_after("## The core as a library"), namespace)
    ranked, batch = namespace["ranked"], namespace["batch"]
    assert str(ranked[0].config_key) == "hexagonal_4p"
    assert round(ranked[0].score, 2) == 25.69
    assert batch.as_reference_dict()["hexagonal_4p"] == {"gh200-1": 1801, "vast-4090": 200}
    assert sum(batch.unplaced.values()) > 0  # two nodes cannot take it all: reported
    assert namespace["why"].multipliers.starvation == 5.0
