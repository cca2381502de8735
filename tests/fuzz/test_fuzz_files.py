"""Fuzzing every file format: plans (CSV, TOML, YAML), price tables, SkyPilot catalogs, journal
files, and the dashboard's plan upload."""

from __future__ import annotations

import base64
import csv
import io
import json
import math

import yaml
from hypothesis import Phase, example, given
from hypothesis import strategies as st

from costlens.core.errors import CostlensError
from tests.conftest import REPO
from tests.fuzz.conftest import fuzz_settings, outcome
from tests.fuzz.values import any_value
from tests.validation.checks import assert_clean_failure

GOOD_JOB = {
    "name": "job", "month": "2027-01", "project": "p", "strategy": "scratch", "params": "125M",
    "tokens": "1B", "gpu": "A100-80GB", "gpus": "1", "provider": "lambda", "repeats": "2",
}  # fmt: skip
COLUMNS = [*GOOD_JOB, "epochs", "samples", "instance", "spot", "trainable_fraction",
           "labelled_samples", "usd_per_label", "precision"]  # fmt: skip


def _render(rows: list[dict[str, str]], fmt: str) -> str:
    if fmt == "csv":
        buf = io.StringIO()
        cols = list(dict.fromkeys(k for r in rows for k in r))
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()
    if fmt == "toml":
        return "".join(
            "[[job]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in r.items()) for r in rows
        )
    return yaml.safe_dump({"jobs": rows}, allow_unicode=True)


plan_rows = st.lists(
    st.dictionaries(st.sampled_from(COLUMNS), any_value, max_size=3).map(
        lambda changes: {**GOOD_JOB, **changes}
    ),
    min_size=1,
    max_size=3,
)


@fuzz_settings(36)
@given(rows=plan_rows, fmt=st.sampled_from(["csv", "toml", "yaml"]))
@example(rows=[GOOD_JOB], fmt="csv")
@example(rows=[GOOD_JOB, {**GOOD_JOB, "strategy": "LoRA", "trainable_fraction": "0.01"}],
         fmt="toml")  # fmt: skip
