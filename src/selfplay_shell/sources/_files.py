"""Reading small JSON/YAML state files with failures that say what was wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeGuard

from selfplay_shell.eventlog.jsonline import checked_nesting
from selfplay_shell.sources.errors import SourceFailure


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SourceFailure("missing", "no such file", str(path)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceFailure("io", f"cannot read: {exc}", str(path)) from exc


def read_json_object(path: Path) -> dict[str, Any]:
    text = read_text(path)
    try:
        data = json.loads(checked_nesting(text))
    except RecursionError as exc:
        raise SourceFailure("invalid", "malformed JSON: nesting too deep", str(path)) from exc
    except ValueError as exc:  # bad JSON, an integer past the digit limit
        raise SourceFailure("invalid", f"malformed JSON: {exc}", str(path)) from exc
    if not isinstance(data, dict):
        raise SourceFailure(
            "invalid", f"expected a JSON object, got {type(data).__name__}", str(path)
        )
    return data


# The YAML stores are shallow configuration files (a few levels). PyYAML's scanner slows down
# quadratically with the depth of flow collections (`[[[…`) and its composer recurses per
# level, so a hostile file thousands of levels deep would keep a read busy for seconds before
# failing; it is refused up front instead.
MAX_YAML_FLOW_NESTING = 100


def flow_nesting(text: str) -> int:
    """The deepest nesting of YAML flow collections (`[` `{`) outside quotes and comments."""
    depth = deepest = 0
    quote = ""
    previous = "\n"
    for char in text:
        if quote:
            if char == quote or (char == "\n" and quote == "#"):
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and previous in " \t\n":
            quote = "#"  # a comment runs to the end of the line
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
        previous = char
    return deepest


def parse_yaml(text: str, path: Path) -> Any:
    try:
        import yaml
    except ImportError as exc:  # PyYAML ships with the [cli] extra
        raise SourceFailure("unexpected", "PyYAML is not installed", str(path)) from exc
    if flow_nesting(text) > MAX_YAML_FLOW_NESTING:
        raise SourceFailure("invalid", "malformed YAML: nesting too deep", str(path))
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SourceFailure(
            "invalid", f"malformed YAML: {exc}".replace("\n", " "), str(path)
        ) from exc
    except RecursionError as exc:
        raise SourceFailure("invalid", "malformed YAML: nesting too deep", str(path)) from exc
    except ValueError as exc:  # an integer past the digit limit
        raise SourceFailure("invalid", f"malformed YAML: {exc}", str(path)) from exc


def is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
