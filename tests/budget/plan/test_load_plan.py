"""Plan loading and validation: CSV, XLSX, TOML and YAML plans; every problem named by file,
line and column."""

from __future__ import annotations

import csv
import shutil
import tempfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import costlens.budget.plan.schema as schema
from costlens.budget.plan import PLAN_COLUMNS, load_plan
from costlens.core.errors import PlanError
from tests.budget.plan.plans import EXAMPLE, HEADER, row, write_plan


def test_example_plan_loads_with_canonical_accelerators(prices) -> None:
    jobs = load_plan(EXAMPLE, prices=prices)
    assert len(jobs) >= 8
    assert {j.gpu for j in jobs} <= {"A100-80GB-SXM", "H100-SXM", "L4", "A10G"}
    assert {j.strategy for j in jobs} == {"scratch", "full-finetune", "lora", "frozen-features"}
    assert [j.line for j in jobs] == list(range(2, len(jobs) + 2))
    sft = next(j for j in jobs if j.name == "assistant-sft-8b")
    assert sft.params == 8e9 and sft.total_tokens == 4e9 and sft.repeats == 2


def test_provider_and_repeats_are_optional(tmp_path: Path, prices) -> None:
    header = "name,month,strategy,params,tokens,gpu,gpus"
    path = write_plan(tmp_path, ["a,2027-01,lora,7B,1B,A100-80GB,8"], header)
    (job,) = load_plan(path, prices=prices)
    assert job.provider is None  # the cheapest of any provider
    assert job.repeats == 1
    blank = write_plan(
        tmp_path, ["b,2027-01,lora,7B,1B,A100-80GB,8,,"], header + ",provider,repeats"
    )
    (job,) = load_plan(blank, prices=prices)
    assert (job.provider, job.repeats) == (None, 1)


@pytest.mark.parametrize(
    ("rows", "header", "line", "column", "words"),
    [
        ([row()], HEADER + ",colour", 1, "colour", "unknown column"),
        ([row(), row(month="2027-13")], HEADER, 3, "month", "not 1-12"),
        ([row(params="-7B")], HEADER, 2, "params", "greater than 0"),
        ([row(gpus="eight")], HEADER, 2, "gpus", "number"),
        ([row(gpus="1.5")], HEADER, 2, "gpus", "whole number"),
        ([row(tokens="nan")], HEADER, 2, "tokens", "number"),
        ([row(tokens="1e999")], HEADER, 2, "tokens", "finite"),
        ([row(gpu="H1000")], HEADER, 2, "gpu", "H100"),
        ([row(strategy="distillation")], HEADER, 2, "strategy", "lora"),
        ([row(name="")], HEADER, 2, "name", "required"),
        ([row(repeats="0")], HEADER, 2, "repeats", "at least 1"),
        ([row(provider="ovh")], HEADER, 2, "provider", "unknown provider"),
        ([row(gpu="T4", provider="lambda")], HEADER, 2, "provider", "no price"),
        ([row() + ",extra"], HEADER, 2, None, "fields"),
        (
            ["x,2027-01,lora,7B,1B,A100-80GB"],
            "name,month,strategy,params,tokens,gpu",
            1,
            "gpus",
            "missing",
        ),
    ],
)
def test_bad_plan_is_refused_with_line_and_column(
    tmp_path: Path, prices, rows, header, line, column, words
) -> None:
    path = write_plan(tmp_path, rows, header)
    with pytest.raises(PlanError) as info:
        load_plan(path, prices=prices)
    err = info.value
    assert err.path == str(path)
    assert err.line == line
    assert err.column == column
    assert words in str(err)
    assert str(path) in str(err)


def test_every_problem_is_listed(tmp_path: Path, prices) -> None:
    path = write_plan(tmp_path, [row(month="2027-13"), row(), row(gpus="-2", params="x")])
    with pytest.raises(PlanError) as info:
        load_plan(path, prices=prices)
    problems = info.value.problems
    assert [(p[0], p[1]) for p in problems] == [(2, "month"), (4, "params"), (4, "gpus")]
    assert "line 4 column 'gpus'" in str(info.value)


