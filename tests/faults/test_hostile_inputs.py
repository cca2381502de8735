"""Hostile input (issue 24, part A): exports that cannot run formulas, plans that cannot explode,
secrets never shown, user input that is never "a costlens bug" and never silently accepted.
Each test failed on the main before the fix (the issue's numbered failure is in its name)."""

from __future__ import annotations

import csv
import io
import json
import os
import time

import pytest

from tests.conftest import REPO
from tests.validation.checks import assert_clean_failure, assert_usage_error

HEADER = "name,month,project,strategy,params,tokens,gpu,gpus,provider,repeats\n"
ROW = "{name},2027-01,p,scratch,125M,1B,A100-80GB,1,lambda,2\n"
EVIL = '=HYPERLINK("http://evil.example","x")'
YAML_JOB = (
    "{name: j, month: 2027-01, project: p, strategy: scratch, params: %s, tokens: 1B, "
    "gpu: A100-80GB, gpus: 1, provider: lambda, repeats: 2}"
)


def _plan(tmp_path, *names: str):
    path = tmp_path / "plan.csv"
    buf = io.StringIO()
    buf.write(HEADER)
    w = csv.writer(buf, lineterminator="\n")
    for n in names:
        w.writerow([n, "2027-01", "p", "scratch", "125M", "1B", "A100-80GB", "1", "lambda", "2"])
    path.write_text(buf.getvalue())
    return path


