"""costlens.core.validate: the one validation layer, value by value."""

from __future__ import annotations

import math

import pytest

from costlens.core import validate
from costlens.core.errors import InputError, UsageError


def test_errors_are_usage_errors_and_value_errors():
    with pytest.raises(InputError) as info:
        validate.number("nan", "--x")
    assert isinstance(info.value, UsageError) and isinstance(info.value, ValueError)
    assert info.value.exit_code == 2 and "--x" in str(info.value)


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "1e309", math.nan, math.inf, True, "", "x"])
def test_numbers_are_finite(bad):
    with pytest.raises(InputError):
        validate.number(bad, "v")


def test_numbers_take_suffixes_and_bounds():
    assert validate.number("4k", "v") == 4000
    assert validate.number("1.5M", "v") == 1.5e6
    assert validate.number("7B", "v") == validate.number("7G", "v") == 7e9
    assert validate.number("2T", "v") == 2e12
    assert validate.whole("1k", "v") == 1000
    with pytest.raises(InputError, match="at most 5"):
        validate.number("6", "v", maximum=5)
    with pytest.raises(InputError, match="greater than 0"):
        validate.number("0", "v", minimum=0, above=True)
    with pytest.raises(InputError, match="whole"):
        validate.whole("1.5", "v")


def test_documented_bounds():
    assert validate.seed("0") == 0 and validate.seed(2**63 - 1) == 2**63 - 1
    for bad in ("-1", 2**63, "1.5"):
        with pytest.raises(InputError):
            validate.seed(bad)
    assert validate.percent("100", "t") == 100 and validate.percent(0, "t") == 0
    for bad in ("101", "-0.1"):
        with pytest.raises(InputError):
            validate.percent(bad, "t")
    assert validate.interval_s("0.05", "i") == 0.05
    for bad in ("0", "-1", "inf", "nan"):
        with pytest.raises(InputError):
            validate.interval_s(bad, "i")
    assert validate.gpus("8") == 8
    for bad in ("0", "1e7", "2.5"):
        with pytest.raises(InputError):
            validate.gpus(bad)
    assert validate.fraction("1", "f") == 1.0
    for bad in ("0", "1.01"):
        with pytest.raises(InputError):
            validate.fraction(bad, "f")


def test_memory_check_names_what_it_would_need(monkeypatch):
    monkeypatch.setattr(validate, "memory_bytes", lambda: 8 * 2**30)
    validate.check_memory(2**30, "x")
    with pytest.raises(InputError, match=r"x would need about 16.0 GiB .* 8.0 GiB available"):
        validate.check_memory(16 * 2**30, "x")
    monkeypatch.undo()
    assert validate.memory_bytes() > 2**20  # this machine's, from /proc/meminfo


def test_calendar_dates():
    assert validate.calendar_date("2024-02-29") == "2024-02-29"
    assert validate.calendar_date("2026-11") == "2026-11"
    for bad in ("2026-02-30", "2025-02-29", "2026-13-01", "2026-1-1", "yesterday", ""):
        with pytest.raises(InputError):
            validate.calendar_date(bad, "--as-of")


def test_names_and_urls():
    assert validate.name("  ann  ", "n") == "ann"
    for bad in ("", "   ", "a\nb", "tab\t", "\x00", "\x1b[31m", "\u202eevil", 5):
        with pytest.raises(InputError):
            validate.name(bad, "n")
    assert validate.optional_name(None, "n") is None
    assert validate.url("sqlite:///x.db", "--db") == "sqlite:///x.db"
    for bad in ("", " x.db", "x.db\n"):
        with pytest.raises(InputError):
            validate.url(bad, "--db")


def test_oversize(tmp_path):
    small = tmp_path / "s.csv"
    small.write_text("a\n")
    assert validate.oversize(small) is None
    assert validate.oversize(tmp_path / "missing.csv") is None
    assert "limit for input files" in validate.oversize(small, limit=1)
    big = tmp_path / "b.csv"
    with open(big, "wb") as fh:
        fh.truncate(validate.MAX_INPUT_FILE_BYTES + 1)
    assert "over the 50.0 MiB limit" in validate.oversize(big)


def test_boolean_is_the_one_rule_for_switches():
    for on in ("1", "true", "TRUE", " Yes ", "on", True):
        assert validate.boolean(on, "x") is True
    for off in ("0", "false", "False", "no", "OFF", "", "  ", False):
        assert validate.boolean(off, "x") is False
    for bad in ("2", "maybe", "y", "enable"):
        with pytest.raises(InputError, match="--flag must be one of 1/true/yes/on"):
            validate.boolean(bad, "--flag")
