"""The divergence guard: it stops runs whose losses explode by orders of magnitude (with the step and the
likely cause), and lets every training run of the course through.

``tests/data/loss_traces.json`` holds the loss traces of the course's own loops at their ``quick``
settings (notebooks 03-05, including 04's learning-rate ablation at lr = 0.1 and 05's drifting WGAN-GP)
and of runs at a far too large learning rate, recorded on the real data by ``tests/make_loss_traces.py``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from course_utils.data.toy2d import ring
from course_utils.losses import gradient_penalty, wgan_critic_loss, wgan_generator_loss
from course_utils.models.gan import MLPDiscriminator, MLPGenerator, gaussian_noise
from course_utils.training import DivergenceError, DivergenceGuard, History, train_gan, wgan_iteration

TRACES = json.loads((Path(__file__).parent / "data" / "loss_traces.json").read_text())


def replay(steps: dict, guard: DivergenceGuard | None = None) -> str | None:
    """Feed a recorded trace to a guard step by step; the message it stops with, or None."""
    guard = guard or DivergenceGuard()
    series = {name: trace["head"] + trace["peaks"] for name, trace in steps.items()}
    for i in range(max(map(len, series.values()))):
        values = {name: s[i] for name, s in series.items() if i < len(s)}
        try:
            guard.check(values, i + 1)
        except DivergenceError as err:
            return str(err)
    return None


@pytest.mark.parametrize("name", [n for n, t in TRACES.items() if t["course_run"]])
def test_no_run_of_the_course_trips_the_guard(name):
    trace = TRACES[name]
    assert trace["stopped"] is None
    assert replay(trace["steps"]) is None


@pytest.mark.parametrize("name", [n for n, t in TRACES.items() if not t["course_run"]])
def test_runs_at_a_wild_learning_rate_are_stopped(name):
    trace = TRACES[name]
    message = replay(trace["steps"])
    if message is None:                          # the run itself already ended on a NaN/inf
        assert trace["stopped"] and "became" in trace["stopped"], name
    else:
        assert "exploded" in message and "learning rate" in message and "at step" in message


def test_the_course_runs_stay_far_below_the_threshold():
    """The margin: the largest ratio of a course run's value to its early level, against the factor."""
    worst = 0.0
    for trace in (t for t in TRACES.values() if t["course_run"]):
        for values in trace["steps"].values():
            guard = DivergenceGuard()
            series = values["head"] + values["peaks"]
            for i, v in enumerate(series):
                level = guard.level("x")
                if level is not None:
                    worst = max(worst, abs(v) / level)
                guard.check({"x": v}, i + 1)
    assert worst < DivergenceGuard().factor / 10, worst


def test_guard_stops_an_explosion_naming_the_loss_step_and_cause():
    guard = DivergenceGuard(factor=1e4, warmup=5)
    for step in range(1, 31):
        guard.check({"d_loss": 1.3 + 0.1 * math.sin(step), "g_loss": 0.7}, step)
    with pytest.raises(DivergenceError) as info:
        guard.check({"d_loss": 2e5, "g_loss": 0.7}, 31)
    message = str(info.value)
    assert "'d_loss' exploded to 2e+05 at step 31" in message and "learning rate" in message


def test_early_spike_does_not_raise_the_level_and_small_losses_have_a_floor():
    guard = DivergenceGuard(factor=100, warmup=5)
    for step, value in enumerate([1.0, 1.1, 90.0, 0.9, 1.0], start=1):       # one spike inside the warm-up
        guard.check({"loss": value}, step)
    assert guard.level("loss") == pytest.approx(1.0)
    with pytest.raises(DivergenceError):
        guard.check({"loss": 500.0}, 6)
    tiny = DivergenceGuard(factor=100, warmup=5)                           # a critic's loss starts near 0
    for step in range(1, 6):
        tiny.check({"critic_loss": 1e-4}, step)
    tiny.check({"critic_loss": -50.0}, 6)                                  # growth to tens is legitimate
    assert tiny.level("critic_loss") == 1.0


def test_guard_continues_a_history_and_still_catches_nan():
    history = History()
    for v in [2.0] * 30:
        history.log_step({"loss": v})
    guard = DivergenceGuard.from_history(history.steps, factor=1e3)
    assert guard.level("loss") == 2.0
    guard.check({"loss": 1500.0}, 31)
    with pytest.raises(DivergenceError, match="exploded"):
        guard.check({"loss": 2500.0}, 32)
    with pytest.raises(DivergenceError, match="became nan"):
        DivergenceGuard().check({"loss": float("nan")}, 1)
    with pytest.raises(ValueError, match="factor > 1"):
        DivergenceGuard(factor=1)


def test_train_gan_stops_a_wgan_gp_at_a_wild_learning_rate():
    torch.manual_seed(0)
    G = MLPGenerator(2, (2,), hidden=(32, 32), activation="relu", batch_norm=False, tanh_output=False)
    D = MLPDiscriminator((2,), hidden=(32, 32))
    opts = [torch.optim.Adam(m.parameters(), 1.0, betas=(0.5, 0.9)) for m in (G, D)]
    step = wgan_iteration(wgan_critic_loss, wgan_generator_loss, penalty=lambda f, x, fake: gradient_penalty(f, x, fake))
    with pytest.raises(DivergenceError) as info:
        train_gan(G, D, *opts, ring().batches(64, seed=0), iterations=300, noise=gaussian_noise(2), d_loss=None,
                  g_loss=None, iteration=step, d_steps=5)
    assert "learning rate" in str(info.value.args[0])
