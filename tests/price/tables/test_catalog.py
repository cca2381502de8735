"""catalog: shipped tables, name normalisation, the validator (property tests), user overrides."""

from __future__ import annotations

import csv
import io
import math
import os
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costlens.core.errors import DataTableError, PriceNotFoundError, UnknownAcceleratorError
from costlens.price import tables as catalog
from costlens.price.tables import PriceTable
from costlens.price.tables.instances import validate_price_rows
from tests.conftest import FIXTURES

SMALL = FIXTURES / "prices_small.csv"

# --------------------------------------------------------------------------------------------
# Shipped tables
# --------------------------------------------------------------------------------------------


def test_shipped_prices_cover_four_providers_and_cpu():
    df = PriceTable.load().frame
    assert {"aws", "gcp", "azure", "lambda"} <= set(df["provider"])
    for prov in ("aws", "gcp", "azure", "lambda"):
        cpu = df[(df["provider"] == prov) & (df["gpu"] == "CPU")]
        assert len(cpu) >= 1, prov
        assert (cpu["gpu_count"] == 0).all()
    assert df["source"].str.len().min() > 10
    assert df["as_of"].str.match(r"^\d{4}-\d{2}-\d{2}$").all()
    assert set(catalog.PRICE_COLUMNS) <= set(df.columns)
    assert (df["price_usd_hour"] > 0).all()
    # usd_per_gpu_hour = whole instance / GPUs (per instance-hour for CPU rows)
    row = df[(df["provider"] == "aws") & (df["instance_type"] == "p5.48xlarge")].iloc[0]
    assert row["usd_per_gpu_hour"] == pytest.approx(row["price_usd_hour"] / 8)


def test_shipped_gcp_rows_flag_regional_inconsistency():
    df = PriceTable.load().frame
    h100 = df[(df["provider"] == "gcp") & (df["instance_type"] == "a3-highgpu-8g")]
    assert h100["note"].str.startswith("UNCONFIRMED").all()


def test_every_price_gpu_has_a_spec_and_every_spec_a_source():
    keys = {s.key for s in catalog.gpu_specs()}
    assert set(PriceTable.load().frame["gpu"]) <= keys
    assert "CPU" in keys
    for s in catalog.gpu_specs():
        assert s.source and s.as_of


def test_electricity_rate_is_dated_and_sourced():
    e = PriceTable.load().electricity
    rate, source, as_of = e.usd_per_kwh, e.source, e.as_of
    assert 0.01 < rate < 1.0
    assert "EIA" in source
    assert as_of[:4].isdigit()


# --------------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("NVIDIA A100-SXM4-80GB", "A100-80GB-SXM"),
        ("NVIDIA A100-SXM4-40GB", "A100-40GB-SXM"),
        ("NVIDIA A100 80GB PCIe", "A100-80GB-PCIE"),
        ("NVIDIA H100 80GB HBM3", "H100-SXM"),
        ("NVIDIA H100 PCIe", "H100-PCIE"),
        ("Tesla T4", "T4"),
        ("Tesla V100-SXM2-16GB", "V100-16GB-SXM2"),
        ("NVIDIA A10G", "A10G"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA H200", "H200-SXM"),
        ("A100-80GB", "A100-80GB-SXM"),
        ("H100", "H100-SXM"),
        ("a100", "A100-40GB-SXM"),
        ("h100-sxm", "H100-SXM"),
        ("  nvidia l4 ", "L4"),
        ("cpu", "CPU"),
    ],
)
def test_resolve_real_nvml_and_short_names(name: str, key: str):
    assert catalog.resolve_gpu(name) == key
    assert catalog.gpu_spec(name).key == key


@pytest.mark.parametrize("name", ["NVIDIA GeForce RTX 9090", "A100-90GB", "H1000", ""])
def test_unknown_name_lists_close_names(name: str):
    with pytest.raises(UnknownAcceleratorError) as info:
        catalog.resolve_gpu(name)
    if name:
        assert info.value.suggestions
        assert "Closest known names" in str(info.value)


def test_unknown_a100_variant_suggests_a100s():
    with pytest.raises(UnknownAcceleratorError) as info:
        catalog.resolve_gpu("A100-90GB")
    assert any("A100" in s for s in info.value.suggestions)


def test_peak_for_precisions_and_fallbacks():
    h100 = catalog.gpu_spec("H100")
    assert h100.peak_for("bf16") == pytest.approx(989.5e12)
    assert h100.peak_for("fp8") == pytest.approx(1979e12)
    t4 = catalog.gpu_spec("T4")
    # T4 has no TF32/BF16 units: tf32 math runs at the fp32 rate (datasheet 8.1 TFLOP/s)
    assert t4.peak_for("tf32") == pytest.approx(8.1e12)
    # A100 has no fp8: fp8 falls back to the bf16 rate
    assert catalog.gpu_spec("A100-80GB").peak_for("fp8") == pytest.approx(312e12)
    assert catalog.gpu_spec("CPU").peak_for("fp32") is None
    assert catalog.gpu_spec("B300").peak_for("bf16") == pytest.approx(2250e12)


