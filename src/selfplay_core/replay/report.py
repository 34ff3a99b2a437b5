"""What a replay found, and what it proves.

`summarize(steps)` folds the steps into a `ReplayReport` in memory independent of the log's
length (the first `MAX_REJECTIONS` rejection reasons are kept, the first line not replayed,
and only the first difference in full). `replay_verdict(report)` says what the report
proves: every line replayed and every decision identical, or not, and why, in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

from selfplay_core.events import Envelope
from selfplay_core.policy import SchedulerPolicy
from selfplay_core.replay.checking import DecisionCheck
from selfplay_core.replay.fold import REFERENCE_POLICY, Item, Outcome, Rejected, Step, replay
from selfplay_core.replay.identity import EnvelopeMark
from selfplay_core.state import SchedulerState

__all__ = [
    "MAX_REJECTIONS",
    "ReplayReport",
    "Skipped",
    "Verdict",
    "VerdictKind",
    "replay_report",
    "replay_verdict",
    "summarize",
]

#: How many rejection reasons a report keeps in full (the count is always exact).
MAX_REJECTIONS: Final = 100


@attrs.frozen
class Skipped:
    """A line a replay read but did not replay: its position in the stream, what happened
    to it (`Outcome.REJECTED`, `UNKNOWN` or `DUPLICATE`), where the reader found it
    (file:line, when it said) and why."""

    position: int
    outcome: str
    where: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "outcome": self.outcome,
            "where": self.where,
            "reason": self.reason,
        }


def _skipped(step: Step) -> Skipped:
    if step.rejection is not None:
        return Skipped(step.position, step.outcome, step.rejection.where, step.rejection.reason)
    envelope = step.envelope
    assert envelope is not None  # only a rejected line has no envelope
    if step.outcome == Outcome.UNKNOWN:
        reason = (
            f"envelope {envelope.id!r} has a type this library does not know: {envelope.type!r}"
        )
    else:
        reason = f"envelope {envelope.id!r} repeats an id already applied"
    return Skipped(step.position, step.outcome, "", reason)


@attrs.frozen
class ReplayReport:
    """What a replay found. `items` = every item seen (envelopes and rejected lines);
    `applied` + `unknown` + `duplicates` + `ignored` + `rejected` == `items`.

    `rejections` holds the first `MAX_REJECTIONS` reasons; `first_skipped` is the first line
    not replayed (rejected, of an unknown type, or a repeated id); `first_difference` is the
    first decision that did not replay identically, in full (both results, the state it came
    from). `first_envelope` and `last_envelope` pin the stream's first and last envelopes
    (what a snapshot records of its log).
    """

    items: int = 0
    applied: int = 0
    unknown: int = 0
    duplicates: int = 0
    ignored: int = 0
    rejected: int = 0
    rejections: tuple[Rejected, ...] = ()
    decisions_checked: int = 0
    decisions_identical: int = 0
    first_difference: DecisionCheck | None = None
    first_at: float | None = None
    last_at: float | None = None
    unknown_types: Mapping[str, int] = attrs.field(factory=lambda: MappingProxyType({}))
    final_state: SchedulerState | None = None
    final_position: int = 0
    first_skipped: Skipped | None = None
    first_envelope: EnvelopeMark | None = None
    last_envelope: EnvelopeMark | None = None

    @property
    def decisions_differing(self) -> int:
        return self.decisions_checked - self.decisions_identical

    @property
    def all_identical(self) -> bool:
        return self.decisions_checked == self.decisions_identical

    @property
    def skipped(self) -> int:
        """Lines read but not replayed: rejected, of an unknown type, or a repeated id."""
        return self.rejected + self.unknown + self.duplicates

    @property
    def envelopes(self) -> int:
        """Items that were envelopes (every item but the rejected lines)."""
        return self.items - self.rejected

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (the CLI's `replay --json`)."""
        first = self.first_difference
        skipped = self.first_skipped
        return {
            "items": self.items,
            "applied": self.applied,
            "unknown": self.unknown,
            "duplicates": self.duplicates,
            "ignored": self.ignored,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "first_skipped": None if skipped is None else skipped.as_dict(),
            "rejections": [str(r) for r in self.rejections],
            "rejections_truncated": self.rejected > len(self.rejections),
            "decisions_checked": self.decisions_checked,
            "decisions_identical": self.decisions_identical,
            "decisions_differing": self.decisions_differing,
            "first_difference": None if first is None else first.as_dict(),
            "first_at": self.first_at,
            "last_at": self.last_at,
            "unknown_types": dict(self.unknown_types),
            "final_position": self.final_position,
        }


#: The outcomes of a line read but not replayed.
_SKIPPED: Final = (Outcome.REJECTED, Outcome.UNKNOWN, Outcome.DUPLICATE)


