from __future__ import annotations

import pytest

from costlens.price.tables import PriceTable


@pytest.fixture(scope="session")
def prices() -> PriceTable:
    """The shipped price table (the test session's COSTLENS_HOME has no user prices)."""
    return PriceTable.load()