# --------------------------------------------------------------------------------------------
# PriceTable.cheapest: the quote, memoised and shared by threads
# --------------------------------------------------------------------------------------------


def test_cheapest_prefers_exact_gpu_count_and_filters():
    prices = PriceTable.load(SMALL)
    q = prices.cheapest("A100-80GB", 1, provider="testcloud")
    assert (q.instance_type, q.usd_per_hour, q.usd_per_gpu_hour) == ("tc.1xa100", 2.75, 2.75)
    q8 = prices.cheapest("A100-80GB", 8, provider="testcloud")
    assert q8.instance_type == "tc.8xa100"
    assert q8.usd_per_gpu_hour == pytest.approx(20.0 / 8)
    qs = prices.cheapest("A100-80GB", 1, provider="testcloud", spot=True)
    # tc.1xa100 has no spot price: the 8-GPU instance is the only spot match
    assert qs.instance_type == "tc.8xa100" and qs.spot and qs.usd_per_hour == 6.0
    cpu = prices.cheapest("CPU", provider="testcloud", min_vcpus=8)
    assert cpu.instance_type == "tc.cpu16"
    with pytest.raises(PriceNotFoundError):
        prices.cheapest("A100-80GB", provider="nocloud")
    # 12 GPUs on 8-GPU instances: 2 whole instances, billed $40.00/h = $3.333/GPU-h.
    assert (q8.instances_for(12), q8.billed_usd_per_hour(12)) == (2, 40.0)
    assert q8.billed_usd_per_gpu_hour(12) == pytest.approx(40.0 / 12)


QUESTIONS = [
    ("A100-80GB", 1, None, False), ("A100-80GB", 8, "testcloud", True), ("H100", 8, None, False),
    ("H100", 3, "aws", False), ("CPU", 1, "testcloud", False), ("A100-80GB", 1, "nocloud", False),
]  # fmt: skip


def _ask(prices: PriceTable, question: tuple) -> object:
    gpu, n, provider, spot = question
    try:
        return prices.cheapest(gpu, n, provider=provider, spot=spot)
    except PriceNotFoundError as exc:
        return ("no price", str(exc))


def test_lookups_are_memoised_and_safe_from_eight_threads(monkeypatch):
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from costlens.price.tables import price_table as table

    calls: list[tuple] = []
    real = table.cheapest_row
    barrier = threading.Barrier(8)

    def slow_counting(*args, **kwargs):
        calls.append(args[1:3])
        time.sleep(0.002)  # widen the window in which threads race on one question
        return real(*args, **kwargs)

    monkeypatch.setattr(table, "cheapest_row", slow_counting)
    prices = PriceTable.load(SMALL)
    expected = {q: _ask(PriceTable.load(SMALL), q) for q in QUESTIONS}  # before counting
    calls.clear()

    def worker(i: int) -> list:
        barrier.wait()  # all eight ask at once
        return [(q, _ask(prices, q)) for q in (QUESTIONS * 50)[i:] + (QUESTIONS * 50)[:i]]

    with ThreadPoolExecutor(8) as pool:
        answers = [a for batch in pool.map(worker, range(8)) for a in batch]
    assert len(answers) == 8 * 50 * len(QUESTIONS)
    assert all(answer == expected[q] for q, answer in answers)
    # Each question is computed at most once per racing thread, never once per ask (2,400
    # asks); the memo then answers alone (a second round computes nothing more).
    assert len(calls) <= 8 * len(QUESTIONS)
    before = len(calls)
    for q in QUESTIONS:
        assert _ask(prices, q) == expected[q]
    assert len(calls) == before
    # Every thread got the same quote objects: one memo, shared.
    firsts = {q: a for q, a in answers if not isinstance(a, tuple)}
    assert all(_ask(prices, q) is a for q, a in firsts.items())


# --------------------------------------------------------------------------------------------
# User file override and caching
# --------------------------------------------------------------------------------------------


