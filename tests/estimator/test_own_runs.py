"""From your own profiles (issue 14, "Calibrated intervals"): with at least 3 recorded runs of the
same script, an estimate's interval high/low is at most 3.

The runs are SYNTHETIC but recorded-style: run records as the store returns them (one script,
CPU, fp32, scratch, same batch) at three MLP widths, whose durations follow a power law of the
kind measured on the development machine (FLOP/s grows with width; data/mfu_priors.csv: width
256 1.2e10 FLOP/s, width 2048 2.2e11) with a few percent of run-to-run noise. They go through
``fit_records`` and ``estimate_many``, the path of ``costlens fit`` and ``costlens estimate``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from costlens import estimator as est

SAMPLES = 64_000
BATCH = 64
SPEED_AT_256 = 1.2e10  # FLOP/s of the width-256 MLP (synthetic law, the prior table's scale)
SLOPE = 0.6  # d log(FLOP/s) / d log(params) of the synthetic law


def mlp_params(width: int) -> int:
    """A 3-layer MLP of this width (square layers, biases)."""
    return 3 * (width * width + width)


def flops_per_s(width: int) -> float:
    return SPEED_AT_256 * (mlp_params(width) / mlp_params(256)) ** SLOPE


def record(i: int, width: int, noise: float, name: str = "mlp-own") -> dict:
    """One completed CPU run of the script at ``width``, its duration off the law by ``noise``."""
    params = mlp_params(width)
    flops = 6.0 * params * SAMPLES
    return {
        "id": f"own{i:02d}",
        "status": "completed",
        "name": name,
        "strategy": "scratch",
        "params_total": params,
        "params_trainable": params,
        "steps": SAMPLES // BATCH,
        "samples": SAMPLES,
        "flops": flops,
        "duration_s": flops / flops_per_s(width) * noise,
        "precision": "fp32",
        "device_count": 0,
        "world_size": 1,
    }


def predict_width(records: list[dict], width: int) -> tuple[est.Estimate, float]:
    """(the estimate of the script at ``width``, its true duration in hours on the law)."""
    model = est.fit_records(records)
    scen = est.Scenario(
        params=mlp_params(width), tokens=SAMPLES, gpu="CPU", precision="fp32",
        tokens_per_step=BATCH, workload="mlp-own",
    )  # fmt: skip
    (e,) = est.estimate_many([scen], model=model)
    truth_h = 6.0 * mlp_params(width) * SAMPLES / flops_per_s(width) / 3600
    return e, truth_h


# Three sizes (x4 params apart each), a few percent of noise; the 4x larger width is predicted.
CONSISTENT = [(256, 1.05), (512, 0.96), (1024, 1.03)]


@pytest.mark.parametrize("shift", [1.0, 0.1, 10.0])  # the CPU runs 10x slower / faster than law
def test_three_runs_of_one_script_give_an_interval_within_3x_that_holds_the_truth(shift):
    """Before this change: ratio 119 (the CPU prior's 18x range, widened for 4x extrapolation)
    and the point 0.98x / 3.5x / 2.2x the truth (runs on the law / 10x faster / 10x slower:
    alpha 30 flattened the slope, the intercept leaned on the prior). Now: ratio 2.0-2.4, the
    point within 1%."""
    runs = [record(i, w, n) for i, (w, n) in enumerate(CONSISTENT)]
    for r in runs:
        r["duration_s"] *= shift
    e, truth_h = predict_width(runs, 2048)
    truth_h *= shift
    ratio = e.wall_hours.high / e.wall_hours.low
    assert ratio <= 3.0, ratio
    assert 1 / 1.25 <= e.wall_hours.point / truth_h <= 1.25, e.wall_hours.point / truth_h
    assert e.wall_hours.low <= truth_h <= e.wall_hours.high
    assert e.wall_hours.low < e.wall_hours.point < e.wall_hours.high
    assert e.extrapolation  # 4x the params of the largest recorded run: flagged, and widened
    inside, _ = predict_width(runs, 724)  # within the recorded range: narrower, not flagged
    assert not inside.extrapolation
    assert inside.wall_hours.high / inside.wall_hours.low < ratio


def test_two_runs_keep_the_priors_published_range():
    runs = [record(i, w, n) for i, (w, n) in enumerate(CONSISTENT[1:])]
    e, truth_h = predict_width(runs, 2048)
    assert e.wall_hours.high / e.wall_hours.low > 10  # the CPU prior spans 18x, widened
    assert e.wall_hours.low <= truth_h <= e.wall_hours.high


def test_runs_that_disagree_widen_their_own_interval():
    """The interval is the group's own out-of-sample spread, not a fixed width: runs 30-50% off
    the law give a wider interval than consistent ones, which still holds the truth."""
    noisy = [record(i, w, n) for i, (w, n) in enumerate([(256, 1.5), (512, 0.7), (1024, 1.4)])]
    calm = [record(i, w, n) for i, (w, n) in enumerate(CONSISTENT)]
    wide, truth_h = predict_width(noisy, 2048)
    narrow, _ = predict_width(calm, 2048)
    assert wide.wall_hours.high / wide.wall_hours.low > 2 * (
        narrow.wall_hours.high / narrow.wall_hours.low
    )
    assert wide.wall_hours.low <= truth_h <= wide.wall_hours.high
    prior, _ = predict_width(noisy[1:], 2048)  # two runs: the prior's range, widened alike
    assert wide.wall_hours.high / wide.wall_hours.low <= (
        prior.wall_hours.high / prior.wall_hours.low * 1.01
    )  # never wider than the prior's published range


def test_a_group_of_three_runs_reports_its_own_interval_factor():
    model = est.fit_records([record(i, w, n) for i, (w, n) in enumerate(CONSISTENT)])
    summary = model.summary()
    assert summary["interval_low_factor"] is None  # fewer than 10 runs in all: no pooled one
    (group,) = summary["groups"]
    assert group["runs"] == 3
    assert 1.0 < group["interval_high_factor"] < math.sqrt(3)
    assert group["interval_low_factor"] == pytest.approx(1 / group["interval_high_factor"])
    assert np.isfinite(group["prior_strength"]) and group["prior_strength"] <= 1.0