def test_empty_and_missing_plans(tmp_path: Path, prices) -> None:
    with pytest.raises(PlanError, match="no such plan"):
        load_plan(tmp_path / "nope.csv", prices=prices)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(PlanError, match="empty"):
        load_plan(tmp_path / "empty.csv", prices=prices)
    (tmp_path / "header.csv").write_text(HEADER + "\n")
    with pytest.raises(PlanError, match="no jobs"):
        load_plan(tmp_path / "header.csv", prices=prices)


def test_comments_blank_lines_suffixes_and_optional_columns(tmp_path: Path, prices) -> None:
    header = HEADER + ",epochs,spot,trainable_fraction,labelled_samples,usd_per_label,precision"
    path = write_plan(
        tmp_path,
        ["# a comment", "", row(strategy="LoRA", params="8b", tokens='"1,500M"')
         + ",2,yes,0.01,1k,0.1,fp16"],
        header,
    )  # fmt: skip
    (job,) = load_plan(path, prices=prices)
    assert job.line == 4
    assert (job.strategy, job.params, job.tokens, job.total_tokens) == ("lora", 8e9, 1.5e9, 3e9)
    assert job.spot is True and job.trainable_fraction == 0.01 and job.precision == "fp16"
    assert job.labelled_samples == 1000 and job.usd_per_label == 0.1


def test_labels_need_both_columns(tmp_path: Path, prices) -> None:
    path = write_plan(tmp_path, [row() + ",500"], HEADER + ",labelled_samples")
    with pytest.raises(PlanError) as info:
        load_plan(path, prices=prices)
    assert (info.value.line, info.value.column) == (2, "usd_per_label")


def test_trainable_fraction_above_one_is_refused(tmp_path: Path, prices) -> None:
    path = write_plan(tmp_path, [row(strategy="lora") + ",1.5"], HEADER + ",trainable_fraction")
    with pytest.raises(PlanError, match=r"\(0, 1\]") as info:
        load_plan(path, prices=prices)
    assert (info.value.line, info.value.column) == (2, "trainable_fraction")


def test_toml_and_yaml_plans(tmp_path: Path, prices) -> None:
    toml = tmp_path / "plan.toml"
    toml.write_text(
        '[[job]]\nname = "a"\nmonth = "2027-01"\nstrategy = "scratch"\nparams = 1e9\n'
        'tokens = "10B"\ngpu = "H100"\ngpus = 8\nprovider = "aws"\nrepeats = 2\n\n'
        '[[job]]\nname = "b"\nmonth = "2027-14"\nstrategy = "lora"\nparams = 8e9\n'
        'tokens = 1e8\ngpu = "A100-80GB"\ngpus = 8\nprovider = "gcp"\nrepeats = 1\n'
    )
    with pytest.raises(PlanError) as info:
        load_plan(toml, prices=prices)
    assert (info.value.line, info.value.column) == (12, "month")
    toml.write_text(toml.read_text().replace("2027-14", "2027-02"))
    assert [j.name for j in load_plan(toml, prices=prices)] == ["a", "b"]

    yml = tmp_path / "plan.yaml"
    good = (
        "jobs:\n"
        "  - {name: a, month: 2027-01, strategy: scratch, params: 1B, tokens: 10B, gpu: H100,"
        " gpus: 8, provider: aws, repeats: 1}\n"
        "  - {name: b, month: 2027-02, strategy: lora, params: 8B, tokens: 1e8, gpu: A100-80GB,"
        " gpus: 8, provider: gcp, repeats: 1}\n"
    )
    yml.write_text(good)
    jobs = load_plan(yml, prices=prices)
    assert [(j.name, j.line, j.params) for j in jobs] == [("a", 2, 1e9), ("b", 3, 8e9)]
    yml.write_text(good.replace("repeats: 1}\n", "repeats: 1, colour: red}\n"))
    with pytest.raises(PlanError) as info:
        load_plan(yml, prices=prices)
    assert (info.value.line, info.value.column) == (2, "colour")


