"""Pure figure functions: DataFrames (from :mod:`dashboard.views`) in, Plotly figures out.

No I/O, no store, no Dash: each function is tested without a browser. Text from the store (run
names, project names, price files) goes into trace names, category axes, text and hover text,
where Plotly renders a subset of HTML (``<a href>``, ``<span style>``): every figure passes
through :func:`escape_user_text` before it is returned, so that text is shown, never rendered.
Our own markup lives only in titles, annotations and hover templates, which take no user text.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from costlens.core.fmt import duration_unit, interval, money, usd_ticks

TEMPLATE = "plotly_white"
PALETTE = (
    "#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563",
    "#65a30d", "#9333ea",
)  # fmt: skip


_TRACE_TEXT = ("name", "legendgroup", "x", "y", "text", "hovertext", "customdata", "labels")


def _esc(value: Any) -> Any:
    if isinstance(value, str):
        return html.escape(value, quote=False)
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        items = value.tolist() if hasattr(value, "tolist") else value
        if any(isinstance(v, (str, list, tuple)) for v in items):
            return [_esc(v) for v in items]
    return value


def escape_user_text(fig: go.Figure) -> go.Figure:
    """Every text of every trace (names, categories, text, hover text, custom data) with ``&``,
    ``<`` and ``>`` escaped: a run named ``<a href=...>`` is shown as written, not a link."""
    for trace in fig.data:
        for key in _TRACE_TEXT:
            value = getattr(trace, key, None) if key in trace else None
            if value is not None:
                trace[key] = _esc(value)
    return fig


def _base(title: str, *, height: int = 340) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.2},
        colorway=list(PALETTE),
    )
    return escape_user_text(fig)


def usd_axis(fig: go.Figure, axis: str, values: Any, *, log: bool = False) -> None:
    """Label the ``axis`` ("x" or "y") of ``fig`` in US$ by :func:`costlens.core.fmt.money`,
    ticks chosen from ``values``: never SI prefixes (``5μ``) or scientific notation, and a log
    axis labels every tick in dollars (not "2" and "5")."""
    nums = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").dropna()
    nums = nums[nums > 0] if log else nums
    if nums.empty:
        return
    lo, hi = float(nums.min()), float(nums.max())
    vals, text = usd_ticks(lo / 2, hi * 2, log=True) if log else usd_ticks(min(lo, 0.0), hi)
    update = fig.update_xaxes if axis == "x" else fig.update_yaxes
    update(tickmode="array", tickvals=vals, ticktext=text)


def empty(message: str, *, title: str = "", height: int = 260) -> go.Figure:
    """A blank figure that says why there is nothing to plot."""
    fig = _base(title, height=height)
    fig.add_annotation(
        text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
        font={"size": 14, "color": "#6b7280"},
    )  # fmt: skip
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return escape_user_text(fig)


def spend_over_time(spend: pd.DataFrame) -> go.Figure:
    """Stacked daily spend (US$) by project; ``spend`` has columns day, project, cost_usd."""
    if spend is None or spend.empty:
        return empty("No priced runs in this period.", title="Spend by project")
    fig = _base("Spend by project (US$ per day)")
    days = pd.to_datetime(spend["day"])
    for project, part in spend.assign(day=days).groupby("project", sort=True):
        part = part.sort_values("day")
        fig.add_bar(
            x=part["day"].dt.strftime("%Y-%m-%d"), y=part["cost_usd"], name=str(project),
            hovertext=[money(v) for v in part["cost_usd"]],
            hovertemplate="%{x}<br>%{hovertext}<extra>%{fullData.name}</extra>",
        )  # fmt: skip
    # Days as categories: a single day (or a few) must not be stretched into a sub-second axis.
    # a legend even for one project: the colour must say which project it is
    fig.update_layout(barmode="stack", yaxis_title="US$", xaxis_title=None, showlegend=True,
                      legend_title_text="project")  # fmt: skip
    fig.update_xaxes(type="category", categoryorder="category ascending")
    usd_axis(fig, "y", spend.groupby("day")["cost_usd"].sum())
    return escape_user_text(fig)


def timeline(
    tl: pd.DataFrame, column: str, *, title: str, unit: str, gpu: bool = True
) -> go.Figure:
    """One telemetry column over elapsed time, one line per GPU (or the host when ``gpu`` is
    False). ``tl`` comes from :func:`dashboard.views.run.run_timeline`. Time is in s, min or h
    chosen by the run's span; the value axis starts at 0, so a 4 MiB wobble stays a wobble."""
    if tl is None or tl.empty or column not in tl:
        return empty("No telemetry recorded for this run.", title=title)
    rows = tl[tl["device_index"] >= 0] if gpu else tl[tl["device_index"] < 0]
    if not gpu and rows.empty:  # host readings come with each GPU reading on GPU machines
        rows = tl[tl["device_index"] == tl["device_index"].min()]
    rows = rows.dropna(subset=[column])
    if rows.empty:
        return empty(f"No {title.lower()} readings.", title=title)
    fig = _base(f"{title} ({unit})", height=300)
    t_unit, per = duration_unit(float(rows["elapsed_s"].max() or 0.0))
    for dev, part in rows.groupby("device_index", sort=True):
        label = f"GPU {int(dev)}" if gpu and dev >= 0 else "host"
        fig.add_scatter(
            x=part["elapsed_s"] / per, y=part[column], mode="lines", name=label,
            hovertemplate="%{x:.3g} " + t_unit + "<br>%{y:.3g} " + unit
            + "<extra>%{fullData.name}</extra>",
        )  # fmt: skip
    fig.update_layout(xaxis_title=f"{t_unit} since first reading", yaxis_title=unit)
    fig.update_yaxes(rangemode="tozero")
    return escape_user_text(fig)


