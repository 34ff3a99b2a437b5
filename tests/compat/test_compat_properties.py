"""Properties of the compat layer: its record is only a view of the core's functions, and a
timed pause holds exactly for its duration, whatever the numbers."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from selfplay_core import SchedulerPolicy, SourcesRefreshed
from selfplay_core import priority as core
from selfplay_shell.compat import ALL_CONFIGS, ConfigPriority, NodeCapability, SelfplayScheduler

POLICY = SchedulerPolicy()
numbers = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
non_negative = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)
counts = st.integers(min_value=0, max_value=10**7)


@given(
    key=st.sampled_from(ALL_CONFIGS),
    hours=numbers,
    velocity=numbers,
    games=counts,
    elo=numbers,
    target=numbers,
    uncertainty=non_negative,
    samples=st.integers(min_value=0, max_value=10**7),
    # (a subnormal estimate overflows the core's `games_needed`: reported, not ours to change)
    per_game=st.just(0.0) | st.floats(min_value=1e-3, max_value=1e3),
)
def test_every_property_is_the_cores_function_of_the_fields(
    key: str,
    hours: float,
    velocity: float,
    games: int,
    elo: float,
    target: float,
    uncertainty: float,
    samples: int,
    per_game: float,
) -> None:
    record = ConfigPriority(
        config_key=key,
        staleness_hours=hours,
        elo_velocity=velocity,
        game_count=games,
        current_elo=elo,
        target_elo=target,
        elo_uncertainty=uncertainty,
        target_training_samples=samples,
        samples_per_game_estimate=per_game,
    )
    config = record.inputs.config_key
    assert record.config_key == key == str(config)
    assert record.staleness_factor == core.staleness_factor(hours, POLICY)
    assert record.velocity_factor == core.velocity_factor(velocity, POLICY)
    assert record.data_deficit_factor == core.data_deficit_factor(games, config, POLICY)
    assert record.player_count == config.players
    assert record.games_needed == core.games_needed(games, samples, per_game)
    assert record.elo_gap == core.elo_gap(elo, target)
    assert record.info_gain_per_game == core.info_gain_per_game(games, uncertainty)
    assert record.voi_score == core.voi_score(elo, target, games, uncertainty, POLICY)
    assert 0.0 <= record.voi_score <= 1.0


@given(load=st.floats(min_value=-1.0, max_value=2.0), gpu=st.sampled_from(["A100", "H100", "x"]))
def test_available_capacity_is_the_unclamped_reference_product(load: float, gpu: str) -> None:
    node = NodeCapability(node_id="n", gpu_type=gpu, current_load=load)
    assert node.available_capacity == max(0.0, 1.0 - load) * node.capacity_weight


@given(
    duration=st.floats(min_value=0.0, max_value=1e5, allow_nan=False),
    later=st.floats(min_value=0.0, max_value=2e5, allow_nan=False),
)
def test_a_timed_pause_holds_exactly_until_its_end(duration: float, later: float) -> None:
    now = [1_767_225_600.0]
    scheduler = SelfplayScheduler(clock=lambda: now[0])
    scheduler.apply_event(SourcesRefreshed(nodes=(NodeCapability(node_id="gpu", gpu_type="H100"),)))
    start = now[0]
    scheduler.activate_backpressure("test", duration)
    now[0] = start + later
    batch = asyncio.run(scheduler.allocate_selfplay_batch())
    paused = scheduler.last_allocation.explanation.paused  # type: ignore[union-attr]
    assert paused == (now[0] < start + duration)
    assert (batch == {}) if paused else (sum(map(sum, (b.values() for b in batch.values()))) > 0)
