"""Every test that `docs/` names as pinning a deviation exists."""

from __future__ import annotations

import re
from pathlib import Path

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
