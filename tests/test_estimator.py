"""The estimator: scikit-learn contract, physics by hand, calibrated intervals, saving, pricing.

Runs used here are SYNTHETIC test data generated from a known law with noise (marked as such);
the real-run accuracy figures come from benchmarks/estimator_accuracy.py.
"""

from __future__ import annotations

import math
import pickle
import time
import warnings
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from costlens import estimator as est
from costlens.catalog import PriceQuote
from costlens.errors import EstimatorError, PriceNotFoundError, UnknownAcceleratorError

# ---------------------------------------------------------------- fakes (injected via parameters)


@dataclass(frozen=True)
class FakeSpec:
    key: str
    peak: float | None
    tdp_w: float | None

    def peak_for(self, precision: str) -> float | None:
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
            "CPU": FakeSpec("CPU", None, None),
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


CAT = FakePrices()

# ---------------------------------------------------------------- synthetic runs (test data)

LAW_BASE = 2e10  # FLOP/s per device at 1e6 params (synthetic law, not a measurement)
LAW_SLOPE = 0.3  # d log(FLOP/s) / d log(params)


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


@pytest.fixture(scope="module")
def fitted():
    X, y = synthetic_frame(150, np.random.default_rng(0))
    return est.CostModel().fit(X, y)


# ---------------------------------------------------------------- scikit-learn contract


def test_init_stores_args_and_clone_round_trips():
    m = est.CostModel(alpha=3.0, coverage=0.9)
    assert m.get_params() == {
        "alpha": 3.0,
        "prior_strength": 1.0,
        "coverage": 0.9,
        "priors": None,
        "clip_log": 2.0,
        "widen_per_log": 0.5,
    }
    c = clone(m)
    assert c.get_params() == m.get_params() and c is not m
    with pytest.raises(TypeError):
        est.CostModel(3.0)  # keyword-only


def test_fit_returns_self_and_unfitted_predict_refuses():
    X, y = synthetic_frame(20, np.random.default_rng(1))
    m = est.CostModel()
    with pytest.raises(NotFittedError):
        m.predict(X)
    assert m.fit(X, y) is m
    assert all(a.endswith("_") for a in ("groups_", "resid_lo_", "resid_hi_", "n_runs_"))
    assert m.n_runs_ == 20


def test_pickle_and_pipeline_give_the_same_predictions(fitted):
    X, _ = synthetic_frame(30, np.random.default_rng(2))
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(again.predict(X), fitted.predict(X))
    Xt, yt = synthetic_frame(60, np.random.default_rng(0))
    pipe = Pipeline([("id", FunctionTransformer()), ("model", est.CostModel())]).fit(Xt, yt)
    np.testing.assert_allclose(pipe.predict(X), est.CostModel().fit(Xt, yt).predict(X))
    assert pipe.score(Xt, yt) > 0.5  # RegressorMixin R^2 on log FLOP/s


def test_learns_the_law_it_was_given(fitted):
    X, _ = synthetic_frame(1, np.random.default_rng(3))
    X.loc[:, "params"] = 1e6
    X.loc[:, "tokens_per_step"] = np.nan  # unknown batch: imputed like the recorded runs
    assert fitted.predict(X)[0] == pytest.approx(math.log(LAW_BASE), abs=0.08)


# ---------------------------------------------------------------- physics by hand


def test_flops_formulas_by_hand():
    n, d = 1e9, 1e6
    assert est.strategy_flops(n, d, "scratch") == pytest.approx(6e15)
    assert est.strategy_flops(n, d, "full-finetune") == pytest.approx(6e15)
    # LoRA: forward 2N + activation grads 2N + weight grads 2 fN
    assert est.strategy_flops(n, d, "lora", trainable_fraction=0.01) == pytest.approx(
        (4 + 0.02) * 1e15
    )
    # frozen features: forward through the frozen 90% + full training of the 10% head
    assert est.strategy_flops(n, d, "frozen-features", trainable_fraction=0.1) == pytest.approx(
        (2 * 0.9 + 6 * 0.1) * 1e15
    )
    # cached features: frozen forward once per unique sample (4 epochs -> a quarter)
    assert est.strategy_flops(
        n, d, "frozen-features", trainable_fraction=0.1, epochs=4
    ) == pytest.approx((2 * 0.9 / 4 + 6 * 0.1) * 1e15)
    # PaLM appendix B: 6N + 12 L d T per token when the shape is known
    got = est.strategy_flops(n, d, "scratch", n_layers=24, d_model=2048, seq_len=2048)
    assert got == pytest.approx((6e9 + 12 * 24 * 2048 * 2048) * 1e6)