def test_user_file_overrides_shipped_rows(tmp_path: Path):
    user = tmp_path / "mine.csv"
    user.write_text(
        ",".join([*catalog.PRICE_COLUMNS, "note"]) + "\n"
        "aws,p5.48xlarge,us-east-1,H100,8,192,2048,40.00,,our negotiated rate,2026-10-01,\n"
    )
    df = PriceTable.load(user).frame
    rows = df[(df["provider"] == "aws") & (df["instance_type"] == "p5.48xlarge")]
    mine = rows[rows["region"] == "us-east-1"]
    assert len(mine) == 1
    assert mine.iloc[0]["price_usd_hour"] == 40.0
    assert mine.iloc[0]["origin"] == "user"
    assert math.isnan(mine.iloc[0]["spot_price_usd_hour"])
    assert (rows[rows["region"] != "us-east-1"]["origin"] == "shipped").all()


def test_home_prices_file_is_used_and_reloaded_when_changed(_isolated_home: Path):
    user = _isolated_home / "prices.csv"
    header = ",".join([*catalog.PRICE_COLUMNS, "note"]) + "\n"
    user.write_text(header + "onprem,rack1,dc1,H100,8,,,16.00,,our TCO model,2026-10-01,\n")
    first = PriceTable.load()
    df = first.frame
    assert df[df["provider"] == "onprem"].iloc[0]["price_usd_hour"] == 16.0
    assert first.is_current()
    user.write_text(header + "onprem,rack1,dc1,H100,8,,,12.00,,our TCO model,2026-11-01,\n")
    st_ = user.stat()
    os.utime(user, ns=(st_.st_atime_ns, st_.st_mtime_ns + 5_000_000_000))
    assert not first.is_current()  # the dashboard reloads a table whose files changed
    df = PriceTable.load().frame
    assert df[df["provider"] == "onprem"].iloc[0]["price_usd_hour"] == 12.0


def test_missing_user_file_given_explicitly_is_an_error(tmp_path: Path):
    with pytest.raises(DataTableError, match="not found"):
        PriceTable.load(tmp_path / "nope.csv")


def test_spot_above_on_demand_is_a_warning_not_an_error(tmp_path: Path):
    p = tmp_path / "spot.csv"
    p.write_text(
        ",".join(catalog.PRICE_COLUMNS) + "\n"
        "testcloud,x1,r1,T4,1,4,16,1.00,1.50,fixture,2026-01-01\n"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = PriceTable.load(p).frame
    assert any(issubclass(w.category, catalog.PriceWarning) for w in caught)
    assert "above the on-demand" in str(caught[0].message)
    assert df[df["provider"] == "testcloud"].iloc[0]["spot_price_usd_hour"] == 1.5


# --------------------------------------------------------------------------------------------
# The validator, on generated bad tables
# --------------------------------------------------------------------------------------------

GOOD_ROW = {
    "provider": "testcloud",
    "instance_type": "x1",
    "region": "r1",
    "gpu": "T4",
    "gpu_count": "1",
    "vcpus": "4",
    "memory_gb": "16",
    "price_usd_hour": "0.50",
    "spot_price_usd_hour": "0.20",
    "source": "fixture",
    "as_of": "2026-01-01",
}
NUMERIC = ("gpu_count", "vcpus", "memory_gb", "price_usd_hour", "spot_price_usd_hour")
PRICE_COLS = ("price_usd_hour", "spot_price_usd_hour")

# a name never starts like a spreadsheet formula (a leading '-' is refused: rows.FORMULA_STARTS)
names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=12).filter(
    lambda s: s[0] != "-"
)


