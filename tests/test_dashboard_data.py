"""Dashboard data door, pages rendered on the server, access control and the CLI (no browser).

``fill_store`` (also used by the browser test and for the first screenshots) writes a few runs
through costlens.store.ingest: fixture data for tests, not measurements.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import timedelta

import pandas as pd
import pytest

from costlens.errors import RunNotFoundError, UsageError
from costlens.store import insert_run, insert_samples, update_run
from costlens.store.queries import utcnow

XSS_NAME = "<img src=x onerror=alert(1)>"
A100 = "NVIDIA A100-SXM4-80GB"


def _gpu_samples(run_id: str, start, n: int, devices: int, util: float, power_w: float):
    t0 = start.timestamp()
    rows = []
    for d in range(devices):
        for i in range(n):
            u = 2.0 if i % 5 == 0 else util  # every fifth reading idle
            rows.append(
                (run_id, t0 + i * 30.0, 0, d, u, 30 * 2**30 + i * 2**20, 80 * 2**30,
                 power_w + d, None, 1410, 60, 25.0, 64 * 2**30)
            )  # fmt: skip
    return rows


def _host_samples(run_id: str, start, n: int):
    t0 = start.timestamp()
    return [
        (run_id, t0 + i * 10.0, 0, -1, None, None, None, None, None, None, None,
         50.0 + (i % 10), 8 * 2**30 + i * 2**20)
        for i in range(n)
    ]  # fmt: skip


def fill_store(store) -> dict[str, str]:
    """A handful of runs: a vision project with scratch, LoRA and full fine-tune runs, a CPU run,
    a running run, a failed run and one whose name is an HTML injection attempt."""
    now = utcnow()
    ids: dict[str, str] = {}

    def add(key, *, days_ago, hours, devices, device, strategy, project, status="completed",
            samples=0, flops=0.0, energy_j=None, metrics=None, name=None, tags=None):  # fmt: skip
        rid = f"test{key}0000000000000000"[:24]
        started = now - timedelta(days=days_ago)
        values = {
            "id": rid,
            "project": project,
            "name": name if name is not None else f"{project}-{strategy}",
            "tags_json": json.dumps(tags or [strategy]),
            "status": status,
            "started_at": started,
            "ended_at": None if status == "running" else started + timedelta(hours=hours),
            "heartbeat_at": now if status == "running" else None,
            "host": "testhost",
            "user": "tester",
            "command": "python train.py",
            "strategy": strategy,
            "params_total": 86_000_000,
            "params_trainable": 86_000_000 if strategy != "lora" else 600_000,
            "steps": 1000,
            "samples": samples,
            "flops": flops,
            "precision": "bf16" if devices else "fp32",
            "world_size": max(devices, 1),
            "device_name": device,
            "device_count": devices,
            "host_cpu_count": 16,
            "host_ram_total_bytes": 64 * 2**30,
            "energy_j": energy_j,
            "energy_source": "nvml" if energy_j else None,
            "metrics_json": json.dumps(metrics or {}),
        }
        insert_run(store, values)
        ids[key] = rid
        return rid, started

    rid, st = add("scratch", days_ago=6, hours=4, devices=2, device=A100, strategy="scratch",
                  project="vision", samples=1_200_000, flops=2.0e18, energy_j=2.0e7,
                  metrics={"accuracy": 0.912, "loss": 0.31})  # fmt: skip
    insert_samples(store, _gpu_samples(rid, st, 300, 2, 85.0, 350.0))
    rid, st = add("lora", days_ago=4, hours=0.75, devices=1, device=A100, strategy="lora",
                  project="vision", samples=200_000, flops=1.5e17, energy_j=1.2e6,
                  metrics={"accuracy": 0.905, "loss": 0.33,
                           "labelled_samples": 20_000})  # fmt: skip
    insert_samples(store, _gpu_samples(rid, st, 90, 1, 70.0, 300.0))
    rid, st = add("finetune", days_ago=3, hours=3, devices=2, device=A100,
                  strategy="full-finetune", project="vision", samples=400_000, flops=8.0e17,
                  energy_j=2.6e7, metrics={"accuracy": 0.921, "loss": 0.29})  # fmt: skip
    insert_samples(store, _gpu_samples(rid, st, 200, 2, 60.0, 400.0))
    rid, st = add("cpu", days_ago=2, hours=0.5, devices=0, device=None, strategy="scratch",
                  project="tabular", samples=50_000, flops=3.0e13,
                  metrics={"auc": 0.81})  # fmt: skip
    insert_samples(store, _host_samples(rid, st, 180))
    rid, st = add("running", days_ago=0.02, hours=0, devices=1, device=A100, strategy="lora",
                  project="nlp", status="running", samples=10_000, flops=1e16)  # fmt: skip
    insert_samples(store, _gpu_samples(rid, st, 40, 1, 90.0, 320.0))
    add("failed", days_ago=1, hours=0.2, devices=1, device=A100, strategy="scratch",
        project="nlp", status="failed")  # fmt: skip
    add("xss", days_ago=1.5, hours=1, devices=1, device=A100, strategy="other", project="web",
        name=XSS_NAME, tags=["<b>bold</b>", "javascript:alert(2)"])  # fmt: skip
    update_run(store, ids["running"], {"heartbeat_at": utcnow()})
    return ids


@pytest.fixture
def filled(store):
    return store, fill_store(store)


# ---------------------------------------------------------------------------- runs


def test_empty_store_is_empty_and_overview_has_no_error(store):
    from dashboard import data

    assert data.is_empty(store)
    ov = data.overview(store)
    assert ov["runs"] == 0 and ov["cost_usd"] is None and ov["spend"].empty
    assert data.runs_frame(store).empty


def test_runs_frame_filters_and_costs(filled):
    from dashboard import data

    store, ids = filled
    df = data.runs_frame(store)
    assert len(df) == 7
    vision = data.runs_frame(store, project="vision")
    assert set(vision["id"]) == {ids["scratch"], ids["lora"], ids["finetune"]}
    assert list(data.runs_frame(store, status="failed")["id"]) == [ids["failed"]]
    assert list(data.runs_frame(store, strategy="full-finetune")["id"]) == [ids["finetune"]]
    scratch = df.set_index("id").loc[ids["scratch"]]
    assert scratch["gpu_hours"] == pytest.approx(8.0)  # 4 h x 2 GPUs
    assert scratch["cost_usd"] > 0


def test_filter_options_lists_what_the_store_holds(filled):
    from dashboard import data

    store, _ = filled
    opts = data.filter_options(store)
    assert opts["project"] == ["nlp", "tabular", "vision", "web"]
    assert "lora" in opts["strategy"] and "running" in opts["status"]


def test_table_rows_keep_names_as_text_and_links_safe(filled):
    from dashboard import data

    store, ids = filled
    rows = data.table_rows(data.runs_frame(store))
    xss = next(r for r in rows if r["id"] == ids["xss"])
    assert xss["name"] == XSS_NAME  # text, shown as is by the table (no markdown column)
    assert xss["run"].startswith("[test") and xss["run"].endswith(f"(/runs/{ids['xss']})")
    assert set(rows[0]) >= set(data.RUN_TABLE_COLUMNS)
    assert data.run_link("a/b c") == "/runs/a%2Fb%20c"
    assert data._md_escape("[x](y)") == r"\[x\]\(y\)"


def test_overview_figures(filled):
    from dashboard import data

    store, _ = filled
    ov = data.overview(store, "30 days")
    assert ov["runs"] == 7
    df = data.runs_frame(store)
    assert ov["cost_usd"] == pytest.approx(df["cost_usd"].sum())
    assert ov["gpu_hours"] == pytest.approx(df["gpu_hours"].sum())
    assert ov["energy_kwh"] == pytest.approx((2.0e7 + 1.2e6 + 2.6e7) / 3.6e6)
    assert 0 < ov["gpu_util_mean_pct"] < 100
    assert ov["idle_waste_usd"] is not None and 0 < ov["idle_waste_usd"] < ov["cost_usd"]
    assert set(ov["spend"]["project"]) <= {"vision", "tabular", "nlp", "web"}
    assert ov["spend"]["cost_usd"].sum() == pytest.approx(ov["cost_usd"])
    costs = list(ov["costliest"]["cost_usd"])
    assert costs == sorted(costs, reverse=True) and len(costs) <= 10
    assert data.overview(store, "7 days")["runs"] == 7
    with pytest.raises(UsageError):
        data.period_start("fortnight")


def test_period_excludes_old_runs(filled):
    from dashboard import data

    store, ids = filled
    update_run(store, ids["scratch"], {"started_at": utcnow() - timedelta(days=60),
                                       "ended_at": utcnow() - timedelta(days=59)})  # fmt: skip
    assert data.overview(store, "30 days")["runs"] == 6
    assert data.overview(store, "All time")["runs"] == 7


# ---------------------------------------------------------------------------- one run


def test_run_timeline_downsampled_in_sql(filled):
    from dashboard import data

    store, ids = filled
    tl = data.run_timeline(store, ids["scratch"], max_points=50)
    assert data.has_gpu_readings(tl)
    assert set(tl["device_index"]) == {0, 1}
    assert tl.groupby("device_index").size().max() <= 50
    assert tl["n"].sum() == 600  # every reading counted once
    assert tl["mem_used_gib"].between(29, 31).all()
    cpu = data.run_timeline(store, ids["cpu"])
    assert not data.has_gpu_readings(cpu) and cpu["host_cpu_pct"].notna().all()
    assert data.run_timeline(store, ids["failed"]).empty


def test_run_detail_facts_cost_and_providers(filled):
    from dashboard import data

    store, ids = filled
    rec = data.run(store, ids["scratch"])
    detail = data.run_cost_detail(store, ids["scratch"])
    facts = dict(data.run_facts(rec, detail))
    assert facts["hardware"] == f"2 x {A100}"
    assert facts["FLOPs executed"] == "2.000e+18"
    assert facts["MFU"].endswith("%") and facts["MFU"] != "-"
    parts = dict(data.cost_parts(detail))
    assert parts["instance time"] == pytest.approx(detail["cost_usd"])
    assert any(k.startswith("of which GPUs idle") for k in parts)
    alts = data.provider_alternatives(detail)
    assert len(alts) >= 2 and list(alts["cost_usd"].dropna()) == sorted(alts["cost_usd"].dropna())
    assert any("price table as of" in line for line in data.quote_text(detail))
    assert dict(data.metric_items(rec))["accuracy"] == "0.912"
    with pytest.raises(RunNotFoundError):
        data.run(store, "nope")
    assert data.run_status(store, ids["running"]) == "running"


# ---------------------------------------------------------------------------- transfer


def test_transfer_comparison_measures_savings_and_says_where_transfer_lost(filled):
    from dashboard import data

    store, _ = filled
    assert data.transfer_projects(store) == ["vision"]
    cmp = data.transfer_comparison(store, "vision")
    assert cmp["metric"] == "accuracy" and "loss" in cmp["metrics"]
    assert len(cmp["runs"]) == 3 and cmp["scratch_runs"] == 1
    sav = cmp["savings"].set_index(["label", "budget"])["saving_pct"]
    lora = "lora: vision-lora"
    assert sav[(lora, "time")] == pytest.approx(100 * (4 - 0.75) / 4)
    assert sav[(lora, "labelled data")] == pytest.approx(100 * (1_200_000 - 20_000) / 1_200_000)
    # full fine-tune used more energy than scratch: the page must say so
    assert sav[("full-finetune: vision-full-finetune", "energy")] < 0
    assert any("did not save on energy" in n for n in cmp["notes"])
    roi = cmp["roi"].set_index("label")
    assert roi.loc[lora, "roi"] > 0
    claim = data.claimed_saving()
    assert claim["saving_pct"] == 80 and "claim" in claim["source"].lower()


# ---------------------------------------------------------------------------- estimate, prices


def test_parse_quantity():
    from dashboard import data

    assert data.parse_quantity("1.3B", "p") == pytest.approx(1.3e9)
    assert data.parse_quantity("125M", "p") == pytest.approx(1.25e8)
    assert data.parse_quantity("1,000", "p") == 1000
    assert data.parse_quantity("", "p", required=False) is None
    for bad in ("abc", "-5"):
        with pytest.raises(UsageError, match="p"):
            data.parse_quantity(bad, "p")


def test_estimate_per_strategy_and_provider():
    from dashboard import data

    res = data.estimate(dict(data.ESTIMATE_DEFAULTS))
    strategies = res["strategies"]
    assert list(strategies["strategy"]) == ["scratch", "full-finetune", "lora", "frozen-features"]
    assert (strategies["total_cost_usd_low"] <= strategies["total_cost_usd"]).all()
    assert (strategies["total_cost_usd"] <= strategies["total_cost_usd_high"]).all()
    by_provider = res["by_provider"]
    assert by_provider["provider"].nunique() >= 2
    assert len(by_provider) == 4 * by_provider["provider"].nunique()
    rows = data.estimate_rows(strategies)
    assert rows[0]["roi"] == "-" and rows[2]["roi"] != "-"
    with pytest.raises(UsageError, match="GPUs"):
        data.estimate({**data.ESTIMATE_DEFAULTS, "gpus": "0"})
    with pytest.raises(UsageError, match="both"):
        data.estimate({**data.ESTIMATE_DEFAULTS, "labelled_samples": "1000"})


def test_prices_by_accelerator_and_provider_with_dates():
    from dashboard import data

    table = data.prices_frame()
    assert {"gpu", "provider", "usd_per_gpu_hour", "spot_usd_per_gpu_hour", "as_of"} <= set(table)
    h100 = table[table["gpu"] == "H100-SXM"]
    assert h100["provider"].nunique() >= 2 and (h100["usd_per_gpu_hour"] > 0).all()
    tables = data.price_tables()
    assert tables["as_of"].str.match(r"\d{4}-\d{2}").all() and (tables["rows"] > 0).all()
    assert data.price_rows(table)[0]["on_demand"]


# ---------------------------------------------------------------------------- forecast


def _data_url(text: str, mime: str = "text/csv") -> str:
    return f"data:{mime};base64," + base64.b64encode(text.encode()).decode()


def test_forecast_example_plan_and_downloads():
    from dashboard import data

    fc = data.run_forecast(None, budget_usd=1000.0)
    assert len(fc.months) >= 1
    assert (fc.months["cost_usd_low"] <= fc.months["cost_usd_high"]).all()
    assert any("budget" in n for n in data.forecast_notes(fc))
    assert data.forecast_rows(fc)[0]["over"].endswith("over budget")
    xlsx, name = data.forecast_file(fc, "xlsx")
    assert xlsx[:2] == b"PK" and name.endswith(".xlsx")
    csv_bytes, _ = data.forecast_file(fc, "csv")
    assert b"cost_usd" in csv_bytes
    with pytest.raises(UsageError):
        data.forecast_file(fc, "pdf")


def test_forecast_upload_checked_and_errors_name_the_file():
    from costlens.errors import PlanError
    from dashboard import data

    plan = data.example_plan_path().read_text()
    upload = data.plan_upload(_data_url(plan), "my plan.csv")
    assert upload["name"] == "my plan.csv"
    fc = data.run_forecast(upload)
    assert fc.total.jobs == len(plan.strip().splitlines()) - 1
    with pytest.raises(UsageError, match="plan is a"):
        data.plan_upload(_data_url("x"), "evil.exe")
    with pytest.raises(UsageError):
        data.plan_upload("not a data url", "p.csv")
    bad = data.plan_upload(_data_url("name,month\nx,2027-13\n"), "bad.csv")
    with pytest.raises(PlanError, match=r"bad\.csv"):
        data.run_forecast(bad)
    assert data.choose_plan(True, _data_url(plan), "p.csv") == (None, data.EXAMPLE_PLAN_LABEL)


# ---------------------------------------------------------------------------- pages, server side


def _render(client, path: str) -> dict:
    body = {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [{"id": "_pages_content", "property": "children"},
                    {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                   {"id": "_pages_location", "property": "search", "value": ""}],
        "changedPropIds": ["_pages_location.pathname"],
        "state": [],
    }  # fmt: skip
    resp = client.post("/_dash-update-component", json=body)
    assert resp.status_code == 200, resp.data[:500]
    return resp.get_json()


PAGES = ("/", "/runs", "/transfer", "/estimate", "/prices", "/forecast")


def test_every_page_renders_on_the_server(filled, sqlite_url):
    from dashboard.app import create_app

    _, ids = filled
    client = create_app(sqlite_url).server.test_client()
    assert client.get("/").status_code == 200
    for path in (*PAGES, f"/runs/{ids['scratch']}", f"/runs/{ids['cpu']}", "/runs/nope"):
        text = json.dumps(_render(client, path))
        assert "Traceback" not in text
    run_page = json.dumps(_render(client, f"/runs/{ids['xss']}"))
    assert json.dumps(XSS_NAME)[1:-1] in run_page  # the name travels as a plain string
    assert "dangerouslySetInnerHTML" not in run_page
    assert "no run with id" in json.dumps(_render(client, "/runs/nope")).lower()


def test_empty_store_pages_show_how_to_record_a_first_run(sqlite_url):
    from dashboard.app import create_app

    client = create_app(sqlite_url).server.test_client()
    for path in ("/", "/runs", "/transfer"):
        text = json.dumps(_render(client, path))
        assert "No runs recorded yet" in text
        assert "costlens run -- python train.py" in text and "@costlens.profile" in text
        assert "with costlens.profile" in text


# ---------------------------------------------------------------------------- access control


def test_basic_auth_and_token_guard_every_path(sqlite_url):
    from dashboard.app import TOKEN_COOKIE, create_app

    app = create_app(sqlite_url, auth=("ann", "s3cret:pw"), token="t" * 20)
    c = app.server.test_client()
    resp = c.get("/")
    assert resp.status_code == 401 and "Basic" in resp.headers["WWW-Authenticate"]
    assert c.get("/_dash-layout").status_code == 401
    good = "Basic " + base64.b64encode(b"ann:s3cret:pw").decode()
    bad = "Basic " + base64.b64encode(b"ann:wrong").decode()
    assert c.get("/", headers={"Authorization": good}).status_code == 200
    assert c.get("/", headers={"Authorization": bad}).status_code == 401
    assert c.get("/", headers={"Authorization": "Bearer " + "t" * 20}).status_code == 200
    assert c.get("/", headers={"Authorization": "Bearer nope"}).status_code == 401
    fresh = app.server.test_client()
    resp = fresh.get("/?token=" + "t" * 20)
    assert resp.status_code == 200 and TOKEN_COOKIE in resp.headers.get("Set-Cookie", "")
    assert fresh.get("/_dash-layout").status_code == 200  # the cookie carries on


def test_loopback_detection_and_auth_parsing():
    from dashboard.app import is_loopback, parse_auth

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert is_loopback("127.1.2.3") and not is_loopback("0.0.0.0")
    assert not is_loopback("192.168.1.5") and not is_loopback("example.com")
    assert parse_auth("u:p:q") == ("u", "p:q")
    for bad in ("nopassword", ":p", "u:"):
        with pytest.raises(UsageError):
            parse_auth(bad)


def test_cli_refuses_to_serve_off_loopback_without_access_control(cli, sqlite_url):
    res = cli("dashboard", "--db", sqlite_url, "--host", "0.0.0.0", "--port", "1")
    assert res.code == 2 and "--auth" in res.err and "--token" in res.err
    res = cli("dashboard", "--db", sqlite_url, "--host", "0.0.0.0", "--auth", "nopassword")
    assert res.code == 2 and "USER:PASSWORD" in res.err
    res = cli("dashboard", "--host", "0.0.0.0", env={"COSTLENS_DASHBOARD_TOKEN": "short"})
    assert res.code == 2 and "16 characters" in res.err


def test_importing_costlens_does_not_import_dash():
    code = (
        "import sys, costlens, costlens.cli, costlens.cli.dashboard; "
        "bad = [m for m in ('dash', 'plotly', 'dashboard') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_frames_are_dataframes(filled):
    from dashboard import data

    store, _ = filled
    assert isinstance(data.runs_frame(store), pd.DataFrame)


@pytest.mark.slow
def test_cli_serves_the_dashboard_with_a_token(sqlite_url, tmp_path):
    import os
    import socket
    import time
    import urllib.error
    import urllib.request

    from costlens.store import open_store

    open_store(sqlite_url).dispose()  # the dashboard reads an existing store; it creates none
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = "k" * 24
    proc = subprocess.Popen(
        [sys.executable, "-m", "costlens", "dashboard", "--db", sqlite_url, "--port", str(port)],
        env={**os.environ, "COSTLENS_DASHBOARD_TOKEN": token},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base, timeout=2)
                pytest.fail("served without the token")
            except urllib.error.HTTPError as exc:
                assert exc.code == 401
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.3)
        req = urllib.request.Request(base, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200 and b"costlens" in resp.read()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/" in err


def test_overview_utilisation_matches_costlens_cost(filled):
    from costlens.cost import sample_summary
    from dashboard import data

    store, ids = filled
    run_ids = list(ids.values())
    ours = data.sample_summaries(store, run_ids)
    theirs = sample_summary(store, run_ids)
    assert set(ours) == {k for k, v in theirs.items() if v["n_util_readings"] or k in ours}
    for rid, v in ours.items():
        assert v["idle_fraction"] == theirs[rid]["idle_fraction"]
        assert v["gpu_util_mean_pct"] == pytest.approx(theirs[rid]["gpu_util_mean_pct"])
    assert ours[ids["scratch"]]["idle_fraction"] == pytest.approx(0.2)  # every fifth reading


def test_transfer_runs_are_compared_with_matching_scratch_runs():
    import pandas as pd

    from dashboard.data import matched_scratch

    scratch = pd.DataFrame(
        {"params": [100, 100, 400], "labelled": [50, 600, 50], "cost_usd": [1.0, 9.0, 20.0],
         "metric": [0.9, 0.9, 0.9]}
    )  # fmt: skip
    peers, basis = matched_scratch(scratch, {"params": 100, "labelled": 600})
    assert list(peers["cost_usd"]) == [9.0] and basis == "same model size and labelled data"
    peers, basis = matched_scratch(scratch, {"params": 100, "labelled": 200})
    assert list(peers["cost_usd"]) == [1.0, 9.0] and basis == "same model size"
    peers, basis = matched_scratch(scratch, {"params": 7, "labelled": 50})
    assert len(peers) == 3 and basis.startswith("median of all scratch runs")
