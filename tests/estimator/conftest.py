"""Fixtures of the estimator tests: a model fitted on SYNTHETIC CPU runs."""

from __future__ import annotations

import numpy as np
import pytest

from tests.estimator.helpers import synthetic_frame
from tests.estimator.target_standin import series  # noqa: F401  (a fixture)


@pytest.fixture(scope="session")
def fitted():
    from costlens.estimator import CostModel

    X, y = synthetic_frame(150, np.random.default_rng(0))
    return CostModel().fit(X, y)
