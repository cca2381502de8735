"""Fixtures of the dashboard tests: a filled store, the shipped price table, an app."""

from __future__ import annotations

import pytest

from tests.dashboard.fill import fill_store


@pytest.fixture
def filled(store):
    """(store, ids by key) of :func:`tests.dashboard.fill.fill_store`."""
    return store, fill_store(store)


@pytest.fixture
def prices():
    from costlens.price.tables import PriceTable

    return PriceTable.load()


@pytest.fixture
def model():
    from costlens import estimator

    return estimator.load_model()
