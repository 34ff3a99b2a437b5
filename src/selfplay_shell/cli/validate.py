"""`selfplay-scheduler validate`: decode every line of a log and report its problems."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from returns.result import Failure

from selfplay_shell.cli.output import EXIT_DIFFERS, EXIT_OK, Output, count, new_table, print_json
from selfplay_shell.replay_files import check_readable, count_lines


def cmd_validate(args: argparse.Namespace, out: Output) -> int:
    from selfplay_shell.eventlog import read_log

    check_readable(args.log)  # not an event log at all: exit 2, like replay and status
    records = read_log(args.log)
    lines = good = 0
    errors: dict[str, int] = {}
    warnings: dict[str, int] = {}
    problems: list[dict[str, Any]] = []
    total = count_lines(args.log)
    with out.progress(total, "validating") as bar:
        for record in records:
            lines += 1
            if bar is not None:
                bar(record)
            result = record.result
            found = list(record.warnings)
            problem = result.failure() if isinstance(result, Failure) else None
            if problem is None:
                good += 1
            else:
                found.insert(0, problem)
            for p in found:
                bucket = errors if p.severity == "error" else warnings
                bucket[p.kind.value] = bucket.get(p.kind.value, 0) + 1
                if len(problems) < args.max_problems:
                    problems.append(
                        {
                            "path": p.path,
                            "line": p.line_no,
                            "field": p.field_path,
                            "kind": p.kind.value,
                            "severity": p.severity,
                            "reason": p.reason,
                        }
                    )
    data = {
        "log": args.log,
        "records": lines,
        "good": good,
        "errors": sum(errors.values()),
        "warnings": sum(warnings.values()),
        "errors_by_kind": dict(sorted(errors.items())),
        "warnings_by_kind": dict(sorted(warnings.items())),
        "problems": problems,
        "problems_truncated": len(problems) < sum(errors.values()) + sum(warnings.values()),
    }
    code = EXIT_DIFFERS if errors else EXIT_OK
    if args.json:
        print_json(data)
        return code
    _render_validation(out, data)
    return code


def _render_validation(out: Output, data: dict[str, Any]) -> None:
    verdict = ("valid", "bold green") if not data["errors"] else ("has errors", "bold red")
    out.line(
        f"{data['log']}: ",
        verdict,
        f" — {count(data['records'])} records, {count(data['good'])} good, "
        f"{count(data['errors'])} errors, {count(data['warnings'])} warnings",
    )
    if data["problems"]:
        table = new_table("Problems")
        for column in ("line", "severity", "kind", "field", "reason"):
            table.add_column(column, justify="right" if column == "line" else "left")
        for p in data["problems"]:
            table.add_row(
                f"{Path(p['path']).name}:{p['line']}",
                p["severity"],
                p["kind"],
                p["field"],
                p["reason"],
            )
        out.print(table)
        if data["problems_truncated"]:
            out.line("(more problems not listed: --max-problems)")