@pytest.fixture
def prices_csv(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text((REPO / "tests" / "fixtures" / "prices_small.csv").read_text())
    return path


@pytest.fixture(scope="module")
def prices():
    from costlens.price.tables import PriceTable

    return PriceTable.load()


# 1. formula injection -------------------------------------------------------------------------


def test_1_forecast_csv_and_xlsx_never_hold_a_formula(cli, tmp_path):
    from openpyxl import load_workbook

    plan = _plan(tmp_path, EVIL, " =1+1", "+1", "@SUM(A1)", "-2", "plain")
    csv_out, xlsx_out = tmp_path / "f.csv", tmp_path / "f.xlsx"
    for out in (csv_out, xlsx_out):
        res = cli("forecast", str(plan), "--sims", "100", "--out", str(out), "-f", "json")
        assert res.code == 0, res.err
    rows = list(csv.DictReader(csv_out.open()))
    names = {r["name"] for r in rows if r["level"] == "job"}
    assert "'" + EVIL in names and "'+1" in names and "'@SUM(A1)" in names and "'-2" in names
    assert "'=1+1" in names and "plain" in names  # a name is stripped of spaces, then escaped
    for r in rows:  # every cell: no formula start; numbers still numbers
        assert not any(v.startswith(("=", "+", "@", "\t", "\r")) for v in r.values()), r
        if r["cost_usd"]:
            assert float(r["cost_usd"]) > 0
    wb = load_workbook(xlsx_out)
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", (ws.title, c.coordinate, c.value)
    jobs = [c.value for c in wb["Jobs"]["B"]] + [c.value for c in wb["Jobs"]["A"]]
    assert EVIL in jobs  # the name as the user wrote it, as text
    cost = [c for c in wb["Jobs"][2] if isinstance(c.value, float)]
    assert cost, "numbers stay numbers"


def test_1_runs_and_prices_csv_escape_formula_cells(cli, store, sqlite_url, prices_csv):
    from costlens.record.recorder import utcnow
    from costlens.store import insert_run

    insert_run(store, {"id": "abc123", "project": "=cmd|' /C calc'!A0", "name": "@evil",
                       "status": "completed", "started_at": utcnow()})  # fmt: skip
    res = cli("runs", "--db", sqlite_url, "-f", "csv")
    assert res.code == 0, res.err
    row = next(csv.DictReader(io.StringIO(res.out)))
    assert row["project"].startswith("'=") and row["name"] == "'@evil"
    text = prices_csv.read_text()
    prices_csv.write_text(text.replace(",gpu given", ",=HYPERLINK(1) gpu given", 1))  # a note
    res = cli("prices", "--prices", str(prices_csv), "--provider", "testcloud", "-f", "csv")
    assert res.code == 0, res.err
    assert "'=HYPERLINK(1)" in res.out
    for r in csv.reader(io.StringIO(res.out)):
        assert not any(c.startswith(("=", "+", "@")) for c in r), r


def test_12_a_provider_named_like_a_formula_is_refused(cli, prices_csv):
    prices_csv.write_text(prices_csv.read_text().replace("testcloud", "=cmd", 1))
    res = cli("prices", "--prices", str(prices_csv))
    assert_clean_failure(res)
    assert f"{prices_csv}:2" in res.err and "formula" in res.err


def test_12_a_price_row_with_1e30_gpus_is_refused(cli, prices_csv):
    lines = prices_csv.read_text().splitlines()
    cols = lines[0].split(",")
    cells = next(csv.reader([lines[1]]))
    cells[cols.index("gpu_count")] = "1e30"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    prices_csv.write_text("\n".join([lines[0], buf.getvalue().rstrip("\n"), *lines[2:]]) + "\n")
    res = cli("prices", "--prices", str(prices_csv))
    assert_clean_failure(res)
    assert "gpu_count" in res.err and f"{prices_csv}:2" in res.err


# 2. plans bounded in work -------------------------------------------------------------------


def test_2_a_billion_laughs_plan_is_refused_at_once(cli, tmp_path):
    levels = ["  - &a " + YAML_JOB % "125M"]
    for prev, cur in zip("abcdefg", "bcdefgh", strict=True):  # 9**7 = 4.8 M jobs once expanded
        levels.append(f"  - &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    plan = tmp_path / "laughs.yaml"
    plan.write_text("jobs:\n" + "\n".join(levels) + "\n")
    t0 = time.monotonic()
    res = cli("forecast", str(plan), "--sims", "100")
    assert time.monotonic() - t0 < 10
    assert_clean_failure(res)
    assert "aliases" in res.err and "line 2" in res.err


@pytest.mark.parametrize(
    "name,text,words",
    [
        ("deep.yaml", "jobs: " + "[" * 5000 + "]" * 5000 + "\n", ["nested more than"]),
        ("deep.toml", "x = " + "[" * 5000 + "]" * 5000 + "\n", ["nested more than"]),
        ("big.yaml", "jobs:\n  - " + YAML_JOB % ("9" * 5000) + "\n", ["thousands of digits"]),
        ("big.toml", '[[job]]\nname = "j"\nparams = ' + "9" * 5000 + "\n", ["thousands of digits"]),
        ("mid.yaml", "jobs:\n  - " + YAML_JOB % ("9" * 400) + "\n", ["params", "digits"]),
    ],
)
def test_11_deep_and_huge_plans_are_plan_errors_not_bugs(cli, tmp_path, name, text, words):
    plan = tmp_path / name
    plan.write_text(text)
    res = cli("forecast", str(plan), "--sims", "100")
    assert_clean_failure(res)
    for w in words:
        assert w in res.err, res.err


def test_2_a_plan_over_the_job_limit_is_refused_before_its_work(cli, tmp_path, monkeypatch):
    from costlens.budget.plan import readers

    monkeypatch.setattr(readers, "MAX_PLAN_JOBS", 50)
    monkeypatch.setattr(readers.load_plan, "__kwdefaults__", {"max_jobs": 50})
    plan = tmp_path / "many.csv"
    plan.write_text(HEADER + "".join(ROW.format(name=f"j{i}") for i in range(60)))
    res = cli("forecast", str(plan), "--sims", "100")
    assert_clean_failure(res)
    assert "more than 50 jobs" in res.err
    yplan = tmp_path / "many.yaml"
    yplan.write_text("jobs:\n" + "".join("  - " + YAML_JOB % "125M" + "\n" for _ in range(60)))
    res = cli("forecast", str(yplan), "--sims", "100")
    assert "more than 50 jobs" in res.err


def test_2_the_dashboard_upload_has_the_same_limits(prices):
    import base64

    from costlens.core.errors import PlanError
    from dashboard.views.forecast import UPLOAD_MAX_JOBS, plan_upload, run_forecast

    laughs = "jobs:\n  - &a " + YAML_JOB % "125M" + "\n  - [*a, *a]\n"
    many = HEADER + "".join(ROW.format(name=f"j{i}") for i in range(UPLOAD_MAX_JOBS + 1))
    for body, name, words in ((laughs, "p.yaml", "aliases"), (many, "p.csv", "more than")):
        contents = "data:text/plain;base64," + base64.b64encode(body.encode()).decode()
        t0 = time.monotonic()
        with pytest.raises(PlanError, match=words) as info:
            run_forecast(plan_upload(contents, name), model=None, prices=prices)
        assert time.monotonic() - t0 < 10
        assert name in str(info.value)


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_a_fifo_device_or_folder_as_a_plan_says_what_it_is(cli, tmp_path, kind):
    path = {"fifo": tmp_path / "p.csv", "device": "/dev/zero", "folder": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    res = cli("forecast", str(path), "--sims", "100")
    assert_clean_failure(res)
    assert {"fifo": "FIFO", "device": "device", "folder": "folder"}[kind] in res.err
    assert "no such plan file" not in res.err


# 3. secrets never shown ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@127.0.0.1:1/x?password=S3cretPW",
        "postgresql://u:S3cretPW@127.0.0.1:1/x",
        "postgresql://u@127.0.0.1:1/x?sslmode=disable&sslpassword=S3cretPW",
    ],
)
@pytest.mark.parametrize("command", [["runs"], ["db", "info"], ["show", "abc"], ["cost", "abc"]])
def test_3_a_password_in_the_url_is_never_printed(cli, url, command):
    res = cli(*command, "--db", url)
    assert_clean_failure(res)
    assert "S3cretPW" not in res.err + res.out and "***" in res.err, res.err


def test_3_mask_url_and_redact():
    from costlens.store.url import mask_url, redact

    assert mask_url("postgresql://u@h/x?password=pw&application_name=a") == (
        "postgresql://u@h/x?password=***&application_name=a"
    )
    assert mask_url("postgresql://u:p@ss@h/x") == "postgresql://u:***@h/x"
    assert mask_url("postgresql://u:pw@[::1:5432/x") == "postgresql://u:***@[::1:5432/x"
    assert mask_url("https://h/x?api_key=k1&token=t2") == "https://h/x?api_key=***&token=***"
    assert redact("auth failed for pw123", "postgresql://u@h/x?password=pw123") == (
        "auth failed for ***"
    )


# 11. "a costlens bug" for user input --------------------------------------------------------


@pytest.mark.parametrize(
    "args,words",
    [
        (["runs", "--limit", "1e40"], ["--limit", "at most"]),
        (["estimate", "--params", "1B", "--samples", "1k", "--seq-len", "512", "--epochs",
          "1e308"], ["--epochs"]),
    ],
)  # fmt: skip
def test_11_huge_flags_are_usage_errors(cli, args, words):
    assert_usage_error(cli(*args), *words)


def test_11_a_malformed_or_down_postgresql_url_is_a_clear_error(cli):
    res = cli("runs", "--db", "postgresql://u:pw@[::1:5432/x")
    assert_clean_failure(res)
    assert "malformed store URL" in res.err and "pw" not in res.err.replace("postgresql", "")
    res = cli("db", "info", "--db", "postgresql://u@127.0.0.1:1/x")
    assert_clean_failure(res)
    assert "cannot reach store" in res.err


def test_11_export_mlflow_refusing_its_uri_is_a_clear_error(cli, store, sqlite_url, monkeypatch):
    pytest.importorskip("mlflow")
    from costlens.record.recorder import utcnow
    from costlens.store import insert_run

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    insert_run(store, {"id": "abc123", "project": "p", "name": "n", "status": "completed",
                       "started_at": utcnow(), "ended_at": utcnow()})  # fmt: skip
    res = cli("export", "mlflow", "abc123", "--db", sqlite_url, "--tracking-uri", "file://x/y")
    if res.code == 0:  # an MLflow that still accepts file stores: nothing to refuse
        return
    assert_clean_failure(res)
    assert "MLflow at file://x/y" in res.err


# 12. silent acceptances ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,words",
    [
        (["estimate", "--params", "1B", "--tokens", "20B", "--seq-len",
          "9223372036854775808"], ["--seq-len", "at most"]),
        (["estimate", "--params", "1e300", "--tokens", "1e300"], ["--params", "at most"]),
        (["estimate", "--params", "1,2,3", "--tokens", "20B"], ["--params", "1,2,3"]),
        (["estimate", "--params", "\u0663", "--tokens", "20B"], ["--params"]),
        (["estimate", "--params", "1e40", "--tokens", "20B"], ["--params", "1e+15"]),
        (["runs", "--project", "\u2028"], ["--project", "control"]),
        (["run", "--idle-threshold", "200", "--", "true"], ["--idle-threshold"]),
    ],
)  # fmt: skip
def test_12_implausible_values_are_refused(cli, args, words):
    assert_usage_error(cli(*args), *words)


