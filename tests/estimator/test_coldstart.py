"""The cold start learned from data/published_runs.csv, and the table's validation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from costlens.core.errors import DataTableError
from costlens.estimator.coldstart import (
    cold_features,
    fit_cold_start,
    peak_table,
    published_training_data,
    shipped_cold_start,
)
from costlens.price.tables import shipped_accelerators
from costlens.price.tables.published import PUBLISHED_COLUMNS, published_runs, read_published_runs


def test_the_table_has_primary_sourced_runs_of_both_kinds():
    runs = published_runs()
    assert len(runs) >= 40
    assert sum(r.fine_tune for r in runs) >= 4 and sum(not r.fine_tune for r in runs) >= 30
    assert {"V100-32GB-SXM2", "A100-80GB-SXM", "H100-SXM"} <= {r.gpu for r in runs}
    assert all(r.source and r.as_of and r.confidence for r in runs)
    _, y, _ = published_training_data(runs, peak_table(shipped_accelerators()))
    assert np.all((np.exp(y) > 0.03) & (np.exp(y) < 0.8))  # MFU: physically plausible


def _write(tmp_path: Path, cells: dict[str, str]) -> Path:
    good = {"model": "m", "family": "f", "strategy": "scratch", "params": "1e9",
            "tokens": "1e10", "gpu": "A100", "gpu_hours": "100", "published_as": "100 h",
            "precision": "bf16", "source": "s", "as_of": "2024-01-01",
            "confidence": "c"}  # fmt: skip
    row = {**good, **cells}
    p = tmp_path / "runs.csv"
    p.write_text(",".join(PUBLISHED_COLUMNS) + "\n"
                 + ",".join(row.get(c, "") for c in PUBLISHED_COLUMNS) + "\n")  # fmt: skip
    return p


@pytest.mark.parametrize(
    ("cells", "column"),
    [({"gpu": "H1000"}, "gpu"), ({"precision": "fp8"}, "gpu"), ({"strategy": "magic"}, "strategy"),
     ({"tokens": ""}, "tokens"), ({"gpu_hours": "-1"}, "gpu_hours"),
     ({"as_of": "2024-02-30"}, "as_of"), ({"includes": "restarts"}, "includes")],
)  # fmt: skip
def test_a_bad_row_names_its_line_and_column(tmp_path, cells, column):
    with pytest.raises(DataTableError) as info:
        read_published_runs(_write(tmp_path, cells))
    assert (info.value.line, info.value.column) == (2, column)


def test_samples_seq_len_epochs_give_the_tokens(tmp_path):
    (run,) = read_published_runs(_write(tmp_path, {"tokens": "", "samples": "1000",
                                                   "seq_len": "512", "epochs": "3"}))  # fmt: skip
    assert run.tokens == 1000 * 512 * 3 and run.gpu == "A100-40GB-SXM"


def test_efficiency_depends_on_the_job_not_only_the_gpu():
    cold = shipped_cold_start()
    X = cold_features(peak_flops_per_s=312e12, precision="bf16",
                      strategy=["scratch", "full-finetune"], params=[70e9, 7e9],
                      gpus=[2048, 8], tokens=[2e12, 80e6], seq_len=[4096, 512],
                      architecture="Ampere")  # fmt: skip
    mid, lo, hi, why = cold.predict_interval(X)
    assert mid[0] > mid[1] + 0.3  # a small fine-tune runs well below a large pretraining job
    assert np.all(lo < mid) and np.all(mid < hi)
    assert why[0] == "" and "fine-tune" in why[1]  # few published fine-tunes: said, and wider
    assert hi[1] - lo[1] > hi[0] - lo[0]


def test_no_prediction_is_more_efficient_than_the_published_runs():
    """A linear model on few fine-tune rows once predicted 100% MFU for a LoRA: the point is held
    at the 90th percentile of the published runs' MFU, the interval's top at their best, and the
    reason says so."""
    cold = shipped_cold_start()
    _, y, _ = published_training_data(published_runs(), peak_table(shipped_accelerators()))
    X = cold_features(peak_flops_per_s=989e12, precision="bf16", strategy=["lora"],
                      params=[7e9], gpus=[8], tokens=[2e12], seq_len=[4096],
                      trainable_fraction=[0.01])  # fmt: skip
    mid, lo, hi, why = cold.predict_interval(X)
    assert mid[0] <= np.quantile(y, 0.9) + 1e-12 and hi[0] <= y.max() + 1e-12
    assert lo[0] < mid[0] <= hi[0]
    assert "held at" in why[0]


def test_a_held_out_family_is_not_looked_up():
    """No look-up: without its family, a published run is predicted from the others."""
    runs = published_runs()
    rest = [r for r in runs if r.family != "llama2"]
    cold = fit_cold_start(rest, shipped_accelerators())
    X, y, g = published_training_data(runs, peak_table(shipped_accelerators()))
    held = g == "llama2"
    full = fit_cold_start(runs, shipped_accelerators())
    assert not np.allclose(cold.predict(X[held]), full.predict(X[held]))
    assert np.all(np.abs(cold.predict(X[held]) - y[held]) < np.log(3))


def test_the_fit_is_cached_beside_the_store_and_keyed(tmp_path, monkeypatch):
    from costlens.estimator import coldstart

    monkeypatch.setenv("COSTLENS_HOME", str(tmp_path))
    coldstart._shipped.cache_clear()
    first = coldstart.shipped_cold_start()
    assert (tmp_path / coldstart.COLD_START_FILE).is_file()
    coldstart._shipped.cache_clear()
    again = coldstart.shipped_cold_start()  # read back, not refitted
    X = cold_features(peak_flops_per_s=989.5e12, precision="bf16", strategy="scratch",
                      params=8e9, gpus=512, tokens=1e12)  # fmt: skip
    assert again.predict(X) == pytest.approx(first.predict(X))
    (tmp_path / coldstart.COLD_START_FILE).write_bytes(b"not a pickle")
    coldstart._shipped.cache_clear()
    assert coldstart.shipped_cold_start().predict(X) == pytest.approx(first.predict(X))
    coldstart._shipped.cache_clear()


def test_every_gpu_in_the_spec_table_names_its_generation():
    specs = shipped_accelerators().specs
    assert all(s.architecture for s in specs if s.key != "CPU")
    assert {s.architecture for s in specs} >= {"Volta", "Ampere", "Hopper", "CDNA 3"}


def test_the_gpu_generation_is_its_own_effect():
    """Published V100 runs imply 5-14% MFU: the same job on a V100 is predicted below the A100's
    MFU (the peak alone once gave the older GPU the higher MFU), and the interval says how few
    published runs are on that generation."""
    cold = fit_cold_start(published_runs(), shipped_accelerators())
    job = dict(precision="fp16", strategy="scratch", params=1.1e9, gpus=96, tokens=236e9,
               seq_len=2048)  # fmt: skip
    v100 = cold_features(peak_flops_per_s=125e12, architecture="Volta", **job)
    a100 = cold_features(peak_flops_per_s=312e12, architecture="Ampere", **job)
    mid_v, _, _, why_v = cold.predict_interval(v100)
    mid_a, _, _, why_a = cold.predict_interval(a100)
    assert mid_v[0] < mid_a[0] - 0.3
    assert "arch Volta" in why_v[0] and "arch" not in why_a[0]


def test_the_trainable_share_does_not_extrapolate_from_one_lora():
    """One LoRA row in the table sets no trend: a small share cannot double the predicted MFU."""
    cold = fit_cold_start(published_runs(), shipped_accelerators())
    X = cold_features(peak_flops_per_s=312e12, precision="bf16", strategy="lora",
                      params=[7e9] * 3, gpus=1, tokens=1e8, seq_len=512,
                      trainable_fraction=[1.0, 0.0024, 1e-5], architecture="Ampere")  # fmt: skip
    mid = cold.predict(X)
    assert np.ptp(mid) < np.log(1.2)


def test_each_published_figure_says_what_it_includes():
    runs = published_runs()
    assert {r.includes for r in runs} <= {"wall-clock", "compute", "unknown"}
    assert sum(r.includes == "wall-clock" for r in runs) >= 15  # GPUs x elapsed time, as sourced


def test_the_bill_over_compute_overhead_is_learned_from_the_rows_that_say():
    """Where the table holds wall-clock and compute-only rows, the overhead is the learned
    difference between them, never below 1; where it holds no compute-only row, 1 (unknown)."""
    runs = published_runs()
    cold = fit_cold_start(runs, shipped_accelerators())
    assert cold.overhead_ >= 1.0
    slow = [replace(r, gpu_hours=r.gpu_hours * 2) if r.includes == "wall-clock" else r
            for r in runs]  # fmt: skip
    assert fit_cold_start(slow, shipped_accelerators()).overhead_ > 1.3
    none = [replace(r, includes="unknown") if r.includes == "compute" else r for r in slow]
    assert fit_cold_start(none, shipped_accelerators()).overhead_ == 1.0