def cost_breakdown(
    parts: Sequence[tuple[str, float]], *, title: str = "Cost breakdown"
) -> go.Figure:
    """Horizontal bars of a run's cost components (label, US$)."""
    parts = [(label, value) for label, value in parts if value is not None]
    if not parts:
        return empty("This run could not be priced.", title=title)
    fig = _base(f"{title} (US$)", height=60 + 45 * len(parts) + 80)
    fig.add_bar(
        y=[p[0] for p in parts], x=[p[1] for p in parts], orientation="h",
        marker_color=PALETTE[0], hovertemplate="%{y}: %{text}<extra></extra>",
        text=[money(p[1]) for p in parts], textposition="auto",
    )  # fmt: skip
    fig.update_layout(yaxis={"autorange": "reversed"}, xaxis_title="US$", showlegend=False)
    usd_axis(fig, "x", [p[1] for p in parts])
    return escape_user_text(fig)


def provider_costs(alts: pd.DataFrame, *, current_provider: str | None = None) -> go.Figure:
    """What one run would have cost on each provider's matching instance (US$), on-demand and
    spot. ``alts`` comes from :func:`dashboard.views.run.provider_alternatives`."""
    if alts is None or alts.empty or alts["cost_usd"].isna().all():
        return empty("No provider prices this run's hardware.", title="On other providers")
    alts = alts.dropna(subset=["cost_usd"]).sort_values("cost_usd")
    pairs = zip(alts["provider"], alts["instance_type"], strict=True)
    labels = [f"{p} ({i})" if i else str(p) for p, i in pairs]
    fig = _base("This run on each provider (US$)", height=90 + 40 * len(alts) + 60)
    fig.add_bar(
        y=labels, x=alts["cost_usd"], orientation="h", name="on-demand", marker_color=PALETTE[0],
        hovertext=[money(v) for v in alts["cost_usd"]],
        hovertemplate="%{y}: %{hovertext}<extra>on-demand</extra>",
    )  # fmt: skip
    if alts["spot_cost_usd"].notna().any():
        fig.add_bar(
            y=labels, x=alts["spot_cost_usd"], orientation="h", name="spot",
            marker={"color": PALETTE[0], "pattern": {"shape": "/"}, "opacity": 0.55},
            hovertext=[money(v) for v in alts["spot_cost_usd"]],
            hovertemplate="%{y}: %{hovertext}<extra>spot</extra>",
        )  # fmt: skip
    fig.update_layout(yaxis={"autorange": "reversed"}, xaxis_title="US$", barmode="group")
    usd_axis(fig, "x", [*alts["cost_usd"], *alts["spot_cost_usd"]])
    return escape_user_text(fig)


