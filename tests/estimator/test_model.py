"""CostModel: the scikit-learn contract, the law it learns, calibrated and widened intervals."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from costlens import estimator as est
from costlens.core.errors import EstimatorError
from tests.estimator.helpers import LAW_BASE, synthetic_frame

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


def test_fit_returns_self_sets_only_underscore_attributes_and_unfitted_predict_refuses():
    X, y = synthetic_frame(20, np.random.default_rng(1))
    m = est.CostModel(alpha=1.0)
    before = dict(vars(m))
    assert not [a for a in vars(m) if a.endswith("_")]  # unfitted: no fitted attribute yet
    with pytest.raises(NotFittedError):
        m.predict(X)
    with pytest.raises(NotFittedError):
        m.summary()
    assert m.fit(X, y) is m
    added = set(vars(m)) - set(before)
    assert added and all(a.endswith("_") for a in added), added
    assert {"groups_", "resid_lo_", "resid_hi_", "n_runs_", "priors_"} <= added
    assert {k: getattr(m, k) for k in before} == before  # fit never rewrites the parameters
    assert m.n_runs_ == 20 and m.n_features_in_ == len(est.FEATURES)
    assert list(m.feature_names_in_) == list(est.FEATURES)


def test_bad_parameters_and_shapes_are_refused_at_fit():
    X, y = synthetic_frame(5, np.random.default_rng(1))
    with pytest.raises(EstimatorError, match="alpha"):
        est.CostModel(alpha=0.0).fit(X, y)
    with pytest.raises(EstimatorError, match="coverage"):
        est.CostModel(coverage=1.0).fit(X, y)
    with pytest.raises(EstimatorError, match="rows"):
        est.CostModel().fit(X, y[:3])
    with pytest.raises(EstimatorError, match="lacks the columns"):
        est.CostModel().fit(X.drop(columns="params"), y)


def test_pickle_and_pipeline_give_the_same_predictions(fitted):
    X, _ = synthetic_frame(30, np.random.default_rng(2))
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(again.predict(X), fitted.predict(X))
    Xt, yt = synthetic_frame(60, np.random.default_rng(0))
    pipe = Pipeline([("id", FunctionTransformer()), ("model", est.CostModel())]).fit(Xt, yt)
    np.testing.assert_allclose(pipe.predict(X), est.CostModel().fit(Xt, yt).predict(X))
    assert pipe.score(Xt, yt) > 0.5  # RegressorMixin R^2 on log FLOP/s


def test_an_array_in_feature_order_predicts_like_the_frame(fitted):
    X, _ = synthetic_frame(5, np.random.default_rng(9))
    np.testing.assert_allclose(fitted.predict(X.to_numpy(dtype=object)), fitted.predict(X))


def test_learns_the_law_it_was_given(fitted):
    X, _ = synthetic_frame(1, np.random.default_rng(3))
    X.loc[:, "params"] = 1e6
    X.loc[:, "tokens_per_step"] = np.nan  # unknown batch: imputed like the recorded runs
    assert fitted.predict(X)[0] == pytest.approx(math.log(LAW_BASE), abs=0.08)
    (group,) = fitted.summary()["groups"]
    assert group["accelerator"] == "CPU" and group["runs"] == 150


def test_full_finetune_counts_as_the_same_computation_as_scratch(fitted):
    X, _ = synthetic_frame(3, np.random.default_rng(8))
    X.loc[:, "strategy"] = "scratch"
    a = fitted.predict_interval(X)
    X.loc[:, "strategy"] = "full-finetune"
    b = fitted.predict_interval(X)
    np.testing.assert_allclose(a[0], b[0])
    assert a[3].tolist() == b[3].tolist()


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


def test_too_few_runs_keep_the_priors_published_range():
    X, y = synthetic_frame(est.MIN_CALIBRATION_RUNS - 1, np.random.default_rng(6))
    m = est.CostModel().fit(X, y)
    assert m.summary()["interval_low_factor"] is None
    assert m.summary()["interval_high_factor"] is None


def test_no_runs_gives_the_cold_start_and_its_interval():
    """Without recorded runs the efficiency is the published-runs cold start (and the prior
    table's fp32 FLOP/s only where no peak exists, e.g. CPUs)."""
    from costlens.estimator.coldstart import cold_features, shipped_cold_start

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
    cold = shipped_cold_start()
    c_mid, c_lo, c_hi, why = cold.predict_interval(
        cold_features(peak_flops_per_s=312e12, precision="bf16", strategy="scratch", params=7e9,
                      gpus=8.0, tokens=np.nan, architecture="Ampere")
    )  # fmt: skip
    assert math.exp(mid[0]) / 312e12 == pytest.approx(math.exp(c_mid[0]))
    assert math.exp(lo[0]) / 312e12 == pytest.approx(math.exp(c_lo[0]))
    assert math.exp(hi[0]) / 312e12 == pytest.approx(math.exp(c_hi[0]))
    assert 0.05 < math.exp(c_mid[0]) < 0.8 and c_lo[0] < c_mid[0] < c_hi[0]
    assert bool(extrap[0]) == bool(why[0])


def test_a_model_saved_with_an_older_cold_start_still_predicts():
    """A saved model whose cold start predates the GPU generation and the bounded share (no
    ``cat_scale``, ``clipped``, ``archs_``) is priced with the shipped cold start, not a crash."""
    import copy

    from costlens.estimator.coldstart import shipped_cold_start
    from costlens.estimator.model import cold_start_for

    m = est.prior_model()
    old = copy.copy(shipped_cold_start())
    for name in ("cat_scale", "clipped", "categories", "archs_"):
        old.__dict__.pop(name, None)
    m.cold_start_ = old
    assert cold_start_for(m) is shipped_cold_start()
    e = est.estimate(est.Scenario(params=7e9, tokens=1e10, gpu="A100-80GB-SXM", gpus=8), model=m)
    assert e.gpu_hours.low < e.gpu_hours.point < e.gpu_hours.high
