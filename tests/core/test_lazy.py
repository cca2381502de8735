"""core/lazy: a package's names loaded on first use, the one helper the packages share."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO


def test_a_name_loads_on_first_use_and_an_unknown_one_is_an_attribute_error():
    code = (
        "import sys, costlens.store as s\n"
        "assert 'costlens.store.db' not in sys.modules\n"
        "assert s.open_store.__module__ == 'costlens.store.db' and 'open_store' in vars(s)\n"
        "try:\n    s.nothing_here\nexcept AttributeError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True, timeout=60).stdout  # fmt: skip
    assert "module 'costlens.store' has no attribute 'nothing_here'" in out


@pytest.mark.parametrize("package", ["costlens.store", "costlens.record", "costlens.price",
                                     "costlens.estimator"])  # fmt: skip
def test_every_declared_name_resolves(package):
    import importlib

    pkg = importlib.import_module(package)
    for name in pkg.__all__:
        assert getattr(pkg, name) is not None, f"{package}.{name}"