def frontier_lines(
    points: pd.DataFrame, *, target: float | None = None, metric: str = "accuracy"
) -> go.Figure:
    """The cost-quality frontier: for each strategy, the best ``metric`` reached for each dollar
    spent (a step line through the runs that improved on every cheaper one), on a log US$ axis,
    with the quality target as a dashed line.

    ``points`` has columns strategy, cost_usd, value, run_id (from
    :func:`costlens.apps.quality.frontier`).
    """
    if points is None or points.empty:
        return empty("No priced run logged the metric.", title="Cost-quality frontier")
    fig = _base(f"Best {metric} reached for each dollar spent (billed)", height=380)
    for strategy, part in points.groupby("strategy", sort=True):
        fig.add_scatter(
            x=part["cost_usd"], y=part["value"], mode="lines+markers", name=str(strategy),
            line={"shape": "hv"},
            customdata=[[r, money(c)] for r, c in zip(part["run_id"], part["cost_usd"],
                                                      strict=True)],
            hovertemplate="%{fullData.name}: " + metric + " %{y:.3f} for %{customdata[1]}"
            "<extra>%{customdata[0]}</extra>",
        )  # fmt: skip
    if target is not None:
        fig.add_hline(y=target, line_dash="dash", line_color="#111827",
                      annotation_text=f"target {metric} {target:g}",
                      annotation_position="bottom right")  # fmt: skip
    fig.update_xaxes(type="log", title_text="cost of the run (US$, log scale)")
    usd_axis(fig, "x", points["cost_usd"], log=True)
    fig.update_yaxes(title_text=metric)
    fig.update_layout(legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1,
                              "xanchor": "right"}, margin={"t": 80})  # fmt: skip
    return escape_user_text(fig)


SAVING_AXIS_MIN_PCT = -100.0  # savings below are drawn at the edge, with their value written
VERDICT_COLORS = {"saves": "#16a34a", "costs more": "#dc2626", "within noise": "#6b7280",
                  "too few reached target": "#d97706"}  # fmt: skip


