"""The prices page: $/GPU-hour by accelerator and provider, and each price table's date."""

from __future__ import annotations

from typing import Any

import pandas as pd

from costlens.core.fmt import money
from costlens.core.hours import usd_per_device_hour
from costlens.core.vocab import CPU_KEY
from costlens.price.tables import PriceTable


def _rows(prices: PriceTable) -> pd.DataFrame:
    """The price rows with their spot $/GPU-hour (``confirmed`` comes with the table's frame:
    :func:`costlens.price.tables.note_confirmed` is the one rule)."""
    df = prices.frame.copy()
    pairs = zip(df["spot_price_usd_hour"], df["gpu_count"], strict=True)
    spot = [usd_per_device_hour(usd, gpus) for usd, gpus in pairs]
    df["spot_usd_per_gpu_hour"] = pd.to_numeric(pd.Series(spot, index=df.index, dtype=object))
    return df


def offers_frame(prices: PriceTable) -> pd.DataFrame:
    """Every GPU offer (one row per provider, instance and region) with its on-demand and spot
    $/GPU-hour and ``confirmed`` (False when the row's note flags it UNCONFIRMED)."""
    df = _rows(prices)
    return df[df["gpu"] != CPU_KEY].reset_index(drop=True)


def prices_frame(prices: PriceTable) -> pd.DataFrame:
    """$/GPU-hour by accelerator and provider: cheapest on-demand and spot row of each, with
    the number of instance types, the newest as_of, and whether the cheapest on-demand row is
    confirmed."""
    return (
        _rows(prices)
        .sort_values("usd_per_gpu_hour", kind="stable")  # "first" below: the cheapest row's flag
        .groupby(["gpu", "provider"], as_index=False)
        .agg(
            usd_per_gpu_hour=("usd_per_gpu_hour", "min"),
            spot_usd_per_gpu_hour=("spot_usd_per_gpu_hour", "min"),
            instances=("instance_type", "nunique"),
            as_of=("as_of", "max"),
            confirmed=("confirmed", "first"),
        )
        .sort_values(["gpu", "usd_per_gpu_hour"])
        .reset_index(drop=True)
    )


def price_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """:func:`prices_frame` as text rows (on-demand and spot US$ per GPU-hour, n/a where none)."""
    rows = []
    for rec in table.to_dict("records"):
        rows.append(
            {
                "gpu": rec["gpu"] if rec["gpu"] != CPU_KEY else "CPU (per instance-hour)",
                "provider": rec["provider"],
                "on_demand": money(rec["usd_per_gpu_hour"], sig=3)
                + ("" if rec["confirmed"] else " (unconfirmed)"),
                "spot": money(rec.get("spot_usd_per_gpu_hour"), sig=3),
                "instances": int(rec["instances"]),
                "as_of": rec["as_of"],
            }
        )
    return rows


def price_tables(prices: PriceTable) -> pd.DataFrame:
    """Each price table (provider and source) with its as_of date and row count."""
    return (
        prices.frame.groupby(["provider", "source", "as_of"], as_index=False)
        .size()
        .rename(columns={"size": "rows"})
        .sort_values(["provider", "as_of"])
        .reset_index(drop=True)
    )