def test_12_thousands_groups_still_read():
    from costlens.core.numbers import parse_number

    assert parse_number("2,000") == 2000 and parse_number("1_000") == 1000
    assert parse_number("1,000,000") == 1e6 and parse_number("7B") == 7e9


@pytest.mark.parametrize("url", ["sqlite:////dev/null", "sqlite:///:memory:"])
@pytest.mark.parametrize("command", [["runs"], ["db", "info"], ["show", "x"]])
def test_12_a_store_that_is_no_file_is_refused_the_same_by_every_command(cli, url, command):
    res = cli(*command, "--db", url)
    assert_clean_failure(res)
    assert ("names no file" if "memory" in url else "is a device") in res.err


def test_12_a_folder_as_a_store_is_refused(cli, tmp_path):
    res = cli("runs", "--db", f"sqlite:///{tmp_path}")
    assert_clean_failure(res)
    assert "is a folder" in res.err


def test_the_estimate_flags_at_their_bounds_still_answer(cli):
    res = cli("estimate", "--params", "1e15", "--tokens", "1e17", "-f", "json")
    assert "RuntimeWarning" not in res.err and "Traceback" not in res.err
    if res.code == 1:  # answered: such a job fits on no number of these GPUs (issue 23)
        assert "does not fit" in res.err and res.err.count("\n") == 1, res.err
        return
    assert res.code == 0, res.err
    out = json.loads(res.out)
    assert out["cost_usd"] is None or out["cost_usd"] > 0


