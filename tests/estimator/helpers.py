"""Test doubles and SYNTHETIC test data for the estimator tests.

Runs made here come from a known law with noise (marked as such); the real-run accuracy figures
come from benchmarks/estimator_accuracy.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from costlens.core.errors import PriceNotFoundError, UnknownAcceleratorError
from costlens.price.tables import PriceQuote

LAW_BASE = 2e10  # FLOP/s per device at 1e6 params (synthetic law, not a measurement)
LAW_SLOPE = 0.3  # d log(FLOP/s) / d log(params)


@dataclass(frozen=True)
class FakeSpec:
    key: str
    peak: float | None
    tdp_w: float | None
    default_precision: str = "bf16"

    def peak_for(self, precision: str) -> float | None:
        return self.peak

    def require_peak(self, precision: str | None) -> float:
        assert self.peak is not None
        return self.peak


def fake_quote(spot: bool = False, gpu_count: int = 8, usd_per_gpu_hour: float = 2.0):
    """A real PriceQuote of a made-up 8-GPU instance (whole-instance billing is the quote's)."""
    rate = usd_per_gpu_hour / 2 if spot else usd_per_gpu_hour
    return PriceQuote(
        provider="fakecloud", instance_type="fake.8x", region="nowhere", gpu="FAKE-GPU",
        gpu_count=gpu_count, usd_per_hour=rate * gpu_count, usd_per_gpu_hour=rate, spot=spot,
        source="test", as_of="2026-01-01",
    )  # fmt: skip


@dataclass
class FakePrices:
    """The PriceTable methods the estimator calls, over one made-up accelerator and CPU."""

    specs: dict = field(
        default_factory=lambda: {
            "FAKE-GPU": FakeSpec("FAKE-GPU", 1e14, 300.0),
            "CPU": FakeSpec("CPU", None, None, "fp32"),
        }
    )

    def resolve(self, name: str) -> str:
        if name not in self.specs:
            raise UnknownAcceleratorError(name, [])
        return name

    def spec(self, name: str) -> FakeSpec:
        return self.specs[self.resolve(name)]

    def cheapest(self, gpu, gpu_count=1, *, provider=None, spot=False, instance_type=None):
        if gpu == "CPU":
            raise PriceNotFoundError("no price for CPU")
        return fake_quote(spot)


PRICES = FakePrices()


def synthetic_frame(n: int, rng: np.random.Generator, noise: float = 0.2, lo=1e5, hi=1e7):
    """SYNTHETIC runs on CPU: log FLOP/s = log(LAW_BASE) + LAW_SLOPE log(N/1e6) + N(0, noise)."""
    params = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    tps = np.exp(rng.uniform(np.log(32), np.log(256), n))
    X = pd.DataFrame(
        {
            "accelerator": "CPU",
            "precision": "fp32",
            "strategy": rng.choice(["scratch", "lora"], n),
            "workload": "",
            "params": params,
            "tokens_per_step": tps,
            "world_size": 1.0,
            "peak_flops_per_s": np.nan,
        }
    )
    y = np.log(LAW_BASE) + LAW_SLOPE * np.log(params / 1e6) + rng.normal(0, noise, n)
    return X, y


def insert_synthetic_run(
    store, i: int, *, params: float, samples: int, flops_per_s: float, name="mlp"
) -> None:
    """One SYNTHETIC completed CPU run in the store, at the given speed."""
    from costlens.store.ingest import insert_run

    flops = 6.0 * params * samples
    start = datetime(2026, 1, 1) + timedelta(hours=i)
    insert_run(
        store,
        {
            "id": f"run{i:03d}",
            "status": "completed",
            "started_at": start,
            "ended_at": start + timedelta(seconds=flops / flops_per_s),
            "name": name,
            "strategy": "scratch",
            "params_total": int(params),
            "params_trainable": int(params),
            "steps": samples // 64,
            "samples": samples,
            "flops": flops,
            "precision": "fp32",
            "device_count": 0,
            "world_size": 1,
        },
    )


def legacy_records() -> list[dict]:
    """The SYNTHETIC CPU run records that ``tests/fixtures/estimator_model_v1.pkl`` was fitted
    on (``fit_records`` then ``save_model`` of the single-module estimator, before the package)."""
    out = []
    for i in range(12):
        params = 1e5 * 1.5**i
        samples = 64_000
        flops = 6.0 * params * samples
        speed = 2e10 * (params / 1e6) ** 0.3 * (1.1 if i % 2 else 0.9)
        out.append(
            {
                "id": f"legacy{i:02d}",
                "status": "completed",
                "name": "mlp" if i % 3 else "cnn",
                "strategy": "lora" if i % 4 == 0 else "scratch",
                "params_total": int(params),
                "params_trainable": int(params) // (10 if i % 4 == 0 else 1),
                "steps": samples // 64,
                "samples": samples,
                "flops": flops,
                "duration_s": flops / speed,
                "precision": "fp32",
                "device_count": 0,
                "world_size": 1,
                "energy_j": 50.0 * flops / speed * (1 + math.sin(i) / 10),
            }
        )
    return out
