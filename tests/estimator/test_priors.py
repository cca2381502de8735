"""The prior table: every row sourced and dated, a bad cell named, the most specific row wins."""

from __future__ import annotations

import pytest

from costlens import estimator as est
from costlens.core.errors import DataTableError
from costlens.estimator.priors import prior_row


def test_every_prior_row_has_a_source_and_date():
    table = est.load_priors()
    assert {"mfu", "flops_per_s", "trainable_fraction"} <= set(table["kind"])
    assert table["source"].str.len().min() > 20
    assert table["as_of"].str.match(r"\d{4}-\d{2}-\d{2}").all()
    cpu = table[table["kind"] == "flops_per_s"].iloc[0]
    assert "measured" in cpu["source"].lower()


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ("mfu,*,*,abc,0.1,0.5,x,2026", "value"),
        ("mfu,*,*,0.3,0.4,0.5,x,2026", "value"),  # low > value
        ("mfu,*,*,0.3,-1,0.5,x,2026", "low"),
        ("speed,*,*,0.3,0.1,0.5,x,2026", "kind"),
        ("mfu,*,*,0.3,0.1,0.5,,2026", "source"),
    ],
)
def test_bad_prior_table_names_line_and_column(tmp_path, row, column):
    bad = tmp_path / "p.csv"
    bad.write_text(f"kind,key,precision,value,low,high,source,as_of\n{row}\n")
    with pytest.raises(DataTableError) as info:
        est.load_priors(bad)
    assert ":2" in str(info.value) and column in str(info.value)


def test_a_table_without_a_column_or_file_is_refused(tmp_path):
    bad = tmp_path / "p.csv"
    bad.write_text("kind,key,precision,value\n")
    with pytest.raises(DataTableError, match="missing columns"):
        est.load_priors(bad)
    with pytest.raises(DataTableError, match="cannot read"):
        est.load_priors(tmp_path / "nope.csv")


def test_the_most_specific_row_wins(tmp_path):
    table = tmp_path / "p.csv"
    table.write_text(
        "kind,key,precision,value,low,high,source,as_of\n"
        "mfu,*,*,0.3,0.1,0.5,fallback,2026-01-01\n"
        "mfu,A100,*,0.4,0.1,0.5,family,2026-01-01\n"
        "mfu,A100,bf16,0.45,0.1,0.5,family at bf16,2026-01-01\n"
        "trainable_fraction,lora,*,0.02,0.001,0.1,lora share,2026-01-01\n"
    )
    priors = est.load_priors(table)
    assert prior_row(priors, "mfu", "A100-80GB-SXM", "bf16")["value"] == 0.45
    assert prior_row(priors, "mfu", "A100-80GB-SXM", "fp16")["value"] == 0.4
    assert prior_row(priors, "mfu", "H100-80GB-SXM", "bf16")["value"] == 0.3
    assert prior_row(priors, "flops_per_s", "CPU", "fp32") is None
    assert est.default_trainable_fraction("lora", priors) == 0.02
    assert est.default_trainable_fraction("scratch", priors) is None
