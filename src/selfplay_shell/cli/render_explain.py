"""The tables of `selfplay-scheduler explain`, made to fit 100 columns: config names are never
cut (their column does not wrap; short headers, explained in a legend, keep the rest narrow),
long lists wrap, and excluded or unplaced reasons are grouped, one line per reason."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from selfplay_shell.cli.output import Output, cell, count, new_table, number, when
from selfplay_shell.explain import MULTIPLIERS, TERMS

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["render_explanation"]

#: Short column headers of the nine priority terms (the legend says what each is).
TERM_HEADERS: Final = {
    "staleness": "stale",
    "velocity": "velo",
    "training": "train",
    "exploration": "explo",
    "curriculum": "curric",
    "improvement": "improv",
    "quality": "qual",
    "data_deficit": "deficit",
    "voi": "voi",
}
#: Short column headers of the seven multipliers.
MULTIPLIER_HEADERS: Final = {
    "exploration_boost": "explore",
    "momentum": "momentum",
    "velocity": "velocity",
    "override": "override",
    "player_count": "players",
    "cascade": "cascade",
    "starvation": "starve",
}
LEGEND: Final = (
    "Legend. G: games per config the request asked for → after throttles. Terms are factor × "
    "weight (the weight under each name; the raw factors are in --json): stale = staleness, "
    "velo = Elo velocity (Elo per hour, as a factor in [0, 1]), train = training pending, "
    "explo = exploration boost − 1, curric = curriculum weight − 1, improv = improvement "
    "boost, qual = quality − its centre, deficit = data deficit, voi = value of information; "
    "base = their sum plus any quality penalty. Multipliers (1 = no change): players = "
    "player-count multiplier, "
    "cascade = ×1.5 while the board's 2p→3p→4p cascade is training that player count, "
    "starve = starvation tier; score = base × the multipliers. Counts are games; "
    "games so far = games the config had before this decision."
)


def _table(title: str) -> Table:
    table = new_table(title)
    table.add_column("config", no_wrap=True)
    return table


def render_explanation(out: Output, data: dict[str, Any], *, top: int | None) -> None:
    heading = f"decision {data['decision']}" if data["decision"] is not None else data["source"]
    request = data["request"]
    target = request["target_games"]
    out.line(
        (heading, "bold"),
        f" at {when(data['at'])} UTC — request: G = {cell(request['games_per_config'])} games "
        f"per config, at most {cell(request['max_configs'])} configs"
        + ("" if target is None else f", target {cell(target)} games"),
    )
    if data.get("note"):
        out.line(("note: ", "bold yellow"), data["note"])
    s = data["signals"]
    out.line(
        f"cluster signals: idle GPU fraction {number(s['idle_gpu_fraction'])}, training queue "
        f"{count(s['training_queue_depth'])}, configs at target "
        f"{number(s['configs_at_target_fraction'])}, average Elo {number(s['average_elo'])}"
    )
    rows = data["priorities"] if top is None else data["priorities"][:top]
    _render_ranking(out, rows)
    _render_terms(out, rows, data["weights"])
    _render_multipliers(out, rows)
    _render_allocation(out, data["allocation"])
    out.line(LEGEND)
    if data.get("replays_identical") is False:
        out.line(("This decision does not replay identically (see replay).", "bold red"))


def _render_ranking(out: Output, rows: list[dict[str, Any]]) -> None:
    table = _table("Ranking (highest score first)")
    for column in ("rank", "games so far", "starvation tier", "base", "score"):
        table.add_column(column, justify="left" if column == "starvation tier" else "right")
    for row in rows:
        table.add_row(
            row["config"],
            count(row["rank"]),
            count(row["games_count"]),
            row["tier"],
            number(row["base"]),
            number(row["score"]),
        )
    out.print(table)


def _render_terms(out: Output, rows: list[dict[str, Any]], weights: Mapping[str, float]) -> None:
    table = _table("Priority terms, factor × weight (like sprio)")
    for name, _ in TERMS:
        table.add_column(f"{TERM_HEADERS[name]}\n×{number(weights[name])}", justify="right")
    table.add_column("base", justify="right")
    for row in rows:
        table.add_row(
            row["config"], *(number(row["terms"][n]) for n, _ in TERMS), number(row["base"])
        )
    out.print(table)


def _render_multipliers(out: Output, rows: list[dict[str, Any]]) -> None:
    table = _table("Multipliers (×) and score")
    for name in MULTIPLIERS:
        table.add_column(MULTIPLIER_HEADERS[name], justify="right")
    table.add_column("score", justify="right")
    for row in rows:
        table.add_row(
            row["config"],
            *(number(row["multipliers"][n]) for n in MULTIPLIERS),
            number(row["score"]),
        )
    out.print(table)


#: The allocation table's columns: header, key in the explanation's per-config record.
_ALLOCATION_COLUMNS: Final = (
    ("from\nscore", "base_games"),
    ("floor", "floor_games"),
    ("4p\nmin", "minimum_games"),
    ("donated", "donated"),
    ("received", "received"),
    ("before\nthrottle", "unthrottled_games"),
    ("games", "games"),
    ("placed", "placed"),
    ("unplaced", "unplaced"),
)


def _render_allocation(out: Output, a: dict[str, Any]) -> None:
    budget = (
        f", budget {cell(a['requested_budget'])} → {cell(a['effective_budget'])} games"
        if a["requested_budget"] is not None
        else ""
    )
    out.line(
        ("allocation", "bold"),
        f" ({a['mode']} mode): G {cell(a['requested_games_per_config'])} → "
        f"{cell(a['effective_games_per_config'])}{budget}; throttle "
        f"×{number(a['throttle_multiplier'])}, health ×{number(a['health_factor'])}; "
        f"{count(a['total_games'])} games in this decision, {count(a['placed_games'])} placed on "
        f"nodes, {count(a['unplaced_games'])} unplaced",
    )
    table = _table("How each config's games came about (games)")
    for title, _ in _ALLOCATION_COLUMNS:
        table.add_column(title, justify="right")
    table.add_column("note", overflow="fold")
    for c in a["configs"]:
        table.add_row(
            c["config_key"], *(cell(c[key]) for _, key in _ALLOCATION_COLUMNS), str(c["note"])
        )
    out.print(table)
    for u in a["unmet"]:
        out.line(
            f"unmet {u['kind']} for {u['config_key']}: {cell(u['achieved'])} of "
            f"{cell(u['required'])} ({u['reason']})"
        )
    if a["nodes"]:
        _render_nodes(out, a["nodes"])
    _grouped(out, "excluded nodes", a["excluded_nodes"])
    _grouped(out, "unplaced configs", a["unplaced_reasons"])


def _render_nodes(out: Output, nodes: list[dict[str, Any]]) -> None:
    table = new_table("Placement on nodes (games; caps are per batch)")
    table.add_column("node", no_wrap=True)
    for column in ("games", "cap", "large-\nboard cap"):
        table.add_column(column, justify="right")
    table.add_column("games per config", ratio=1)
    for n in nodes:
        per = ", ".join(f"{k} {count(v)}" for k, v in n["by_config"].items())
        table.add_row(
            n["node"], count(n["games"]), count(n["games_cap"]), count(n["large_board_cap"]), per
        )
    out.print(table)


def _grouped(out: Output, what: str, reasons: Mapping[str, str]) -> None:
    """`what`, one line per distinct reason with the names that share it."""
    if not reasons:
        return
    by_reason: dict[str, list[str]] = {}
    for name, reason in reasons.items():
        by_reason.setdefault(reason, []).append(name)
    out.line((f"{what} ({len(reasons)}):", "bold"))
    for reason, names in by_reason.items():
        out.line(f"  {reason} ({len(names)}): {', '.join(names)}")