def _table(rows: list[dict[str, str]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


@st.composite
def good_rows(draw, n_min: int = 1, n_max: int = 6) -> list[dict[str, str]]:
    n = draw(st.integers(n_min, n_max))
    its = draw(st.lists(names, min_size=n, max_size=n, unique=True))
    gpu = st.sampled_from(["T4", "NVIDIA A10G", "H100", "a100", "CPU"])
    rows = []
    for it in its:
        g = draw(gpu)
        od = draw(st.floats(0.01, 500, allow_nan=False))
        rows.append(
            {
                **GOOD_ROW,
                "instance_type": it,
                "gpu": g,
                "gpu_count": "0" if g == "CPU" else str(draw(st.integers(1, 16))),
                "price_usd_hour": repr(od),
                "spot_price_usd_hour": draw(st.sampled_from(["", repr(od / 2)])),
            }
        )
    return rows


SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / f"t{abs(hash(text)) % 10**9}.csv"
    p.write_text(text)
    return p


@SETTINGS
@given(rows=good_rows())
def test_generated_good_tables_load(tmp_path: Path, rows):
    p = _write(tmp_path, _table(rows, list(catalog.PRICE_COLUMNS)))
    out = validate_price_rows(p, catalog.shipped_accelerators())
    assert len(out) == len(rows)


@SETTINGS
@given(rows=good_rows(), data=st.data())
def test_missing_column_is_refused_naming_it(tmp_path: Path, rows, data):
    col = data.draw(st.sampled_from([c for c in catalog.PRICE_COLUMNS]))
    cols = [c for c in catalog.PRICE_COLUMNS if c != col]
    p = _write(tmp_path, _table(rows, cols))
    with pytest.raises(DataTableError) as info:
        validate_price_rows(p, catalog.shipped_accelerators())
    assert (info.value.line, info.value.column) == (1, col)
    assert str(p) in str(info.value)


@SETTINGS
@given(rows=good_rows(), data=st.data())
def test_non_numeric_value_is_refused_at_its_line_and_column(tmp_path: Path, rows, data):
    i = data.draw(st.integers(0, len(rows) - 1))
    col = data.draw(st.sampled_from(NUMERIC))
    bad = data.draw(st.sampled_from(["abc", "1,5", "$3", "1e", "nan", "inf", "--1"]))
    rows[i][col] = bad
    p = _write(tmp_path, _table(rows, list(catalog.PRICE_COLUMNS)))
    with pytest.raises(DataTableError) as info:
        validate_price_rows(p, catalog.shipped_accelerators())
    assert (info.value.line, info.value.column) == (i + 2, col)


@SETTINGS
@given(rows=good_rows(), data=st.data())
def test_negative_price_is_refused(tmp_path: Path, rows, data):
    i = data.draw(st.integers(0, len(rows) - 1))
    col = data.draw(st.sampled_from(PRICE_COLS))
    rows[i][col] = repr(-data.draw(st.floats(0.001, 1000)))
    p = _write(tmp_path, _table(rows, list(catalog.PRICE_COLUMNS)))
    with pytest.raises(DataTableError) as info:
        validate_price_rows(p, catalog.shipped_accelerators())
    assert (info.value.line, info.value.column) == (i + 2, col)


@SETTINGS
@given(rows=good_rows(n_min=2), data=st.data())
def test_duplicate_key_is_refused_at_the_second_line(tmp_path: Path, rows, data):
    i, j = sorted(
        data.draw(st.lists(st.integers(0, len(rows) - 1), min_size=2, max_size=2, unique=True))
    )
    rows[j] = {**rows[j], **{k: rows[i][k] for k in catalog.PRICE_KEY}}
    p = _write(tmp_path, _table(rows, list(catalog.PRICE_COLUMNS)))
    with pytest.raises(DataTableError) as info:
        validate_price_rows(p, catalog.shipped_accelerators())
    assert info.value.line == j + 2
    assert "duplicate" in str(info.value)


@SETTINGS
@given(rows=good_rows(), data=st.data())
def test_unknown_accelerator_is_refused_with_close_names(tmp_path: Path, rows, data):
    i = data.draw(st.integers(0, len(rows) - 1))
    rows[i]["gpu"] = data.draw(st.sampled_from(["RTX 9090", "H100X", "A100-96GB", "TPUv9"]))
    rows[i]["gpu_count"] = "1"
    p = _write(tmp_path, _table(rows, list(catalog.PRICE_COLUMNS)))
    with pytest.raises(DataTableError) as info:
        validate_price_rows(p, catalog.shipped_accelerators())
    assert (info.value.line, info.value.column) == (i + 2, "gpu")
    assert "unknown accelerator" in str(info.value)


@SETTINGS
@given(rows=good_rows(), data=st.data())
def test_bad_table_is_never_written(tmp_path: Path, rows, data):
    """write_price_table validates first: a bad table leaves the target as it was."""
    target = tmp_path / "prices.csv"
    original = _table(rows, list(catalog.PRICE_COLUMNS))
    target.write_text(original)
    bad = [dict(r) for r in rows]
    mutation = data.draw(st.sampled_from(["negative", "gpu", "dup"]))
    if mutation == "negative":
        bad[0]["price_usd_hour"] = "-1"
    elif mutation == "gpu":
        bad[0]["gpu"] = "NotAGpu9000"
        bad[0]["gpu_count"] = "1"
    else:
        bad.append(dict(bad[0]))
    with pytest.raises(DataTableError):
        catalog.write_price_table(bad, target)
    assert target.read_text() == original
    assert [
        p.name for p in tmp_path.iterdir() if p.name != target.name and "prices" in p.name
    ] == []


def test_bad_user_file_is_refused_whole(tmp_path: Path):
    p = tmp_path / "bad.csv"
    p.write_text(
        ",".join(catalog.PRICE_COLUMNS) + "\n"
        "testcloud,x1,r1,T4,1,4,16,0.5,,fixture,2026-01-01\n"
        "testcloud,x2,r1,T4,1,4,16,free,,fixture,2026-01-01\n"
    )
    with pytest.raises(DataTableError) as info:
        PriceTable.load(p)
    assert info.value.line == 3 and info.value.column == "price_usd_hour"
