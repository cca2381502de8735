"""CostModel holds scikit-learn's estimator contract: ``parametrize_with_checks`` runs every
check; the ones its input makes inapplicable are declared below with the reason (strict: a
declared check that starts passing fails, so the list stays true). What those checks would have
held is then checked here on frames of the model's own FEATURES."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import has_fit_parameter

from costlens.estimator import CostModel
from tests.estimator.helpers import synthetic_frame

# X is a frame of the 8 named FEATURES: four are words (accelerator, precision, strategy,
# workload) naming rows of the prior and spec tables. The checks fit on random numeric columns
# (often fewer than 8), which describe no training job.
SHAPE = "fits on random numeric columns; X is the 8 named FEATURES, words among them"
# costlens errors derive from CostlensError (one clear message, no traceback), not ValueError.
TYPED = "bad input raises EstimatorError (a CostlensError), not ValueError/TypeError; and " + SHAPE
SHAPE_CHECKS = (
    "check_fit_score_takes_y", "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters", "check_estimators_fit_returns_self",
    "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_pipeline_consistency",
    "check_estimators_pickle", "check_f_contiguous_array_estimator",
    "check_regressor_data_not_an_array", "check_regressors_no_decision_function",
    "check_supervised_y_2d", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_dict_unchanged", "check_fit_idempotent",
    "check_fit_check_is_fitted", "check_n_features_in", "check_fit2d_predict1d",
    "check_requires_y_none", "check_dtype_object",
)  # fmt: skip
TYPED_CHECKS = (
    "check_complex_data", "check_regressors_train", "check_supervised_y_no_nan", "check_fit1d",
    "check_fit2d_1feature",
)  # fmt: skip
SPARSE_CHECKS = (
    "check_estimator_sparse_tag",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
)
INAPPLICABLE: dict[str, str] = {
    **dict.fromkeys(SHAPE_CHECKS, SHAPE),
    **dict.fromkeys(TYPED_CHECKS, TYPED),
    **dict.fromkeys(
        SPARSE_CHECKS,
        "a sparse matrix cannot hold the words of FEATURES; refused with EstimatorError",
    ),
    "check_estimators_empty_data_messages": (
        "zero recorded runs is a valid fit by design: the prior-only model (prior_model())"
    ),
}


@parametrize_with_checks(
    [CostModel()], expected_failed_checks=lambda _est: INAPPLICABLE, xfail_strict=True
)
def test_scikit_learn_checks(estimator, check):
    check(estimator)


def test_the_contract_on_frames_of_its_own_features():
    X, y = synthetic_frame(60, np.random.default_rng(3))
    model = CostModel(alpha=1.0)
    with pytest.raises(NotFittedError):
        model.predict(X)
    params = model.get_params()
    assert model.fit(X, y) is model and model.get_params() == params  # returns self, keeps params
    assert model.n_features_in_ == 8 and list(model.feature_names_in_) == list(X.columns[:8])
    first = model.predict(X)
    again = clone(model).fit(X, y).predict(X)  # idempotent, and clone gives an unfitted copy
    np.testing.assert_array_equal(first, again)
    order = np.random.default_rng(4).permutation(len(X))
    np.testing.assert_allclose(model.predict(X.iloc[order]), first[order])  # row order
    np.testing.assert_allclose(model.predict(X.iloc[:7]), first[:7])  # subsets
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(X), first)


def test_no_sample_weight_is_accepted_and_ignored():
    # fit(X, y, sample_weight) accepted the weights and ignored them: every run counts once
    assert not has_fit_parameter(CostModel(), "sample_weight")
    X, y = synthetic_frame(20, np.random.default_rng(5))
    with pytest.raises(TypeError):
        CostModel().fit(X, y, sample_weight=np.ones(len(y)))


def test_the_regressor_mixin_comes_first():
    mro = CostModel.__mro__
    from sklearn.base import BaseEstimator, RegressorMixin

    assert mro.index(RegressorMixin) < mro.index(BaseEstimator)
    assert CostModel().score.__func__ is RegressorMixin.score