def test_flops_vectorised_matches_scalar():
    strat = np.array(["scratch", "lora", "frozen-features"], dtype=object)
    got = est.strategy_flops([1e6, 1e6, 1e6], [10, 10, 10], strat, trainable_fraction=0.5)
    assert got.tolist() == pytest.approx([6e7, 5e7, 4e7])


# ---------------------------------------------------------------- intervals


def test_conformal_interval_covers_80_percent_of_fresh_synthetic_runs(fitted):
    X, y = synthetic_frame(2000, np.random.default_rng(4))
    mid, lo, hi, extrap = fitted.predict_interval(X)
    inside = (y >= lo) & (y <= hi)
    assert 0.74 <= inside.mean() <= 0.86, inside.mean()
    assert not extrap.any()
    assert np.all(lo <= mid) and np.all(mid <= hi)


def test_outside_the_recorded_range_is_flagged_and_wider(fitted):
    X, _ = synthetic_frame(2, np.random.default_rng(5))
    X.loc[:, "params"] = [1e6, 1e9]  # inside / 100x beyond the largest recorded run
    _, lo, hi, extrap = fitted.predict_interval(X)
    assert extrap.tolist() == [False, True]
    assert (hi - lo)[1] > 1.5 * (hi - lo)[0]


def test_no_runs_gives_the_prior_and_its_published_range():
    m = est.prior_model()
    X = pd.DataFrame(
        {
            "accelerator": ["A100-80GB-SXM"],
            "precision": ["bf16"],
            "strategy": ["scratch"],
            "workload": [""],
            "params": [7e9],
            "tokens_per_step": [np.nan],
            "world_size": [8.0],
            "peak_flops_per_s": [312e12],
        }
    )
    mid, lo, hi, extrap = m.predict_interval(X)
    row = est._prior_row(est.load_priors(), "mfu", "A100-80GB-SXM", "bf16")
    assert math.exp(mid[0]) / 312e12 == pytest.approx(row["value"])
    assert math.exp(lo[0]) / 312e12 == pytest.approx(row["low"])
    assert math.exp(hi[0]) / 312e12 == pytest.approx(row["high"])
    assert extrap[0]


def test_every_prior_row_has_a_source_and_date():
    table = est.load_priors()
    assert {"mfu", "flops_per_s", "trainable_fraction"} <= set(table["kind"])
    assert table["source"].str.len().min() > 20
    assert table["as_of"].str.match(r"\d{4}-\d{2}-\d{2}").all()
    cpu = table[table["kind"] == "flops_per_s"].iloc[0]
    assert "measured" in cpu["source"].lower()


def test_bad_prior_table_names_line_and_column(tmp_path):
    bad = tmp_path / "p.csv"
    bad.write_text("kind,key,precision,value,low,high,source,as_of\nmfu,*,*,abc,0.1,0.5,x,2026\n")
    with pytest.raises(Exception) as info:
        est.load_priors(bad)
    assert ":2" in str(info.value) and "value" in str(info.value)


# ---------------------------------------------------------------- estimates and pricing


def test_estimate_arithmetic_with_a_fake_catalog():
    m = est.prior_model()
    s = est.Scenario(params=1e9, tokens=1e10, gpu="FAKE-GPU", gpus=8, precision="bf16")
    e = est.estimate(s, model=m, prices=CAT)
    mfu = est._prior_row(m.priors_, "mfu", "FAKE-GPU", "bf16")["value"]
    assert e.mfu_assumed == pytest.approx(mfu)
    assert e.wall_hours == pytest.approx(6e19 / (mfu * 1e14 * 8) / 3600)
    assert e.gpu_hours == pytest.approx(8 * e.wall_hours)
    assert e.cost_usd == pytest.approx(2.0 * e.gpu_hours)
    assert e.energy_kwh == pytest.approx(0.3 * 8 * e.wall_hours)  # TDP upper bound
    assert e.energy_basis == "tdp_upper_bound"
    assert e.gpu_hours_low < e.gpu_hours < e.gpu_hours_high
    spot = est.estimate(est.Scenario(**{**s.__dict__, "spot": True}), model=m, prices=CAT)
    assert spot.cost_usd == pytest.approx(e.cost_usd / 2)