def savings_bars(comparisons: pd.DataFrame, *, claimed_pct: float | None) -> go.Figure:
    """Each comparison's measured saving (%) against scratch, one labelled row each, with its
    interval as error bars and coloured by verdict; the axis runs from SAVING_AXIS_MIN_PCT to
    100% (a saving cannot exceed 100%): lower figures are clipped to the edge with an arrow and
    their value; the commonly claimed saving is a dashed reference line.

    ``comparisons`` has columns label, saving_pct, saving_pct_low, saving_pct_high, verdict.
    """
    if comparisons is None or comparisons.empty:
        return empty("No transfer run to compare with a scratch run.", title="Measured savings")
    df = comparisons.copy()
    for c in ("saving_pct", "saving_pct_low", "saving_pct_high"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    lo = SAVING_AXIS_MIN_PCT
    fig = _base("Measured saving against scratch (%, 95% interval)",
                height=max(300, 110 + 26 * len(df)))  # fmt: skip
    for verdict, part in df.groupby("verdict", sort=False):
        x = part["saving_pct"].clip(lower=lo)
        clipped = part["saving_pct"] < lo
        fig.add_scatter(
            y=part["label"], x=x, mode="markers+text", name=str(verdict),
            marker={"color": VERDICT_COLORS.get(str(verdict), "#2563eb"), "size": 11,
                    "symbol": ["triangle-left" if c else "circle" for c in clipped]},
            text=[f"{v:.0f}%" if c else ""
                  for v, c in zip(part["saving_pct"], clipped, strict=True)],
            textposition="middle right",
            error_x={"type": "data", "symmetric": False,
                     "array": (part["saving_pct_high"].clip(lower=lo) - x).fillna(0),
                     "arrayminus": (x - part["saving_pct_low"].clip(lower=lo)).fillna(0)},
            customdata=part[["saving_pct", "saving_pct_low", "saving_pct_high"]].to_numpy(),
            hovertemplate="%{y}<br>saving %{customdata[0]:.1f}% "
            "[%{customdata[1]:.1f}, %{customdata[2]:.1f}]<extra>%{fullData.name}</extra>",
        )  # fmt: skip
    if claimed_pct is not None:
        fig.add_vline(
            x=claimed_pct, line_dash="dash", line_color="#6b7280",
            annotation_text=f"commonly claimed: {claimed_pct:.0f}%<br>(industry claim, not "
            "measured)", annotation_position="top left",
        )  # fmt: skip
    fig.add_vline(x=0, line_color="#111827", line_width=1)
    fig.update_xaxes(
        range=[lo - 5, 105], ticksuffix="%",
        title_text=f"% saved (negative: cost more; below {lo:.0f}% clipped \u25c0)",
    )  # fmt: skip
    fig.update_yaxes(automargin=True, autorange="reversed")
    fig.update_layout(legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1,
                              "xanchor": "right"}, margin={"t": 80})  # fmt: skip
    return escape_user_text(fig)


def estimate_bars(est: pd.DataFrame) -> go.Figure:
    """Predicted total cost (US$) per strategy and provider with the 80% interval as error bars.

    ``est`` has columns strategy, provider, total_cost_usd, total_cost_usd_low,
    total_cost_usd_high.
    """
    if est is None or est.empty:
        return empty("No estimate.", title="Predicted cost")
    fig = _base("Predicted total cost per strategy (US$, 80% interval)", height=380)
    for provider, part in est.groupby("provider", sort=False):
        fig.add_bar(
            x=part["strategy"], y=part["total_cost_usd"], name=str(provider),
            error_y={
                "type": "data", "symmetric": False,
                "array": part["total_cost_usd_high"] - part["total_cost_usd"],
                "arrayminus": part["total_cost_usd"] - part["total_cost_usd_low"],
            },
            customdata=part[["total_cost_usd_low", "total_cost_usd_high"]].to_numpy(),
            hovertext=[interval(*v) for v in part[
                ["total_cost_usd", "total_cost_usd_low", "total_cost_usd_high"]].to_numpy()],
            hovertemplate="%{x}: %{hovertext}<extra>%{fullData.name}</extra>",
        )  # fmt: skip
    fig.update_layout(
        barmode="group", xaxis_title="strategy",
        yaxis_title="predicted total cost (US$, log scale)",
    )  # fmt: skip
    # ticks in US$ that never crowd: 1-2-5 within a narrow range, one per decade beyond
    fig.update_yaxes(type="log")
    usd_axis(fig, "y", [*est["total_cost_usd_low"], *est["total_cost_usd_high"]], log=True)
    return escape_user_text(fig)