def test_xlsx_plan_reads_like_the_csv_one(tmp_path: Path, prices) -> None:
    with EXAMPLE.open(newline="") as fh:
        table = list(csv.reader(fh))
    wb = openpyxl.Workbook()
    for cells in table:
        wb.active.append([float(c) if c.isdigit() else (c or None) for c in cells])
    path = tmp_path / "plan.xlsx"
    wb.save(path)
    assert load_plan(path, prices=prices) == [
        j.__class__(**{**j.__dict__, "path": str(path)}) for j in load_plan(EXAMPLE, prices=prices)
    ]
    wb.active.cell(row=5, column=table[0].index("gpus") + 1, value="many")
    wb.save(path)
    with pytest.raises(PlanError) as info:
        load_plan(path, prices=prices)
    assert (info.value.line, info.value.column) == (5, "gpus")
    wb.active.cell(row=5, column=table[0].index("gpus") + 1, value=8)
    wb.active.cell(row=6, column=len(table[0]) + 1, value="stray")
    wb.save(path)
    with pytest.raises(PlanError, match="fields where the header has") as info:
        load_plan(path, prices=prices)
    assert info.value.line == 6
    path.write_text("not a workbook")
    with pytest.raises(PlanError, match="not a readable XLSX file"):
        load_plan(path, prices=prices)


def test_plan_columns_are_the_documented_ones() -> None:
    with EXAMPLE.open() as fh:
        header = next(csv.reader(fh))
    assert set(header) <= set(PLAN_COLUMNS)
    for col in PLAN_COLUMNS:
        assert f"``{col}``" in schema.__doc__


# hypothesis: a valid plan with one generated bad cell is refused at that cell
BAD_CELLS = {
    "month": st.sampled_from(["2027-13", "2027-00", "27-01", "January", "2027/01", "2027-1-1"]),
    "params": st.sampled_from(["-1", "0", "abc", "1Q", "inf", "-7B"]),
    "tokens": st.sampled_from(["-5", "0", "ten", "nan", "1e999"]),
    "gpus": st.sampled_from(["0", "-1", "1.5", "two", ""]),
    "repeats": st.sampled_from(["0", "-3", "2.5", "x"]),  # blank is the default (1)
    "gpu": st.sampled_from(["H1000", "GTX-9999", "Voodoo2", ""]),
    "strategy": st.sampled_from(["distil", "pretrain", "rlhf", ""]),
    "provider": st.sampled_from(["ovh", "digitalocean"]),  # blank is the cheapest
    "name": st.just(""),
}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    column=st.sampled_from(sorted(BAD_CELLS)),
    data=st.data(),
    n_rows=st.integers(1, 6),
    bad_row=st.integers(0, 5),
)
def test_generated_bad_cell_names_its_line_and_column(
    prices, column, data, n_rows, bad_row
) -> None:
    bad_row = bad_row % n_rows
    value = data.draw(BAD_CELLS[column])
    rows = [row(name=f"job{i}") for i in range(n_rows)]
    rows[bad_row] = row(**{"name": f"job{bad_row}", column: value})
    folder = Path(tempfile.mkdtemp())
    try:
        path = write_plan(folder, rows)
        with pytest.raises(PlanError) as info:
            load_plan(path, prices=prices)
        assert (info.value.line, info.value.column) == (bad_row + 2, column)
    finally:
        shutil.rmtree(folder)


def test_fine_tune_rows_take_samples_and_seq_len(tmp_path):
    """A plan row may give samples and seq_len instead of tokens; the precision defaults to the
    GPU's own (fp16 on a V100)."""
    from costlens.budget.plan import load_plan
    from costlens.core.errors import PlanError
    from costlens.price.tables import PriceTable

    head = "name,month,strategy,params,samples,seq_len,epochs,gpu,gpus,provider,repeats\n"
    p = tmp_path / "plan.csv"
    p.write_text(head + "ft,2027-01,lora,7B,52k,512,3,V100,8,any,1\n")
    (job,) = load_plan(p, prices=PriceTable.load())
    assert job.tokens == 52e3 * 512 and job.total_tokens == 52e3 * 512 * 3
    assert job.precision == "fp16"
    p.write_text(head.replace("seq_len,", "") + "ft,2027-01,lora,7B,52k,3,V100,8,any,1\n")
    try:
        load_plan(p, prices=PriceTable.load())
    except PlanError as exc:
        assert "tokens" in str(exc) and "seq_len" in str(exc)
    else:
        raise AssertionError("a row without tokens or seq_len was accepted")