def summarize(
    steps: Iterable[Step],
    *,
    initial: SchedulerState | None = None,
    start_position: int = 0,
    on_step: Callable[[Step], None] | None = None,
) -> ReplayReport:
    """Fold steps into a report. Memory stays flat: counters, the first `MAX_REJECTIONS`
    reasons, the first line skipped, the first difference. `initial`/`start_position` are
    what an empty stream ends at; `on_step` (e.g. a progress bar) sees every step."""
    applied = ignored = checked = identical = 0
    skipped: dict[str, int] = dict.fromkeys(_SKIPPED, 0)
    rejections: list[Rejected] = []
    first: DecisionCheck | None = None
    first_skipped: Skipped | None = None
    first_envelope: tuple[int, Envelope] | None = None
    last_envelope: Envelope | None = None
    last_position = position = start_position - 1
    final_state: SchedulerState | None = initial
    unknown_types: dict[str, int] = {}
    applied_kind = Outcome.APPLIED
    for step in steps:
        if on_step is not None:
            on_step(step)
        position, envelope, outcome, final_state, _, decision, rejection = step
        if envelope is not None:
            last_envelope, last_position = envelope, position
            if first_envelope is None:
                first_envelope = (position, envelope)
        if outcome == applied_kind:  # the usual step: nothing else to note
            applied += 1
            if decision is not None:
                checked += 1
                if decision.identical:
                    identical += 1
                elif first is None:
                    first = decision
        elif outcome == Outcome.IGNORED:
            ignored += 1
        else:
            skipped[outcome] += 1
            first_skipped = first_skipped or _skipped(step)
            if rejection is not None and len(rejections) < MAX_REJECTIONS:
                rejections.append(rejection)
            if outcome == Outcome.UNKNOWN and envelope is not None:
                unknown_types[envelope.type] = unknown_types.get(envelope.type, 0) + 1
    return ReplayReport(
        items=applied + ignored + sum(skipped.values()),
        applied=applied,
        unknown=skipped[Outcome.UNKNOWN],
        duplicates=skipped[Outcome.DUPLICATE],
        ignored=ignored,
        rejected=skipped[Outcome.REJECTED],
        rejections=tuple(rejections),
        decisions_checked=checked,
        decisions_identical=identical,
        first_difference=first,
        first_at=None if first_envelope is None else first_envelope[1].at,
        last_at=None if last_envelope is None else last_envelope.at,
        unknown_types=MappingProxyType(dict(sorted(unknown_types.items()))),
        final_state=final_state,
        final_position=position + 1,
        first_skipped=first_skipped,
        first_envelope=None if first_envelope is None else EnvelopeMark.of(*first_envelope),
        last_envelope=None
        if last_envelope is None
        else EnvelopeMark.of(last_position, last_envelope),
    )


def replay_report(
    state0: SchedulerState,
    items: Iterable[Item],
    policy: SchedulerPolicy = REFERENCE_POLICY,
    *,
    start_position: int = 0,
    on_step: Callable[[Step], None] | None = None,
) -> ReplayReport:
    """`summarize(replay(...))`: the report of replaying `items` from `state0` under `policy`."""
    steps = replay(state0, items, policy, start_position=start_position)
    return summarize(steps, initial=state0, start_position=start_position, on_step=on_step)


# --- the verdict -------------------------------------------------------------------------------


class VerdictKind:
    """What a replay proves (plain strings, stable in reports)."""

    IDENTICAL: Final = "identical"  # every line replayed, every decision made again identical
    DIFFERS: Final = "differs"  # a recorded decision was decided differently
    INCOMPLETE: Final = "incomplete"  # lines were read but not replayed (nothing differed)


def _one_line(text: object) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


@attrs.frozen
class Verdict:
    """A report's verdict: its kind (`VerdictKind`), and one line saying why (anything
    unprintable a log brought in, a newline or a lone surrogate, is shown escaped)."""

    kind: str
    message: str = attrs.field(converter=_one_line)

    @property
    def ok(self) -> bool:
        return self.kind == VerdictKind.IDENTICAL

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "ok": self.ok, "message": self.message}


def replay_verdict(
    report: ReplayReport,
    *,
    lenient: bool = False,
    compare_decisions: bool = True,
    first_skipped_at: str | None = None,
) -> Verdict:
    """What `report` proves, exactly.

    IDENTICAL only when every line was replayed (nothing rejected, of an unknown type, or a
    repeated id: each of those may have been a decision, so the check would be short) and
    every decision checked came out identical. DIFFERS when a decision differs (whatever
    else); INCOMPLETE when lines were skipped, with their count and the first one.
    `lenient` accepts skipped lines (they are still named in the message);
    `compare_decisions=False` (a counterfactual, where differences are the point) judges
    only whether every line was replayed. `first_skipped_at` locates the first skipped line
    better than the report can (e.g. `file:line`, from whoever read the file).
    """
    decisions = f"{report.decisions_checked} decision(s) checked"
    skipped = _skipped_text(report, first_skipped_at)
    if compare_decisions and not report.all_identical:
        first = report.first_difference
        assert first is not None  # a differing decision is always kept
        text = (
            f"{report.decisions_differing} of {report.decisions_checked} decision(s) differ;"
            f" the first is decision {first.number} (envelope {first.envelope_id!r})"
        )
        if first.difference is not None:
            text += f", at {first.difference}"
        return Verdict(VerdictKind.DIFFERS, text + (f"; also {skipped}" if skipped else ""))
    if skipped and not lenient:
        return Verdict(VerdictKind.INCOMPLETE, f"{skipped}; {decisions}")
    what = "identical" if compare_decisions else "made again under the other policy"
    text = f"all {report.decisions_checked} decision(s) {what}; "
    if skipped:
        return Verdict(VerdictKind.IDENTICAL, text + f"{skipped} (accepted: lenient)")
    return Verdict(VerdictKind.IDENTICAL, text + f"all {report.items} line(s) replayed")


def _skipped_text(report: ReplayReport, first_skipped_at: str | None) -> str:
    first = report.first_skipped
    if first is None:
        return ""
    kinds = [
        (report.rejected, "rejected"),
        (report.unknown, "of an unknown type"),
        (report.duplicates, "a repeated id"),
    ]
    parts = ", ".join(f"{n} {what}" for n, what in kinds if n)
    where = first_skipped_at or first.where or f"item {first.position}"
    return f"{report.skipped} line(s) not replayed ({parts}), the first at {where}: {first.reason}"
