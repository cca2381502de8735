"""User price files: five columns are enough; every bad line is reported at once."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from costlens.core.errors import DataTableError
from costlens.price.tables import PriceTable

MINIMAL = "provider,instance_type,gpu,gpu_count,price_usd_hour\n"


def test_five_columns_are_enough_and_defaults_are_documented(tmp_path: Path):
    path = tmp_path / "mine.csv"
    path.write_text(MINIMAL + "onprem,rack1,H100,8,16.00\n")
    when = dt.datetime(2026, 10, 5, 12, 0, tzinfo=dt.timezone.utc).timestamp()
    os.utime(path, (when, when))
    table = PriceTable.load(path)
    (row,) = [r for r in table.rows if r["provider"] == "onprem"]
    assert row["region"] == "any"
    assert row["source"] == str(path)
    assert row["as_of"] == "2026-10-05"
    assert row["vcpus"] is None and row["confirmed"] is True
    q = table.cheapest("H100", 8, provider="onprem")
    assert q.usd_per_gpu_hour == pytest.approx(2.0)


def test_every_bad_line_is_listed_in_one_error(tmp_path: Path):
    path = tmp_path / "bad.csv"
    path.write_text(
        MINIMAL
        + "onprem,ok,H100,8,16\n"
        + "onprem,a,H100,8,abc\n"  # line 3: not a number
        + "onprem,b,H1000,8,1\n"  # line 4: unknown accelerator
        + "onprem,c,H100,0,1\n"  # line 5: an accelerator instance with gpu_count 0
    )
    with pytest.raises(DataTableError) as info:
        PriceTable.load(path)
    err = info.value
    assert (err.line, err.column) == (3, "price_usd_hour")
    assert [p[0] for p in err.problems] == [3, 4, 5]
    text = str(err)
    assert "3 bad lines" in text and "line 4 column 'gpu'" in text and "line 5" in text


def test_missing_required_column_is_named(tmp_path: Path):
    path = tmp_path / "short.csv"
    path.write_text("provider,instance_type,gpu,gpu_count\nonprem,r,H100,8\n")
    with pytest.raises(DataTableError, match="price_usd_hour"):
        PriceTable.load(path)


def test_cli_reports_bad_user_file_with_exit_1(cli, tmp_path: Path):
    path = tmp_path / "bad.csv"
    path.write_text(MINIMAL + "onprem,a,H100,8,abc\nonprem,b,H100,8,-1\n")
    res = cli("prices", "--prices", str(path))
    assert res.code != 0 and "Traceback" not in res.err
    assert "bad.csv:2 column" in res.err and "line 3 column" in res.err
    assert len(res.err.strip().splitlines()) == 1
