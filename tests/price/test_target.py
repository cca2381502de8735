"""Cost to a quality target: priced on the run's own billed cost, censored when not reached."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from costlens.core.errors import InputError
from costlens.price.target import (
    Target,
    cost_to_target,
    parse_target,
    priced_series,
    target_text,
)
from costlens.store import insert_run, open_store
from costlens.store.series import MetricPoint, apply_metric_ops

T0 = datetime(2026, 3, 1, 12, 0, 0)
T0_UNIX = 1772366400.0  # 2026-03-01T12:00:00Z
RECORD = {"id": "r1", "started_at": "2026-03-01T12:00:00Z", "duration_s": 100.0}
POINTS = [  # evaluations at 10, 30, 50 and 90 s from the start
    MetricPoint("r1", "accuracy", 100, T0_UNIX + 10, 0.50),
    MetricPoint("r1", "accuracy", 300, T0_UNIX + 30, 0.96),
    MetricPoint("r1", "accuracy", 500, T0_UNIX + 50, 0.94),
    MetricPoint("r1", "accuracy", 900, T0_UNIX + 90, 0.97),
    MetricPoint("r2", "accuracy", 100, T0_UNIX + 5, 0.99),  # another run's: never counted
]


def test_cost_to_target_against_a_hand_computation():
    tc = cost_to_target(RECORD, 2.0, POINTS, parse_target("accuracy>=0.95"))
    # first reaching evaluation 30 s into a 100 s run billed $2.00: $2.00 x 30 / 100 = $0.60
    assert tc.reached and tc.cost_usd == pytest.approx(0.60)
    assert (tc.step, tc.t_s, tc.value, tc.best_value) == (300, pytest.approx(30.0), 0.96, 0.97)
    assert "billed cost $2.00" in tc.basis and "x 30.0 s" in tc.basis and "30%" in tc.basis
    assert target_text(tc) == "$0.60 (step 300, 30.0 s)"


def test_each_point_of_a_series_is_priced_as_the_point_that_reached():
    # the frontier's points: $2.00 x (10, 30, 50, 90) / 100 s, this run's points only
    got = priced_series(RECORD, 2.0, POINTS, "accuracy")
    assert got == [pytest.approx((0.2, 0.5)), pytest.approx((0.6, 0.96)),
                   pytest.approx((1.0, 0.94)), pytest.approx((1.8, 0.97))]  # fmt: skip
    assert priced_series(RECORD, None, POINTS, "accuracy") == []  # no price: no points


def test_not_reached_is_censored_never_a_number():
    tc = cost_to_target(RECORD, 2.0, POINTS, parse_target("accuracy>=0.98"))
    assert not tc.reached and tc.cost_usd is None and tc.step is None
    assert tc.best_value == 0.97 and "censored" in tc.basis
    assert target_text(tc) == "not reached (best 0.97)"
    none = cost_to_target(RECORD, 2.0, [], parse_target("accuracy>=0.5"))
    assert none.cost_usd is None and none.best_value is None
    assert target_text(none) == "not reached (no accuracy recorded)"


def test_lower_is_better_and_the_eval_prefix_of_hugging_face():
    points = [
        MetricPoint("r1", "eval_loss", 10, T0_UNIX + 20, 0.9),
        MetricPoint("r1", "eval_loss", 20, T0_UNIX + 80, 0.2),
    ]
    tc = cost_to_target(RECORD, 1.0, points, Target("loss", "<=", 0.3))
    assert tc.metric == "eval_loss" and tc.cost_usd == pytest.approx(0.8)
    assert tc.best_value == 0.2


def test_a_run_without_a_price_reaches_but_has_no_cost():
    tc = cost_to_target(RECORD, None, POINTS, parse_target("accuracy>=0.95"))
    assert tc.reached and tc.cost_usd is None and "no price" in tc.basis


@pytest.mark.parametrize("text", ["accuracy", "accuracy>0.9", "acc>=nan", ">=0.9", "a>=1 b"])
def test_a_bad_target_names_the_form(text):
    with pytest.raises(InputError, match="METRIC>=THRESHOLD"):
        parse_target(text)


def _priced_run(url: str) -> None:
    """A CPU run of 100 s (priced on the cheapest CPU instance) that logged accuracy."""
    store = open_store(url, "write")
    insert_run(store, {
        "id": "run1", "project": "q", "status": "completed", "started_at": T0,
        "ended_at": T0 + timedelta(seconds=100), "host_cpu_count": 2,
    })  # fmt: skip
    apply_metric_ops(store, {"run_id": "run1", "rank": 0, "put": [
        [p.name, p.step, p.t_unix_s, p.value] for p in POINTS if p.run_id == "r1"
    ]})  # fmt: skip
    store.dispose()


def test_runs_show_and_cost_give_the_cost_to_target(cli, sqlite_url, monkeypatch):
    _priced_run(sqlite_url)
    res = cli("runs", "--db", sqlite_url, "--format", "json", "--target", "accuracy>=0.95")
    assert res.code == 0, res.err
    (row,) = json.loads(res.out)
    assert row["cost_usd"] > 0 and row["target_reached"] is True
    assert row["cost_to_target_usd"] == pytest.approx(row["cost_usd"] * 0.30)
    shown = json.loads(cli("show", "run1", "--db", sqlite_url, "-f", "json",
                           "--target", "accuracy>=0.95").out)  # fmt: skip
    assert shown["cost_to_target_usd"] == pytest.approx(row["cost_to_target_usd"])
    cost = json.loads(cli("cost", "run1", "--db", sqlite_url, "-f", "json",
                          "--target", "accuracy>=0.95").out)  # fmt: skip
    assert cost["cost_to_target_usd"] == pytest.approx(cost["cost_usd"] * 0.30)
    monkeypatch.setenv("COSTLENS_TARGET", "accuracy>=0.99")  # the project's default
    table = cli("runs", "--db", sqlite_url, "--wide")
    assert table.code == 0 and "not reached (best 0.97)" in table.out
    text = cli("cost", "run1", "--db", sqlite_url)
    assert "Cost to accuracy>=0.99" in text.out and "not reached (best 0.97)" in text.out


def test_a_bad_target_is_one_line_and_exit_2(cli, sqlite_url, monkeypatch):
    _priced_run(sqlite_url)
    res = cli("runs", "--db", sqlite_url, "--target", "accuracy=0.9")
    assert res.code == 2 and "METRIC>=THRESHOLD" in res.err and "Traceback" not in res.err
    monkeypatch.setenv("COSTLENS_TARGET", "accuracy")  # a bad setting: ConfigError, exit 1
    res = cli("show", "run1", "--db", sqlite_url)
    assert res.code == 1 and "COSTLENS_TARGET" in res.err and "Traceback" not in res.err
