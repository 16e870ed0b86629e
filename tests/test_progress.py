"""Progress lines: a step count when the steps end the run, elapsed/budget when a wall-clock budget does."""

import io

import pytest

from zoo.train import progress as progress_lib


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_lib.time, "perf_counter", clock)
    return clock


def test_time_budget_line_shows_elapsed_over_budget_not_an_unreachable_step_count(clock):
    stream = io.StringIO()
    progress = progress_lib.Progress(0, 10**9, stream=stream, budget_seconds=300)
    clock.now += 70.0
    progress.report(700, {"loss": 1.5})
    line = stream.getvalue().strip()
    assert line.startswith("step 700  1m10s/5m00s (23%)  10.00 steps/s  budget left 3m50s  loss=1.5000"), line
    assert "1000000000" not in line and "ETA" not in line


def test_step_bound_line_shows_steps_and_eta(clock):
    stream = io.StringIO()
    progress = progress_lib.Progress(0, 6000, stream=stream)
    clock.now += 160.0
    progress.report(1600, {"loss": 0.25})
    # 4,400 steps left at 10 steps/s: 7m20s.
    assert stream.getvalue().strip() == "step 1600/6000 (27%)  10.00 steps/s  ETA 7m20s  loss=0.2500"


def test_a_budget_the_steps_finish_within_keeps_the_step_line(clock):
    stream = io.StringIO()
    progress = progress_lib.Progress(0, 1000, stream=stream, budget_seconds=3600)
    clock.now += 10.0
    progress.report(100, {})
    assert stream.getvalue().startswith("step 100/1000 (10%)  10.00 steps/s  ETA 1m30s")
    # The rate is measured between reports: 400 steps in 100 s leaves 500 steps = 125 s < 50m left.
    clock.now += 100.0
    progress.report(500, {})
    assert stream.getvalue().splitlines()[-1].startswith("step 500/1000 (50%)  4.00 steps/s  ETA 2m05s")


def test_budget_line_when_the_budget_ends_first_on_a_finite_step_count(clock):
    stream = io.StringIO()
    progress = progress_lib.Progress(0, 6000, stream=stream, budget_seconds=120)
    clock.now += 60.0
    progress.report(300, {})  # 5,700 steps at 5 steps/s need 19 minutes; 1 minute of budget is left.
    assert stream.getvalue().startswith("step 300  1m00s/2m00s (50%)  5.00 steps/s  budget left 1m00s")


def test_zoo_train_max_train_seconds_flag_stops_by_the_budget_with_budget_lines(tiny_fashion_mnist, tmp_path):
    from tests import helpers

    result = helpers.run_binary("train", "--model=mlp_gan", "--smoke", f"--data_dir={tiny_fashion_mnist}",
                                f"--workdir={tmp_path / 'run'}", "--export_dir=", "--train_steps=1000000",
                                "--max_train_seconds=10", "--set=log_every=5", "--set=checkpoint_every=100000",
                                "--set=image_every=0")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "stopped by the time budget of 0m10s" in lines[-1]
    progress = [line for line in lines if line.startswith("step ")]
    assert progress and all("/0m10s (" in line and "/1000000" not in line for line in progress), progress
