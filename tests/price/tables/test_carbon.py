"""Grid carbon intensity: the shipped table, look-ups, the default row, malformed tables."""

from __future__ import annotations

import pytest

from costlens.core.errors import DataTableError
from costlens.price.tables import PriceTable
from costlens.price.tables.carbon import read_carbon

HEADER = "provider,region,g_co2e_per_kwh,source,as_of,default,note\n"


def test_the_shipped_table_covers_priced_regions_and_has_a_sourced_default():
    table = PriceTable.load().carbon
    row = table.lookup("aws", "us-east-1")
    assert row is not None and row.g_co2e_per_kwh == 367.8 and "eGRID" in row.source
    assert table.lookup("GCP", "US-CENTRAL1").region == "us-central1"  # case-insensitive
    fallback = table.lookup("lambda", "us-east-1")
    assert fallback is table.default and fallback.is_default
    assert fallback.g_co2e_per_kwh == 475 and "IEA" in fallback.source
    assert table.lookup(None, None) is table.default


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ("aws,us-east-1,nan,src,2026-01-01,,\n", "g_co2e_per_kwh"),
        ("aws,us-east-1,-3,src,2026-01-01,,\n", "g_co2e_per_kwh"),
        ("aws,us-east-1,300,,2026-01-01,,\n", "source"),
        ("aws,us-east-1,300,src,2026-02-30,,\n", "as_of"),
    ],
)
def test_a_malformed_row_is_refused_naming_its_cell(tmp_path, row, column):
    p = tmp_path / "carbon.csv"
    p.write_text(HEADER + row)
    with pytest.raises(DataTableError) as err:
        read_carbon(p)
    assert err.value.column == column and err.value.line == 2


def test_two_default_rows_are_refused(tmp_path):
    p = tmp_path / "carbon.csv"
    p.write_text(HEADER + "world,a,400,src,2026-01-01,yes,\nworld,b,500,src,2026-01-01,yes,\n")
    with pytest.raises(DataTableError, match="second 'default'"):
        read_carbon(p)
