"""Figure functions: DataFrames in, Plotly figures out (no store, no browser)."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard import figures

XSS = "<img src=x onerror=alert(1)>"


def _texts(fig: go.Figure) -> str:
    return " ".join(a.text or "" for a in fig.layout.annotations)


def test_empty_says_why():
    fig = figures.empty("Nothing here.", title="T")
    assert "Nothing here." in _texts(fig) and not fig.data


def test_spend_over_time_stacks_projects():
    spend = pd.DataFrame(
        {
            "day": pd.to_datetime(["2026-11-01", "2026-11-01", "2026-11-02"]),
            "project": ["a", XSS, "a"],
            "cost_usd": [1.0, 2.0, 3.5],
        }
    )
    fig = figures.spend_over_time(spend)
    assert fig.layout.barmode == "stack"
    by_name = {t.name: t for t in fig.data}
    # Plotly renders some HTML in trace names: a project name is escaped, shown as written
    assert set(by_name) == {"a", html.escape(XSS, quote=False)}
    assert list(by_name["a"].y) == [1.0, 3.5]
    assert "No priced runs" in _texts(figures.spend_over_time(spend.head(0)))


def _timeline(devices=(0, 1)) -> pd.DataFrame:
    rows = []
    for d in devices:
        for i in range(5):
            rows.append(
                {"device_index": d, "elapsed_s": i * 3600.0, "gpu_util_pct": 50.0 + d,
                 "mem_used_gib": 10.0, "power_w": 300.0, "host_cpu_pct": 20.0 + i,
                 "host_ram_gib": 4.0}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_timeline_one_line_per_gpu_in_hours():
    fig = figures.timeline(_timeline(), "gpu_util_pct", title="GPU utilisation", unit="%")
    assert [t.name for t in fig.data] == ["GPU 0", "GPU 1"]
    assert list(fig.data[1].x) == [0, 1, 2, 3, 4]  # hours
    assert list(fig.data[1].y) == [51.0] * 5
    assert "(%)" in fig.layout.title.text


def test_timeline_host_for_cpu_runs_and_empty():
    cpu = _timeline(devices=(-1,))
    fig = figures.timeline(cpu, "host_cpu_pct", title="Host CPU", unit="%", gpu=False)
    assert [t.name for t in fig.data] == ["host"] and list(fig.data[0].y)[-1] == 24.0
    empty = figures.timeline(cpu.head(0), "host_cpu_pct", title="Host CPU", unit="%", gpu=False)
    assert not empty.data and "No telemetry" in _texts(empty)


def test_cost_breakdown_bars_and_unpriced():
    fig = figures.cost_breakdown([("instance time", 10.0), ("idle", 2.5), ("energy", None)])
    assert list(fig.data[0].y) == ["instance time", "idle"]
    assert list(fig.data[0].x) == [10.0, 2.5]
    assert "could not be priced" in _texts(figures.cost_breakdown([]))


def test_provider_costs_on_demand_and_spot_cheapest_first():
    alts = pd.DataFrame(
        {
            "provider": ["aws", "lambda", "gcp"],
            "instance_type": ["p4d", "gpu_8x", None],
            "cost_usd": [30.0, 10.0, None],
            "spot_instance_type": ["p4d", None, None],
            "spot_cost_usd": [12.0, None, None],
            "as_of": ["2026-11-23"] * 3,
        }
    )
    fig = figures.provider_costs(alts)
    on_demand, spot = fig.data
    assert list(on_demand.y) == ["lambda (gpu_8x)", "aws (p4d)"]  # unpriced gcp left out
    assert list(on_demand.x) == [10.0, 30.0]
    assert spot.name == "spot" and list(spot.x)[1] == 12.0


def test_the_frontier_is_a_step_line_per_strategy_with_the_target_on_a_dollar_axis():
    points = pd.DataFrame(
        {"strategy": ["scratch", "scratch", "frozen-features"], "cost_usd": [1e-5, 2e-5, 3e-6],
         "value": [0.9, 0.97, 0.94], "run_id": ["a", "b", "c"]}
    )  # fmt: skip
    fig = figures.frontier_lines(points, target=0.95)
    assert [t.name for t in fig.data] == ["frozen-features", "scratch"]
    assert fig.data[1].line.shape == "hv" and list(fig.data[1].y) == [0.9, 0.97]
    assert fig.layout.xaxis.type == "log" and all("$" in t for t in fig.layout.xaxis.ticktext)
    (target,) = [sh for sh in fig.layout.shapes if sh.y0 == sh.y1]
    assert target.y0 == 0.95 and "target accuracy 0.95" in _texts(fig)


def test_savings_show_intervals_verdicts_the_claim_and_clip_with_a_mark():
    cmp = pd.DataFrame(
        {"label": ["w2 × 50 labels × lora", "w4 × 50 labels × lora", "w2 × 50 labels × ff"],
         "saving_pct": [60.0, -400.0, 5.0], "saving_pct_low": [50.0, -900.0, -10.0],
         "saving_pct_high": [70.0, -200.0, 20.0],
         "verdict": ["saves", "costs more", "within noise"]}
    )  # fmt: skip
    fig = figures.savings_bars(cmp, claimed_pct=80)
    assert [t.name for t in fig.data] == ["saves", "costs more", "within noise"]  # no empty one
    saves, dearer, _ = fig.data
    assert list(saves.y) == ["w2 × 50 labels × lora"] and list(saves.x) == [60.0]
    assert list(saves.error_x.array) == [10.0] and list(saves.error_x.arrayminus) == [10.0]
    assert list(dearer.x) == [-100.0] and dearer.marker.symbol[0] == "triangle-left"
    assert list(dearer.text) == ["-400%"]  # clipped, its value written beside the mark
    assert fig.layout.xaxis.range[0] >= -105 and fig.layout.xaxis.range[1] <= 105
    vlines = [sh for sh in fig.layout.shapes if sh.x0 == sh.x1]
    assert {sh.x0 for sh in vlines} == {80, 0}
    assert "industry claim, not measured" in _texts(fig)
    fig_none = figures.savings_bars(cmp, claimed_pct=None)
    assert {sh.x0 for sh in fig_none.layout.shapes} == {0}


def test_estimate_bars_have_asymmetric_error_bars_per_provider():
    est = pd.DataFrame(
        {"strategy": ["scratch", "lora", "scratch", "lora"],
         "provider": ["aws", "aws", "gcp", "gcp"],
         "total_cost_usd": [100.0, 20.0, 90.0, 18.0],
         "total_cost_usd_low": [80.0, 15.0, 70.0, 14.0],
         "total_cost_usd_high": [130.0, 30.0, 120.0, 25.0]}
    )  # fmt: skip
    fig = figures.estimate_bars(est)
    assert [t.name for t in fig.data] == ["aws", "gcp"]
    aws = fig.data[0]
    assert list(aws.error_y.array) == [30.0, 10.0]
    assert list(aws.error_y.arrayminus) == [20.0, 5.0]
    assert aws.error_y.symmetric is False
    y = fig.layout.yaxis
    assert y.type == "log" and "US$" in y.title.text
    assert list(y.ticktext) == ["$10.00", "$20.00", "$50.00", "$100", "$200"]  # 1-2-5, in US$
    assert fig.layout.xaxis.title.text == "strategy"


def test_prices_points_one_per_offer_spot_open_unconfirmed_crossed():
    offers = pd.DataFrame(
        {"gpu": ["H100-SXM", "H100-SXM", "A100-80GB-SXM"], "provider": ["gcp", "gcp", "lambda"],
         "instance_type": ["a3-highgpu-8g", "a3-highgpu-8g", "gpu_1x_a100"],
         "region": ["us-central1", "us-east4", "us-east-1"],
         "usd_per_gpu_hour": [5.38, 10.98, 1.79], "spot_usd_per_gpu_hour": [2.0, None, None],
         "confirmed": [False, False, True]}
    )  # fmt: skip
    fig = figures.prices_points(offers)
    names = [t.name for t in fig.data]
    assert names == ["gcp", "gcp spot", "lambda", "x = unconfirmed price"]
    gcp = fig.data[0]
    assert list(gcp.y) == [5.38, 10.98] and list(gcp.marker.symbol) == ["x", "x"]
    assert fig.data[1].marker.symbol == "circle-open" and list(fig.data[1].y) == [2.0]
    assert list(fig.data[2].marker.symbol) == ["circle"]
    # accelerators ordered by their cheapest offer; a log axis with its unit
    assert list(fig.layout.xaxis.categoryarray) == ["A100-80GB-SXM", "H100-SXM"]
    assert fig.layout.yaxis.type == "log" and "US$ per GPU-hour" in fig.layout.yaxis.title.text


def test_forecast_band_with_budget_line():
    months = pd.DataFrame(
        {"month": ["2027-01", "2027-02"], "cost_usd": [100.0, 200.0],
         "cost_usd_low": [80.0, 150.0], "cost_usd_high": [130.0, 260.0]}
    )  # fmt: skip
    fig = figures.forecast_band(months, budget_usd=150.0)
    band, line, budget = fig.data
    assert band.fill == "toself" and list(band.y) == [130.0, 260.0, 150.0, 80.0]
    assert list(line.y) == [100.0, 200.0]
    assert list(budget.y) == [150.0, 150.0] and budget.line.dash == "dash"
    assert len(figures.forecast_band(months).data) == 2  # no budget, no line
    assert "no job" in _texts(figures.forecast_band(months.head(0)))


@pytest.mark.parametrize(
    "fn",
    [figures.frontier_lines, figures.estimate_bars, figures.prices_points, figures.forecast_band],
)
def test_empty_inputs_give_an_explaining_figure(fn):
    fig = fn(pd.DataFrame())
    assert not fig.data and _texts(fig)


def test_small_amounts_keep_significant_digits():
    from costlens.core.fmt import money, number

    assert money(0.0000056) == "$0.0000056"  # a short CPU run is cheap, not free
    assert money(-0.00012) == "-$0.00012"
    assert money(1234.5) == "$1,234"
    assert money(0) == "$0" and money(None) == "n/a"
    assert number(0.0004, "h") == "0.0004 h"
    assert number(12.345) == "12.3"


def _tick_texts(axis) -> list[str]:
    return [str(t) for t in (axis.ticktext or ())]


def test_dollar_axes_are_labelled_in_dollars_never_si_or_scientific():
    """The defects: SI prefixes on dollar axes (``5μ`` US$) and the prices chart's log axis
    labelling ticks "2" and "5"."""
    spend = figures.spend_over_time(
        pd.DataFrame({"day": ["2026-11-23", "2026-11-24"], "project": ["p", "p"],
                      "cost_usd": [0.0000056, 0.0000094]})
    )  # fmt: skip
    offers = pd.DataFrame(
        {"gpu": ["H100", "A100"], "provider": ["gcp", "aws"], "instance_type": ["a", "b"],
         "region": ["r", "r"], "usd_per_gpu_hour": [0.3, 10.98],
         "spot_usd_per_gpu_hour": [None, 2.0], "confirmed": [True, True]}
    )  # fmt: skip
    prices = figures.prices_points(offers)
    parts = figures.cost_breakdown([("instance time", 0.0000086), ("energy", 0.0025)])
    band = figures.forecast_band(
        pd.DataFrame({"month": ["2027-01"], "cost_usd": [5150.0], "cost_usd_low": [4000.0],
                      "cost_usd_high": [1.2e6]})
    )  # fmt: skip
    for axis in (spend.layout.yaxis, prices.layout.yaxis, parts.layout.xaxis, band.layout.yaxis):
        texts = _tick_texts(axis)
        assert texts and all(t.startswith("$") for t in texts), texts
        assert not any(c in t for t in texts for c in "μmkGe"), texts
        assert axis.tickformat is None or "s" not in axis.tickformat
    assert {"$2.00", "$5.00"} <= set(_tick_texts(prices.layout.yaxis))


def test_spend_over_one_day_is_a_day_not_a_millisecond_axis():
    import pandas as pd

    from dashboard.figures import spend_over_time

    fig = spend_over_time(
        pd.DataFrame({"day": ["2026-11-23"], "project": ["p"], "cost_usd": [0.00094]})
    )
    assert fig.layout.xaxis.type == "category"
    assert list(fig.data[0].x) == ["2026-11-23"]
