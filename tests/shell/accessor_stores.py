"""Builders for the reference's real stores, with the fixtures of §sources.

Every function writes real files (SQLite, NPZ stand-ins, JSON, YAML) under a root `R` that plays
the reference's ``ai-service/`` directory.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

GAMES_COLUMNS = (
    "game_id TEXT PRIMARY KEY, board_type TEXT NOT NULL, num_players INTEGER NOT NULL,"
    " winner INTEGER, created_at TEXT NOT NULL, game_status TEXT NOT NULL"
)
GameRow = tuple[str, str, int, int | None, str, str]

SELFPLAY_ROWS: tuple[GameRow, ...] = (
    ("g1", "hex8", 2, 1, "2025-12-29T10:00:00", "completed"),
    ("g2", "hex8", 2, 2, "2025-12-29T11:00:00", "completed"),
    ("g3", "hex8", 2, None, "2025-12-29T12:00:00", "active"),
    ("g4", "square8", 3, 1, "2025-12-29T09:00:00", "completed"),
    ("g5", "hex", 2, 1, "2025-12-20T09:00:00", "completed"),
    ("g6", "hexagonal", 4, 3, "2025-12-28T09:00:00", "completed"),
)
HEX8_2P_ROWS: tuple[GameRow, ...] = (
    ("h1", "hex8", 2, 1, "2025-12-29T10:00:00", "completed"),
    ("h2", "hex8", 2, 2, "2025-12-29T10:05:00", "completed"),
    ("h3", "square19", 2, 1, "2025-12-29T10:06:00", "completed"),
)
CANONICAL_SQ8_4P_ROWS: tuple[GameRow, ...] = (
    ("c1", "square8", 4, 1, "2025-12-29T10:00:00", "completed"),
    ("c2", "square8", 4, None, "2025-12-29T10:00:00", "abandoned"),
)


def _connect(path: Path) -> sqlite3.Connection:
    """A writer connection without fsync: fixtures are rebuilt per test, durability is moot."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    return conn


