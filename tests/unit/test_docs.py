"""Every test that `docs/` names as pinning a deviation exists."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("deviations.md", "source-ownership.md")


def _defined_tests() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("*.py"):
        names.add(path.stem)
        names.update(re.findall(r"def (test_\w+)", path.read_text(encoding="utf-8")))
    return names


def test_every_test_named_in_the_docs_exists() -> None:
    text = "".join((ROOT / "docs" / name).read_text(encoding="utf-8") for name in DOCS)
    named = set(re.findall(r"\btest_\w+", text))
    assert len(named) > 100  # the deviations really are pinned by tests
    assert sorted(named - _defined_tests()) == []


def test_the_event_log_guide_runs_from_top_to_bottom(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/eventlog.md's python blocks, run in order in one namespace: write, read, replay,
    snapshot, counterfactual (each block asserts what it shows)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the guide's mkdtemp lands here
    text = (ROOT / "docs" / "eventlog.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    assert len(blocks) == 5
    namespace: dict[str, Any] = {}
    for block in blocks:
        exec(block, namespace)
    assert namespace["log_path"].parent.parent == tmp_path
    assert namespace["whatif"].as_dict()["decisions"] == 1
