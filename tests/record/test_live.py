"""The live figures, the line and the two guards as plain functions (the thread is tested with
real runs in test_guards.py and through a terminal in test_live_line.py)."""

from __future__ import annotations

import pytest

from costlens.record.live import (
    HourlyRate,
    IdleGuard,
    SpendGuard,
    StepRate,
    format_line,
    live_figures,
    usd,
)

RATE = HourlyRate(usd_per_hour=36.0, label="aws/p4d.24xlarge us-east-1 on-demand")


def _fig(elapsed_s=100.0, steps=50, steps_per_s=0.5, utils=(80.0, 90.0), rate=RATE, expected=None):
    return live_figures(
        elapsed_s=elapsed_s,
        steps=steps,
        steps_per_s=steps_per_s,
        gpu_utils=list(utils),
        rate=rate,
        expected_steps=expected,
    )


def test_cost_so_far_is_the_hourly_rate_times_elapsed_and_projection_uses_the_step_rate():
    fig = _fig(expected=250)
    assert fig.cost_usd == pytest.approx(1.0)  # $36/h for 100 s
    assert fig.gpu_util_pct == pytest.approx(85.0)
    # 200 steps left at 0.5 steps/s = 400 s more at $0.01/s
    assert fig.projected_usd == pytest.approx(5.0)
    assert _fig(expected=None).projected_usd is None
    assert _fig(expected=250, steps_per_s=0.0).projected_usd is None
    unpriced = _fig(rate=None, expected=250)
    assert unpriced.cost_usd is None and unpriced.projected_usd is None


def test_line_shows_every_figure_and_says_when_there_is_no_price():
    line = format_line(_fig(elapsed_s=3723.0, steps=1200, expected=10_000), RATE)
    assert line.startswith("costlens 1:02:03 | 1,200 steps | 0.5 steps/s | GPU 85% | ")
    assert "$37.23 so far (aws/p4d.24xlarge us-east-1 on-demand)" in line
    assert line.endswith("at 10,000 steps")
    assert "\n" not in line
    bare = format_line(_fig(rate=None, utils=()), None)
    assert "GPU" not in bare and "no price" in bare


def test_small_amounts_keep_their_digits():
    assert usd(0.000123) == "$0.00012"
    assert usd(0.0123) == "$0.012"  # two significant digits below $1 (core/fmt)
    assert usd(12.3) == "$12.30"
    assert usd(12345.0) == "$12,345"
    assert usd(6.86e-6) == "$0.0000069" and usd(0.0) == "$0"


def test_step_rate_is_recent_once_a_window_has_passed():
    rate = StepRate(window_s=10.0)
    assert rate.update(0.0, 0) is None
    assert rate.update(5.0, 50) == pytest.approx(10.0)  # since the start
    rate.update(10.0, 100)
    rate.update(15.0, 110)
    assert rate.update(20.0, 120) == pytest.approx(2.0)  # the last 10 s only


def test_spend_guard_warns_once_at_80_percent_and_stops_at_the_limit():
    guard = SpendGuard(max_usd=1.0)
    assert guard.check(_fig(elapsed_s=70.0)) is None  # $0.70
    warn = guard.check(_fig(elapsed_s=80.0))
    assert warn.action == "warn" and "80%" in warn.message and "$1.00" in warn.message
    assert guard.check(_fig(elapsed_s=90.0)) is None  # said once
    stop = guard.check(_fig(elapsed_s=100.0))
    assert stop.action == "stop" and stop.reason.startswith("max_usd: $1.00 reached")
    assert guard.check(_fig(rate=None)) is None  # unpriced: nothing to compare


def test_idle_guard_needs_every_gpu_idle_for_the_whole_time():
    guard = IdleGuard(minutes=1.0, threshold_pct=10.0)
    assert guard.check(0.0, [0.0, 50.0]) is None  # one GPU busy
    assert guard.check(10.0, [0.0, 5.0]) is None  # idle from here
    warn = guard.check(58.0, [1.0, 2.0])  # 48 s = 80% of a minute
    assert warn.action == "warn" and "idle" in warn.message
    assert guard.check(65.0, [50.0, 1.0]) is None  # busy again: the count restarts
    assert guard.check(70.0, [1.0, 1.0]) is None
    assert guard.check(125.0, [1.0, 1.0]).action == "warn"
    stop = guard.check(130.0, [1.0, 1.0])
    assert stop.action == "stop" and stop.reason.startswith("stop_when_idle: every GPU below 10%")
    assert IdleGuard(minutes=0.01).check(100.0, []) is None  # no GPU readings: never idle