def test_3_dashboard_auth_from_the_environment_or_a_file(tmp_path, monkeypatch):
    from costlens.cli.dashboard import access_settings
    from costlens.core.errors import UsageError

    monkeypatch.setenv("COSTLENS_DASHBOARD_AUTH", "alice:from-env")
    assert access_settings("0.0.0.0", None, None)[0] == ("alice", "from-env")
    secret = tmp_path / "auth"
    secret.write_text("bob:from-file\n")
    assert access_settings("0.0.0.0", f"@{secret}", None)[0] == ("bob", "from-file")
    monkeypatch.setenv("COSTLENS_DASHBOARD_AUTH", f"@{secret}")
    assert access_settings("0.0.0.0", None, None)[0] == ("bob", "from-file")
    token = tmp_path / "token"
    token.write_text("t" * 20 + "\n")
    assert access_settings("127.0.0.1", None, f"@{token}")[1] == "t" * 20
    with pytest.raises(UsageError, match="cannot read"):
        access_settings("127.0.0.1", f"@{tmp_path / 'missing'}", None)


# 9. charts escape user text ------------------------------------------------------------------

PHISH = '<a href="https://evil.example/phish">login again</a>'


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _strings(v)


def test_9_charts_show_html_in_names_as_text():
    import pandas as pd

    from dashboard import figures

    spend = pd.DataFrame({"day": ["2026-12-01"], "project": [PHISH], "cost_usd": [1.0]})
    comparisons = pd.DataFrame({"label": ['<span style="font-size:80px">big</span>'],
                                "saving_pct": [50.0], "saving_pct_low": [40.0],
                                "saving_pct_high": [60.0], "verdict": ["saves"]})  # fmt: skip
    figs = [
        figures.spend_over_time(spend),
        figures.savings_bars(comparisons, claimed_pct=None),
        figures.cost_breakdown([(PHISH, 2.0)], title="t"),
    ]
    for fig in figs:
        texts = list(_strings(fig.to_plotly_json()["data"]))
        assert not any("<a " in t or "<span" in t for t in texts), texts
        assert any("&lt;a href" in t or "&lt;span" in t for t in texts), texts


# 10. dates in any ISO form --------------------------------------------------------------------


def test_10_started_at_in_mixed_iso_forms_is_read():
    import pandas as pd

    from dashboard.views.runs import started_times

    got = started_times(pd.Series(["2026-12-06T08:35:34Z", "2026-12-06T08:35:34.233810Z",
                                   "2026-12-06T09:35:34.2+01:00", "2026-12-06 08:35:34.5",
                                   "not a date"]))  # fmt: skip
    assert [str(t) for t in got[:4]] == ["2026-12-06 08:35:34", "2026-12-06 08:35:34.233810",
                                         "2026-12-06 08:35:34.200000",
                                         "2026-12-06 08:35:34.500000"]  # fmt: skip
    assert pd.isna(got[4])