def test_labels_enter_the_total():
    m = est.prior_model()
    s = est.Scenario(
        params=1e8, tokens=1e9, gpu="FAKE-GPU", labelled_samples=1000, usd_per_label=0.25
    )
    e = est.estimate(s, model=m, prices=CAT)
    assert e.label_cost_usd == 250.0
    assert e.total_cost_usd == pytest.approx(e.cost_usd + 250.0)
    assert e.total_cost_usd_high == pytest.approx(e.cost_usd_high + 250.0)


def test_cpu_without_price_has_no_dollars_but_has_hours(fitted):
    s = est.Scenario(params=1e6, tokens=1e8, gpu="CPU", precision="fp32")
    e = est.estimate(s, model=fitted, prices=CAT)
    assert e.wall_hours == pytest.approx(6e14 / LAW_BASE / 3600, rel=0.1)
    assert math.isnan(e.cost_usd)
    d = e.as_dict()
    assert d["cost_usd"] is None and d["wall_hours"] > 0 and not e.extrapolation


def test_compare_savings_roi_and_break_even():
    m = est.prior_model()
    s = est.Scenario(params=1e9, tokens=1e9, strategy="lora", gpu="FAKE-GPU", gpus=8)
    out = est.compare(s, model=m, prices=CAT, scratch_tokens=1e11)
    rows = {r["strategy"]: r for r in out["strategies"]}
    assert set(rows) == set(est.STRATEGIES)
    scratch, lora = rows["scratch"], rows["lora"]
    assert scratch["flops"] == pytest.approx(6e20)
    save = scratch["total_cost_usd"] - lora["total_cost_usd"]
    assert out["compared_strategy"] == "lora"
    assert out["savings_usd"] == pytest.approx(save)
    assert out["roi"] == pytest.approx(save / lora["total_cost_usd"])
    assert out["break_even_jobs"] == pytest.approx(scratch["cost_usd"] / save)
    assert out["savings_usd_low"] < out["savings_usd"] < out["savings_usd_high"]


def test_estimate_many_is_vectorised_and_fast():
    m = est.prior_model()
    scen = [
        est.Scenario(params=1e8 * (1 + i % 7), tokens=1e10, gpu="FAKE-GPU", gpus=1 + i % 4)
        for i in range(10_000)
    ]
    t0 = time.perf_counter()
    out = est.estimate_many(scen, model=m, prices=CAT)
    elapsed = time.perf_counter() - t0
    assert len(out) == 10_000 and elapsed < 5.0
    assert out[7].wall_hours == pytest.approx(est.estimate(scen[7], model=m, prices=CAT).wall_hours)


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"params": 0}, "params"),
        ({"params": -5}, "params"),
        ({"tokens": 0.5}, "tokens"),
        ({"strategy": "magic"}, "strategy"),
        ({"strategy": "lora", "trainable_fraction": 1.5}, "trainable_fraction"),
        ({"strategy": "lora", "trainable_fraction": 0.0}, "trainable_fraction"),
        ({"gpus": 0}, "gpus"),
        ({"precision": "int3"}, "precision"),
        ({"usd_per_label": -1.0, "labelled_samples": 3}, "usd_per_label"),
    ],
)
def test_impossible_scenarios_are_clear_errors(kw, words):
    base = {"params": 1e6, "tokens": 1e6, "gpu": "FAKE-GPU"}
    with pytest.raises(EstimatorError, match=words):
        est.estimate(est.Scenario(**{**base, **kw}), model=est.prior_model(), prices=CAT)


def test_unknown_accelerator_is_a_clear_error():
    with pytest.raises(UnknownAcceleratorError):
        est.estimate(est.Scenario(params=1e6, tokens=1e6, gpu="Z9"), model=est.prior_model(),
                     prices=CAT)  # fmt: skip


# ---------------------------------------------------------------- recorded runs (store)


def _insert(store, i: int, *, params: float, samples: int, flops_per_s: float, name="mlp"):
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