@example(rows=[{**GOOD_JOB, "gpus": "8", "params": "7B"}], fmt="yaml")
def test_plans_forecast_correctly_or_fail_cleanly(cli, tmp_path_factory, rows, fmt):
    folder = tmp_path_factory.mktemp("plan")
    plan = folder / f"plan.{fmt}"
    try:
        plan.write_text(_render(rows, fmt), encoding="utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not a file anyone can write
        return
    out = folder / "out.json"
    res = cli("forecast", str(plan), "--sims", "100", "--out", str(out), "-f", "json")
    if res.code == 0:
        fc = json.loads(res.out)
        assert len(fc["jobs"]) == len(rows), "every row is a job, or the plan is refused"
        assert math.isfinite(fc["total_cost_usd"]) and fc["total_cost_usd"] > 0
        assert out.exists()
        outcome(f"plans {fmt}", True)
    else:
        assert_clean_failure(res)
        assert not out.exists()
        outcome(f"plans {fmt}", False)


def _fuzz_csv_cell(text: str, line: int, col: int, value: str) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    line = line % (len(rows) - 1) + 1
    rows[line][col % len(rows[line])] = value
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


cell = st.tuples(st.integers(0, 50), st.integers(0, 20), any_value)


def _fuzzed_copy(fixture: str, cells, path) -> bool:
    """``tests/fixtures/FIXTURE`` with ``cells`` changed, written to ``path`` (False: the text
    cannot be written, a lone surrogate)."""
    text = (REPO / "tests" / "fixtures" / fixture).read_text()
    for line, col, value in cells:
        text = _fuzz_csv_cell(text, line, col, value)
    try:
        path.write_text(text, encoding="utf-8")
    except UnicodeEncodeError:
        return False
    return True


@fuzz_settings(25)
@given(cells=st.lists(cell, min_size=1, max_size=2))
def test_price_files_are_read_correctly_or_refused_with_the_line(cli, tmp_path_factory, cells):
    path = tmp_path_factory.mktemp("prices") / "prices.csv"
    if not _fuzzed_copy("prices_small.csv", cells, path):
        return
    res = cli("prices", "--prices", str(path), "-f", "json")
    if res.code == 0:
        for row in json.loads(res.out):
            assert row["price_usd_hour"] > 0 and math.isfinite(row["price_usd_hour"]), row
        outcome("price tables", True)
    else:
        assert_clean_failure(res)
        assert str(path) in res.err  # the message names the file (and line)
        outcome("price tables", False)


@fuzz_settings(20)
@given(cells=st.lists(cell, min_size=1, max_size=2))
def test_skypilot_catalogs_import_or_write_nothing(cli, tmp_path_factory, cells):
    folder = tmp_path_factory.mktemp("sky")
    (folder / "aws").mkdir()
    path = folder / "aws" / "vms.csv"
    if not _fuzzed_copy("skypilot_aws_vms.csv", cells, path):
        return
    out = folder / "prices.csv"
    res = cli("prices", "import", str(path), "--prices-out", str(out))
    if res.code == 0:
        assert out.exists()
        check = cli("prices", "--prices", str(out), "-f", "json")
        assert check.code == 0, check.err  # what was written reads back
        outcome("skypilot catalogs", True)
    else:
        assert_clean_failure(res)
        assert not out.exists()
        outcome("skypilot catalogs", False)


journal_content = st.one_of(
    st.binary(max_size=200),
    st.lists(st.one_of(
        st.dictionaries(st.sampled_from(["k", "v", "rows", "run_id", "owner"]),
                        st.one_of(st.sampled_from(["run", "samples", "rank", "update"]),
                                  st.integers(), st.text(max_size=5), st.none(),
                                  st.dictionaries(st.text(max_size=5), st.integers(),
                                                  max_size=2)),
                        max_size=4),
        st.integers(), st.text(max_size=10)), max_size=3,
    ).map(lambda recs: "\n".join(json.dumps(r) for r in recs).encode()),
)  # fmt: skip


@fuzz_settings(20, phases=[Phase.explicit, Phase.generate])  # no shrinking: stays cheap
@given(content=journal_content)
def test_a_foreign_journal_file_never_breaks_a_reading_command(cli, store, sqlite_url, content):
    from costlens.record.journal_files import journal_dir

    folder = journal_dir(create=True)
    (folder / "fuzz.jsonl").write_bytes(content)
    try:
        res = cli("runs", "--db", sqlite_url, "-f", "json")
    finally:
        for p in folder.iterdir():
            if p.is_file():
                p.unlink()
    assert "Traceback" not in res.err and "costlens bug" not in res.err, res.err
    assert res.code == 0, res.err
    outcome("journal files", True)


@fuzz_settings(20)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        plan_rows.map(lambda rows: _render(rows, "csv").encode("utf-8", "replace")),
    ),
    name=st.sampled_from(["plan.csv", "plan.toml", "plan.yaml", "plan.exe", "", "../../x.csv"]),
    encoded=st.booleans(),
)
@example(body=_render([GOOD_JOB], "csv").encode(), name="plan.csv", encoded=True)
@example(body=_render([GOOD_JOB], "yaml").encode(), name="plan.yaml", encoded=True)
@example(body=b"\x80", name="plan.toml", encoded=True)  # found by this test: was a costlens bug
def test_dashboard_uploads_forecast_or_are_refused_with_a_message(prices, model, body, name,
                                                                  encoded):  # fmt: skip
    from dashboard.views.forecast import plan_upload, run_forecast

    contents = ("data:text/csv;base64," + base64.b64encode(body).decode()) if encoded else (
        "data:text/csv," + body.decode("latin-1"))  # fmt: skip
    try:
        upload = plan_upload(contents, name)
        fc = run_forecast(upload, model=model, prices=prices)
    except CostlensError as exc:
        assert str(exc).strip()
        outcome("dashboard upload", False)
        return
    assert math.isfinite(fc.total.cost_usd) and fc.total.cost_usd > 0
    outcome("dashboard upload", True)
