"""Recorded runs as training data: which runs count, their features and model FLOPs."""

from __future__ import annotations

import math

import pytest

from costlens import estimator as est
from tests.estimator.helpers import PRICES as CAT
from tests.estimator.helpers import legacy_records


def test_only_completed_runs_with_flops_and_a_duration_are_used():
    recs = legacy_records()[:4]
    recs[1] = {**recs[1], "status": "failed"}
    recs[2] = {**recs[2], "flops": 0}
    recs[3] = {**recs[3], "device": "NoSuchGPU", "device_count": 2}  # unknown device: skipped
    X, y, used = est.training_frame(recs, prices=CAT)
    assert [r["id"] for r in used] == ["legacy00"] and len(X) == len(y) == 1
    model = est.fit_records(recs, prices=CAT)
    assert model.n_runs_ == 1 and model.n_skipped_ == 3


def test_features_and_target_of_a_run():
    rec = legacy_records()[1]
    X, y, _ = est.training_frame([rec], prices=CAT)
    row = X.iloc[0]
    assert (row["accelerator"], row["precision"], row["strategy"]) == ("CPU", "fp32", "scratch")
    assert row["tokens_per_step"] == pytest.approx(64) and row["world_size"] == 1.0
    assert math.isnan(row["peak_flops_per_s"])
    assert y[0] == pytest.approx(math.log(rec["flops"] / rec["duration_s"]))
    assert row["energy_j_per_flop"] == pytest.approx(rec["energy_j"] / rec["flops"])


def test_model_flops_follow_the_strategy():
    lora = legacy_records()[0]  # lora with a tenth trainable
    n, units = lora["params_total"], lora["samples"]
    f = lora["params_trainable"] / n
    assert est.model_flops(lora) == pytest.approx((4 + 2 * f) * n * units)
    unknown_share = {**lora, "params_trainable": None}
    assert est.model_flops(unknown_share) == pytest.approx(6 * n * units)  # as full training
    assert est.model_flops({**lora, "samples": None, "tokens": None}) == lora["flops"]
    assert est.model_flops({**lora, "strategy": "other"}) == pytest.approx(6 * n * units)


def test_devices_and_accelerator_of_a_run():
    assert est.run_devices({"device_count": 4, "world_size": 8}) == 4
    assert est.run_devices({"device_count": 0, "world_size": 3}) == 3
    assert est.run_devices({}) == 1
    assert est.run_accelerator({"device": "FAKE-GPU", "device_count": 1}, CAT) == "FAKE-GPU"
    assert est.run_accelerator({"device": "FAKE-GPU", "device_count": 0}, CAT) == "CPU"


def test_the_fingerprint_depends_on_ids_flops_and_durations_not_order():
    recs = legacy_records()
    assert est.runs_fingerprint(recs) == est.runs_fingerprint(recs[::-1])
    changed = [{**recs[0], "duration_s": recs[0]["duration_s"] * 2}, *recs[1:]]
    assert est.runs_fingerprint(changed) != est.runs_fingerprint(recs)
