"""The package: its public names, and that a plan or form needs no pandas, scikit-learn or torch
to build a Scenario."""

from __future__ import annotations

import subprocess
import sys

import pytest

from costlens import estimator as est


def test_public_names_resolve():
    for name in est.__all__:
        assert getattr(est, name) is not None, name
    assert est.strategy_flops.__module__ == "costlens.core.physics"
    assert est.CostModel.__module__ == "costlens.estimator"
    with pytest.raises(AttributeError):
        est.no_such_name  # noqa: B018


def test_types_load_without_the_heavy_libraries():
    code = (
        "import sys\n"
        "from costlens.estimator import Scenario, Estimate, STRATEGIES, load_model\n"
        "Scenario(params=1e9, tokens=1e9)\n"
        "print(sorted(m for m in ('pandas', 'sklearn', 'torch') if m in sys.modules))\n"
        "from costlens.estimator import estimate\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "False"]