def write_games_db(path: Path, rows: Iterable[GameRow]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with _connect(path) as conn:
        conn.execute(f"CREATE TABLE games ({GAMES_COLUMNS})")
        conn.executemany("INSERT INTO games VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.close()
    return path


def build_game_dbs(root: Path, *, symlink: bool = False) -> None:
    """§sources: three good databases, three negative ones, optionally the hex8_2.db symlink."""
    games = root / "data" / "games"
    write_games_db(games / "selfplay.db", SELFPLAY_ROWS)
    write_games_db(games / "hex8_2p.db", HEX8_2P_ROWS)
    write_games_db(root / "data" / "selfplay" / "canonical_square8_4p.db", CANONICAL_SQ8_4P_ROWS)
    (games / "canonical_empty.db").write_bytes(b"")
    with _connect(games / "canonical_nowinner.db") as conn:
        conn.execute(
            "CREATE TABLE games (game_id TEXT PRIMARY KEY, board_type TEXT, num_players INTEGER)"
        )
        conn.execute("INSERT INTO games VALUES ('n1', 'hex8', 2)")
    conn.close()
    (games / "canonical_corrupt.db").write_bytes(b"this is not an SQLite database\n" * 64)
    if symlink:
        (games / "hex8_2.db").symlink_to("hex8_2p.db")


# --- Elo (§sources) -------------------------------------------------------------------------------
ELO_RATINGS_UNION = (
    "participant_id TEXT NOT NULL, board_type TEXT NOT NULL, num_players INTEGER NOT NULL,"
    " rating REAL DEFAULT 1500.0, games_played INTEGER DEFAULT 0, wins INTEGER DEFAULT 0,"
    " losses INTEGER DEFAULT 0, draws INTEGER DEFAULT 0, last_update REAL,"
    " peak_rating REAL DEFAULT 1500.0, rating_deviation REAL DEFAULT 350.0,"
    " archived_at REAL, archive_reason TEXT,"
    " PRIMARY KEY (participant_id, board_type, num_players)"
)
ELO_RATINGS_SERVICE = (
    "participant_id TEXT NOT NULL, board_type TEXT NOT NULL, num_players INTEGER NOT NULL,"
    " rating REAL DEFAULT 1500.0, games_played INTEGER DEFAULT 0, wins INTEGER DEFAULT 0,"
    " losses INTEGER DEFAULT 0, draws INTEGER DEFAULT 0, last_update REAL,"
    " peak_rating REAL DEFAULT 1500.0,"
    " PRIMARY KEY (participant_id, board_type, num_players)"
)
PARTICIPANTS = (
    ("canonical_hex8_2p", "neural_net"),
    ("ringrift_hex8_2p_v3", "neural_net"),
    ("sq8_model_a", "neural_net"),
    ("sq8_model_b", "neural_net"),
    ("m1", "neural_net"),
    ("m2", "neural_net"),
    ("heuristic_d5", "heuristic"),
    ("none:random:d1", "random"),
)
# participant, board, players, rating, games, wins, losses, draws, archived_at, archive_reason
ELO_ROWS = (
    ("canonical_hex8_2p", "hex8", 2, 1720.5, 340, 200, 130, 10, None, None),
    ("ringrift_hex8_2p_v3", "hex8", 2, 1810.0, 50, 30, 20, 0, 1766950000.0, "culled"),
    ("heuristic_d5", "hex8", 2, 1550.0, 900, 400, 480, 20, None, None),
    ("none:random:d1", "hex8", 2, 400.0, 1200, 10, 1190, 0, None, None),
    ("sq8_model_a", "square8", 2, 1650.0, 3, 3, 0, 0, None, None),
    ("sq8_model_b", "square8", 2, 1600.0, 120, 70, 50, 0, None, None),
    ("m1", "square19", 3, 1490.0, 40, 10, 30, 0, None, None),
    ("m2", "square19", 3, 1490.0, 41, 11, 30, 0, None, None),
)
LAST_UPDATE = 1766990000.0


def build_elo_db(
    root: Path,
    *,
    with_archive: bool = True,
    history: Sequence[tuple[float, float]] = (),
    history_participant: str = "canonical",
) -> Path:
    """§sources, in the union layout (with archived_at) or the EloService-only layout."""
    path = root / "data" / "unified_elo.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    with _connect(path) as conn:
        conn.execute(
            "CREATE TABLE participants (participant_id TEXT PRIMARY KEY,"
            " participant_type TEXT NOT NULL DEFAULT 'model', ai_type TEXT)"
        )
        conn.executemany(
            "INSERT INTO participants (participant_id, ai_type) VALUES (?, ?)", PARTICIPANTS
        )
        layout = ELO_RATINGS_UNION if with_archive else ELO_RATINGS_SERVICE
        conn.execute(f"CREATE TABLE elo_ratings ({layout})")
        for row in ELO_ROWS:
            (pid, board, n, rating, games, wins, losses, draws, archived, reason) = row
            if with_archive:
                conn.execute(
                    "INSERT INTO elo_ratings (participant_id, board_type, num_players, rating,"
                    " games_played, wins, losses, draws, last_update, peak_rating, archived_at,"
                    " archive_reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        pid,
                        board,
                        n,
                        rating,
                        games,
                        wins,
                        losses,
                        draws,
                        LAST_UPDATE,
                        rating,
                        archived,
                        reason,
                    ),
                )
            else:
                conn.execute(
                    "INSERT INTO elo_ratings (participant_id, board_type, num_players, rating,"
                    " games_played, wins, losses, draws, last_update, peak_rating)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (pid, board, n, rating, games, wins, losses, draws, LAST_UPDATE, rating),
                )
        conn.execute("CREATE INDEX idx_elo_config ON elo_ratings (board_type, num_players)")
        if history:
            conn.execute(
                "CREATE TABLE elo_history (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " participant_id TEXT NOT NULL, board_type TEXT NOT NULL,"
                " num_players INTEGER NOT NULL, rating REAL NOT NULL, timestamp REAL NOT NULL,"
                " iteration INTEGER)"
            )
            conn.executemany(
                "INSERT INTO elo_history (participant_id, board_type, num_players, rating,"
                " timestamp) VALUES (?, 'hex8', 2, ?, ?)",
                [(history_participant, rating, t) for t, rating in history],
            )
    conn.close()
    return path


# --- NPZ (§sources) -------------------------------------------------------------------------------
def build_npz(root: Path, now: float | None = None) -> None:
    now = time.time() if now is None else now
    training = root / "data" / "training"
    training.mkdir(parents=True, exist_ok=True)
    for name, age in (
        ("hex8_2p.npz", 7200.0),
        ("square8_2p.npz", 1800.0),
        ("hex8_3p_v2.npz", 60.0),
    ):
        path = training / name
        path.write_bytes(b"PK\x03\x04 stand-in: only the mtime is read")
        os.utime(path, (now - age, now - age))


# --- momentum (§sources) --------------------------------------------------------------------------
MOMENTUM_ROWS = (
    ("hex8_2p", "accelerating", 3, 0),
    ("hex8_3p", "improving", 3, 0),
    ("square8_2p", "plateau", 0, 4),
    ("hexagonal_4p", "regressing", 0, 0),
    ("square19_2p", "stable", 0, 0),
)


def build_momentum_db(
    root: Path, rows: Sequence[tuple[str, str, int, int]] = MOMENTUM_ROWS
) -> Path:
    path = root / "data" / "feedback" / "accelerator_state.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    with _connect(path) as conn:
        conn.execute(
            "CREATE TABLE config_momentum (config_key TEXT PRIMARY KEY,"
            " current_elo REAL DEFAULT 1500,"
            " momentum_state TEXT DEFAULT 'stable', intensity TEXT DEFAULT 'normal',"
            " games_since_training INTEGER DEFAULT 0, last_training_time REAL DEFAULT 0,"
            " consecutive_improvements INTEGER DEFAULT 0, consecutive_plateaus INTEGER DEFAULT 0,"
            " last_promotion_elo REAL DEFAULT 1500, total_promotions INTEGER DEFAULT 0,"
            " updated_at REAL DEFAULT 0)"
        )
        conn.executemany(
            "INSERT INTO config_momentum (config_key, momentum_state, consecutive_improvements,"
            " consecutive_plateaus) VALUES (?, ?, ?, ?)",
            rows,
        )
    conn.close()
    return path


# --- JSON / YAML state (§sources) ------------------------------------------------------------
OPTIMIZER_STATE = {
    "consecutive_promotions": 2,
    "best_elo_gain": 64.0,
    "parity_success_rate": 0.95,
    "config_boosts": {"hex8_2p": 0.72},
}


def build_optimizer_state(root: Path, content: object = OPTIMIZER_STATE) -> Path:
    path = root / "logs" / "improvement_optimizer_state.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


OVERRIDES_YAML = """\
selfplay:
  board_priority_overrides:
    hexagonal_2p: 0
    square19_3p: 1
    square8_3p: 2
    hex8_2p: 3
    bogus_9p: 0
    square8_2p: "0"
"""


def build_overrides(root: Path, text: str = OVERRIDES_YAML) -> Path:
    path = root / "config" / "unified_loop.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


HOSTS_YAML = """\
hosts:
  lambda-gh200-a:
    status: ready
    gpu: "GH200 (96 GB)"
    gpu_vram_gb: 80
    ssh_host: 192.0.2.10
    ssh_user: ubuntu
    ringrift_path: ~/ringrift/ai-service
  vast-4090-b:
    status: ready
    gpu: "RTX 4090"
    ssh_host: 192.0.2.11
    ssh_user: root
    ringrift_path: /workspace/ringrift/ai-service
  old-node:
    status: terminated
    ssh_host: 192.0.2.12
  cpu-box:
    status: active
    gpu: none
    ssh_host: 192.0.2.13
    ssh_user: ubuntu
    ringrift_path: ~/ringrift/ai-service
"""


def build_hosts(root: Path, text: str = HOSTS_YAML) -> Path:
    path = root / "config" / "distributed_hosts.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def cluster_status_payload(now: float) -> dict[str, object]:
    """§sources, with GPU load and jobs for the inventory's hosts."""
    return {
        "success": True,
        "leader_id": "lambda-gh200-a",
        "peers": [
            {
                "node_id": "lambda-gh200-a",
                "disk_percent": 70,
                "selfplay_jobs": 3,
                "gpu_percent": 45,
                "status": "online",
                "last_seen": now,
            },
            {
                "node_id": "vast-4090-b",
                "disk_percent": 90,
                "selfplay_jobs": 1,
                "gpu_percent": 80,
                "status": "offline",
                "last_seen": now - 600,
            },
            {
                "node_id": "not-in-inventory",
                "selfplay_jobs": 9,
                "gpu_percent": 99,
                "status": "online",
                "last_seen": now,
            },
        ],
    }


def build_all(root: Path, *, symlink: bool = False) -> None:
    build_game_dbs(root, symlink=symlink)
    build_elo_db(root)
    build_npz(root)
    build_momentum_db(root)
    build_optimizer_state(root)
    build_overrides(root)
    build_hosts(root)


# --- queue monitor (§sources) ---------------------------------------------------------------------
def build_queue_monitor(root: Path, depth: int | None = 55, level: str = "none") -> Path:
    path = root / "coordination" / "queue_monitor.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with _connect(path) as conn:
        conn.execute(
            "CREATE TABLE queue_status (queue_type TEXT PRIMARY KEY,"
            " current_depth INTEGER NOT NULL,"
            " backpressure TEXT NOT NULL DEFAULT 'none', last_updated REAL NOT NULL,"
            " trend TEXT DEFAULT 'stable')"
        )
        if depth is not None:
            conn.execute(
                "INSERT INTO queue_status VALUES ('training_data', ?, ?, ?, 'stable')",
                (depth, level, time.time()),
            )
    conn.close()
    return path
