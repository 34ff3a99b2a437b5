"""Invariants of the source readers, over generated stores (real SQLite files, real YAML)."""

from __future__ import annotations

import math
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from selfplay_core.configs import ALL_CONFIGS, BOARDS
from selfplay_shell import AccessorConfig
from selfplay_shell.sources._base import ReadContext
from selfplay_shell.sources.config import BOARD_ALIASES, Anchors
from selfplay_shell.sources.elo import slope_per_day
from selfplay_shell.sources.games import GameCountReader
from selfplay_shell.sources.improvement import improvement_boost
from selfplay_shell.sources.momentum import STATE_MULTIPLIERS, momentum_multiplier
from selfplay_shell.sources.overrides import read_overrides
from selfplay_shell.sources.signals import normalise_weights

BOARD_TEXT = st.sampled_from((*BOARDS, *sorted(BOARD_ALIASES), "", "octagon"))
ROW = st.tuples(BOARD_TEXT, st.sampled_from((0, 2, 3, 4, 5)), st.none() | st.integers(1, 4))
# Files the discovery patterns find, central and per-config alike.
FILE_NAMES = (
    "data/games/selfplay.db",
    "data/games/hex8_2p.db",
    "data/games/square19_3p.db",
    "data/selfplay/canonical_square8_4p.db",
    "data/games/canonical_extra.db",
    "data/selfplay/unified_a/games.db",
)


def _context(root: Path) -> ReadContext:
    config = AccessorConfig(game_root_candidates=("{root}",), game_db_workers=1)
    return ReadContext(Anchors(root, root), config, time.time(), time.monotonic() + 10.0)


# The index layouts that select each counting plan (none, v15's, one covering index).
INDEX_SETS = {
    "none": (),
    "v15": (
        "CREATE INDEX idx_games_board_players ON games (board_type, num_players)",
        "CREATE INDEX idx_games_winner ON games (winner)",
    ),
    "covering": ("CREATE INDEX idx_cover ON games (num_players, winner, board_type)",),
}


def _write(path: Path, rows: list[tuple[str, int, int | None]], indexes: str = "none") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute(
            "CREATE TABLE games (game_id TEXT PRIMARY KEY, board_type TEXT, num_players INTEGER,"
            " winner INTEGER)"
        )
        conn.executemany(
            "INSERT INTO games VALUES (?, ?, ?, ?)",
            [(f"{path.name}-{i}", b, n, w) for i, (b, n, w) in enumerate(rows)],
        )
        for statement in INDEX_SETS[indexes]:
            conn.execute(statement)
    conn.close()


@given(
    files=st.dictionaries(
        st.sampled_from(FILE_NAMES), st.lists(ROW, min_size=1, max_size=12), min_size=1
    ),
    links=st.lists(
        st.sampled_from(("data/games/hex8_2.db", "data/games/hex8_extra.db")), max_size=2
    ),
    plans=st.lists(
        st.sampled_from(sorted(INDEX_SETS)), min_size=len(FILE_NAMES), max_size=len(FILE_NAMES)
    ),
)
def test_game_counts_equal_completed_rows_of_each_distinct_file(
    files: dict[str, list[tuple[str, int, int | None]]], links: list[str], plans: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, rows in files.items():  # each file's indexes pick one of the counting plans
            _write(root / name, rows, plans[FILE_NAMES.index(name)])
        target = root / sorted(files)[0]
        for link in dict.fromkeys(links):  # a symlink and a hard link to an existing file
            (root / link).parent.mkdir(parents=True, exist_ok=True)
            if link.endswith("hex8_2.db"):
                (root / link).symlink_to(target)
            else:
                os.link(target, root / link)
        counts = GameCountReader()(_context(root)).value
    expected = dict.fromkeys(ALL_CONFIGS, 0)
    for rows in files.values():  # every distinct file exactly once, links add nothing
        for board, players, winner in rows:
            name = f"{BOARD_ALIASES.get(board, board)}_{players}p"
            for key in ALL_CONFIGS:
                if str(key) == name and winner is not None:
                    expected[key] += 1
    assert list(counts) == list(ALL_CONFIGS)
    assert dict(counts) == expected


@given(
    epoch=st.floats(0, 4e9),
    rate=st.floats(-1.0, 1.0),
    gaps=st.lists(st.floats(1.0, 86400.0), min_size=1, max_size=30),
)
def test_velocity_is_the_exact_slope_at_any_epoch(
    epoch: float, rate: float, gaps: list[float]
) -> None:
    times = [epoch]
    for gap in gaps:
        times.append(times[-1] + gap)
    points = [(t, 1500.0 + rate * (t - epoch)) for t in times]
    assert math.isclose(slope_per_day(points), rate * 86400.0, rel_tol=1e-6, abs_tol=1e-6)


@given(
    st.dictionaries(
        st.sampled_from([str(k) for k in ALL_CONFIGS] + ["extra_9p", "hex_2p"]),
        st.floats(0.0, 5.0),
    )
)
def test_curriculum_weights_have_mean_one_over_all_keys(raw: dict[str, float]) -> None:
    weights = normalise_weights(raw)
    assert list(weights) == list(ALL_CONFIGS)
    keys = {str(k) for k in ALL_CONFIGS} | set(raw)
    filled = {k: raw.get(k, 1.0) for k in keys}
    total = math.fsum(filled.values())
    extras = math.fsum(v for k, v in filled.items() if k not in {str(c) for c in ALL_CONFIGS})
    scale = len(keys) / total if total > 0 and abs(total - len(keys)) > 0.01 else 1.0
    assert math.isclose(math.fsum(weights.values()) + extras * scale, total * scale, rel_tol=1e-9)
    if scale != 1.0:
        assert math.isclose(total * scale / len(keys), 1.0, rel_tol=1e-9)


@given(
    promotions=st.integers(0, 10),
    own=st.floats(0.0, 2.0),
    gain=st.floats(-100.0, 200.0),
    parity=st.floats(0.0, 1.0),
)
def test_improvement_boost_is_clamped(
    promotions: int, own: float, gain: float, parity: float
) -> None:
    state = {
        "consecutive_promotions": promotions,
        "best_elo_gain": gain,
        "parity_success_rate": parity,
        "config_boosts": {"hex8_2p": own},
    }
    for key in ALL_CONFIGS:
        assert -0.10 <= improvement_boost(state, key) <= 0.15


@given(st.sampled_from(sorted(STATE_MULTIPLIERS)), st.integers(0, 20), st.integers(0, 20))
def test_momentum_multiplier_stays_in_range(state: str, improvements: int, plateaus: int) -> None:
    assert 0.5 <= momentum_multiplier(state, improvements, plateaus) <= 1.5


@given(
    st.dictionaries(
        st.sampled_from([str(k) for k in ALL_CONFIGS] + ["bogus_9p"]),
        st.one_of(st.integers(-2, 9), st.text(max_size=3), st.booleans(), st.none()),
    )
)
def test_override_levels_are_always_0_to_3(levels: dict[str, object]) -> None:
    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "config").mkdir()
        (root / "config" / "unified_loop.yaml").write_text(
            yaml.safe_dump({"selfplay": {"board_priority_overrides": levels}})
        )
        config = AccessorConfig(overrides_yaml_candidates=("{root}/config/unified_loop.yaml",))
        ctx = ReadContext(Anchors(root, root), config, time.time(), time.monotonic() + 5)
        got = read_overrides(ctx).value
    assert list(got) == list(ALL_CONFIGS)
    for key, level in got.items():
        given_level = levels.get(str(key))
        valid = type(given_level) is int and 0 <= given_level <= 3
        assert level == (given_level if valid else 3)