def prices_points(offers: pd.DataFrame) -> go.Figure:
    """$/GPU-hour by accelerator, one point per offer (provider, instance type, region): filled
    for on-demand, open for spot, a cross for a price flagged UNCONFIRMED. Accelerators are
    ordered by their cheapest offer, on a log axis (prices span two orders of magnitude)."""
    if offers is None or offers.empty:
        return empty("No price table.", title="$/GPU-hour")
    order = offers.groupby("gpu")["usd_per_gpu_hour"].min().sort_values().index.tolist()
    fig = _base("$/GPU-hour by accelerator: each point is one offer", height=480)
    hover = ("%{x}: %{hovertext}/GPU-h<br>%{customdata[0]} %{customdata[1]}"
             "<extra>%{fullData.name}</extra>")  # fmt: skip
    for i, (provider, part) in enumerate(offers.groupby("provider", sort=True)):
        color = PALETTE[i % len(PALETTE)]
        info = part[["instance_type", "region"]].to_numpy()
        symbols = ["circle" if c else "x" for c in part["confirmed"]]
        fig.add_scatter(
            x=part["gpu"], y=part["usd_per_gpu_hour"], mode="markers", name=f"{provider}",
            marker={"color": color, "size": 9, "symbol": symbols, "opacity": 0.85},
            customdata=info, legendgroup=str(provider), hovertemplate=hover,
            hovertext=[money(v, sig=3) for v in part["usd_per_gpu_hour"]],
        )  # fmt: skip
        spot = part.dropna(subset=["spot_usd_per_gpu_hour"])
        if len(spot):
            fig.add_scatter(
                x=spot["gpu"], y=spot["spot_usd_per_gpu_hour"], mode="markers",
                name=f"{provider} spot", legendgroup=str(provider),
                marker={"color": color, "size": 8, "symbol": "circle-open"},
                customdata=spot[["instance_type", "region"]].to_numpy(), hovertemplate=hover,
                hovertext=[money(v, sig=3) for v in spot["spot_usd_per_gpu_hour"]],
            )  # fmt: skip
    if not offers["confirmed"].all():  # a legend entry for the mark itself
        fig.add_scatter(
            x=[None], y=[None], mode="markers", name="x = unconfirmed price",
            marker={"color": "#6b7280", "symbol": "x", "size": 9},
        )  # fmt: skip
    fig.update_layout(yaxis_title="US$ per GPU-hour (log scale)", xaxis_title=None)
    fig.update_xaxes(categoryorder="array", categoryarray=order, tickangle=-35)
    fig.update_yaxes(type="log")
    prices = [*offers["usd_per_gpu_hour"], *offers.get("spot_usd_per_gpu_hour", [])]
    usd_axis(fig, "y", prices, log=True)
    return escape_user_text(fig)


def forecast_band(
    months: pd.DataFrame, *, budget_usd: float | None = None, period: str = "month"
) -> go.Figure:
    """Monthly forecast (US$): the expected line, its 80% interval as a band, the budget line.

    ``months`` has columns month, cost_usd, cost_usd_low, cost_usd_high.
    """
    if months is None or months.empty:
        return empty("The plan has no job to forecast.", title="Forecast")
    m = months.sort_values("month")
    x = list(m["month"].astype(str))
    fig = _base("Monthly forecast (US$, 80% interval)", height=380)
    fig.add_scatter(
        x=x + x[::-1],
        y=list(m["cost_usd_high"]) + list(m["cost_usd_low"])[::-1],
        fill="toself", fillcolor="rgba(37,99,235,0.15)", line={"width": 0}, mode="lines",
        name="80% interval", hoverinfo="skip",
    )  # fmt: skip
    fig.add_scatter(
        x=x, y=m["cost_usd"], mode="lines+markers", name="expected", line={"color": PALETTE[0]},
        hovertext=[money(v) for v in m["cost_usd"]],
        hovertemplate="%{x}: %{hovertext}<extra>expected</extra>",
    )  # fmt: skip
    if budget_usd is not None and budget_usd > 0:
        fig.add_scatter(
            x=x, y=[budget_usd] * len(x), mode="lines", name=f"budget per {period}",
            line={"color": PALETTE[1], "dash": "dash"},
            hovertext=[money(budget_usd)] * len(x),
            hovertemplate="budget: %{hovertext}<extra></extra>",
        )  # fmt: skip
    fig.update_layout(
        yaxis_title="US$", yaxis_rangemode="tozero", xaxis_title=None, xaxis_type="category"
    )
    usd_axis(fig, "y", [*m["cost_usd_high"], *([budget_usd] if budget_usd else [])])
    return escape_user_text(fig)