def test_fit_from_store_save_and_load(store):
    from costlens.store.queries import list_runs

    rng = np.random.default_rng(6)  # SYNTHETIC runs
    for i in range(12):
        p = float(np.exp(rng.uniform(np.log(1e5), np.log(1e7))))
        _insert(store, i, params=p, samples=64_000, flops_per_s=LAW_BASE * (p / 1e6) ** 0.3)
    records = list_runs(store)
    model = est.fit_records(records, prices=CAT)
    assert model.n_runs_ == 12 and len(model.fingerprint_) == 16
    path = est.save_model(model)
    assert path.name == "model.pkl" and not list(path.parent.glob(".model-*"))
    loaded = est.load_model()
    assert loaded.fingerprint_ == model.fingerprint_
    assert est.runs_fingerprint(records) == model.fingerprint_
    # a model from another scikit-learn version is not trusted
    payload = pickle.loads(path.read_bytes())
    payload["sklearn_version"] = "0.0.1"
    path.write_bytes(pickle.dumps(payload))
    with pytest.warns(est.ModelWarning, match="scikit-learn"):
        assert est.load_model().n_runs_ == 0
    path.write_bytes(b"garbage")
    with pytest.warns(est.ModelWarning, match="unreadable"):
        assert est.load_model().n_runs_ == 0


def test_scaling_a_run_uses_its_own_throughput(store):
    from costlens.store.queries import get_run, list_runs

    for i, p in enumerate([1e5, 3e5, 1e6, 3e6]):  # SYNTHETIC runs
        _insert(store, i, params=p, samples=64_000, flops_per_s=LAW_BASE * (p / 1e6) ** 0.3)
    _insert(store, 9, params=1e6, samples=64_000, flops_per_s=LAW_BASE * 0.5, name="slow")
    model = est.fit_records(list_runs(store), prices=CAT)
    rec = get_run(store, "run009")
    same = est.estimate_from_run(rec, model=model, prices=CAT)
    assert same.wall_hours * 3600 == pytest.approx(rec["duration_s"], rel=1e-3)
    four = est.estimate_from_run(rec, scale_tokens=4, model=model, prices=CAT)
    assert four.wall_hours == pytest.approx(4 * same.wall_hours, rel=1e-6)
    big = est.estimate_from_run(rec, scale_params=4, model=model, prices=CAT)
    assert big.flops == pytest.approx(4 * rec["flops"])
    assert big.wall_hours < 4 * same.wall_hours  # bigger models run faster per FLOP on this law
    assert big.gpu == "CPU" and big.extrapolation


def test_warnings_do_not_escape_a_fresh_home():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert est.load_model().n_runs_ == 0


def test_compare_anchored_on_a_run_shifts_every_strategy_alike():
    m = est.prior_model()
    s = est.Scenario(params=1e9, tokens=1e9, gpu="FAKE-GPU")
    plain = est.compare(s, model=m, prices=CAT)
    fast = est.compare(s, model=m, prices=CAT, log_eff_offset=math.log(0.5))
    for a, b in zip(plain["strategies"], fast["strategies"], strict=True):
        assert b["wall_hours"] == pytest.approx(2 * a["wall_hours"])
    assert fast["roi"] == pytest.approx(plain["roi"])


def test_full_finetune_counts_as_the_same_computation_as_scratch(fitted):
    X, _ = synthetic_frame(3, np.random.default_rng(8))
    X.loc[:, "strategy"] = "scratch"
    a = fitted.predict_interval(X)
    X.loc[:, "strategy"] = "full-finetune"
    b = fitted.predict_interval(X)
    np.testing.assert_allclose(a[0], b[0])
    assert a[3].tolist() == b[3].tolist()


def test_partial_instance_pays_for_the_whole_instance():
    m = est.prior_model()
    s = est.Scenario(params=1e9, tokens=1e10, gpu="FAKE-GPU", precision="bf16")
    by_gpus = {g: est.estimate(replace(s, gpus=g), model=m, prices=CAT) for g in (3, 8, 9)}
    assert by_gpus[8].usd_per_gpu_hour == pytest.approx(2.0)
    assert by_gpus[3].usd_per_gpu_hour == pytest.approx(16.0 / 3)  # one whole 8-GPU instance
    assert by_gpus[9].usd_per_gpu_hour == pytest.approx(2 * 16.0 / 9)  # two of them
    for e in by_gpus.values():
        assert e.cost_usd == pytest.approx(e.gpu_hours * e.usd_per_gpu_hour)
