"""`costlens runs|show|db` through the real command, and the one error handler."""

from __future__ import annotations

import csv
import io
import json

from costlens.store import insert_run, open_store
from costlens.store.models import RUN_KEYS
from costlens.store.queries import utcnow

CONTRACT_KEYS = {
    "id", "project", "name", "status", "strategy", "started_at", "ended_at", "duration_s", "steps",
    "samples", "tokens", "flops", "params_total", "params_trainable", "device", "device_count",
    "world_size",
}  # fmt: skip


def _fill(url: str) -> None:
    store = open_store(url)
    insert_run(
        store,
        {
            "id": "aaa111",
            "project": "vision",
            "name": "resnet",
            "status": "completed",
            "started_at": utcnow(),
            "ended_at": utcnow(),
            "steps": 7,
        },
    )
    insert_run(
        store,
        {
            "id": "bbb222",
            "project": "nlp",
            "name": "bert",
            "status": "failed",
            "started_at": utcnow(),
            "ended_at": utcnow(),
        },
    )
    store.dispose()


def test_empty_store_prints_empty_json_list(cli):
    res = cli("runs", "--format", "json")
    assert res.code == 0, res.err
    assert json.loads(res.out) == []


def test_empty_store_table_says_how_to_record(cli):
    res = cli("runs")
    assert res.code == 0
    assert "costlens run" in res.out


def test_runs_json_contract_and_filters(cli, sqlite_url):
    _fill(sqlite_url)
    res = cli("runs", "--db", sqlite_url, "--format", "json")
    assert res.code == 0, res.err
    rows = json.loads(res.out)
    assert [r["id"] for r in rows] == ["bbb222", "aaa111"]
    for row in rows:
        assert set(row) >= CONTRACT_KEYS
    only = json.loads(cli("runs", "--db", sqlite_url, "-f", "json", "--status", "failed").out)
    assert [r["id"] for r in only] == ["bbb222"]
    proj = json.loads(cli("runs", "--db", sqlite_url, "-f", "json", "--project", "vision").out)
    assert [r["steps"] for r in proj] == [7]


def test_runs_csv_has_every_key(cli, sqlite_url):
    _fill(sqlite_url)
    res = cli("runs", "--db", sqlite_url, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(res.out)))
    assert len(rows) == 2 and set(RUN_KEYS) <= set(rows[0])


def test_db_env_var_and_show(cli, sqlite_url):
    _fill(sqlite_url)
    res = cli("show", "aaa", "--format", "json", env={"COSTLENS_DB": sqlite_url})
    assert res.code == 0, res.err
    assert json.loads(res.out)["name"] == "resnet"
    missing = cli("show", "zzz", env={"COSTLENS_DB": sqlite_url})
    assert missing.code == 1 and "no run with id 'zzz'" in missing.err
    assert "Traceback" not in missing.err


def test_db_info_and_upgrade(cli, sqlite_url):
    res = cli("db", "upgrade", "--db", sqlite_url)
    assert res.code == 0 and "upgraded" in res.err
    info = json.loads(cli("db", "info", "--db", sqlite_url, "-f", "json").out)
    assert info["up_to_date"] is True and info["runs"] == 0
    again = cli("db", "upgrade", "--db", sqlite_url)
    assert "up to date" in again.err


def test_wrong_flag_is_usage_error(cli):
    res = cli("runs", "--bogus")
    assert res.code == 2
    assert "No such option" in res.err and "Traceback" not in res.err


def test_bad_url_masks_password(cli):
    res = cli("runs", "--db", "postgresql://bob:hunter2@127.0.0.1:1/costlens")
    assert res.code == 1
    assert "hunter2" not in res.err and "bob:***@127.0.0.1:1" in res.err
    assert "Traceback" not in res.err


def test_corrupt_file_is_one_clear_message(cli, tmp_path):
    bad = tmp_path / "corrupt.db"
    bad.write_bytes(b"garbage" * 1000)
    res = cli("runs", "--db", str(bad))
    assert res.code == 1
    assert "not a costlens database" in res.err and "Traceback" not in res.err
    assert bad.read_bytes() == b"garbage" * 1000  # left untouched


def test_debug_shows_traceback(cli_subprocess):
    res = cli_subprocess(
        "runs", "--db", "postgresql://x@127.0.0.1:1/y", env={"COSTLENS_DEBUG": "1"}
    )
    assert res.code != 0 and "Traceback" in res.err


def test_version_and_help(cli_subprocess):
    """The real entry point (``python -m costlens``), in a child process."""
    assert cli_subprocess("--version").out.startswith("costlens ")
    res = cli_subprocess("--help")
    assert res.code == 0 and "runs" in res.out


def test_reading_a_mistyped_store_creates_nothing(cli, tmp_path):
    typo = tmp_path / "runs-typo.db"
    for args in (("runs",), ("show", "abc"), ("db", "info")):
        res = cli(*args, "--db", str(typo))
        assert res.code == 1, args
        assert f"no store at {typo}" in res.err and "Traceback" not in res.err
    assert list(tmp_path.iterdir()) == []  # no empty store, no lock file
    res = cli("runs", "--db", "mysql://u@h/db")
    assert res.code == 1 and "SQLite" in res.err and "PostgreSQL" in res.err


def test_limit_reads_quantities_and_refuses_bad_ones(cli, sqlite_url):
    _fill(sqlite_url)
    one = json.loads(cli("runs", "--db", sqlite_url, "-f", "json", "--limit", "1").out)
    assert [r["id"] for r in one] == ["bbb222"]
    many = cli("runs", "--db", sqlite_url, "-f", "json", "--limit", "1k")  # 7B, 2T, 4k: one parser
    assert many.code == 0 and len(json.loads(many.out)) == 2
    for bad, why in (("0", "at least 1"), ("1.5", "whole number"), ("lots", "expected a number")):
        res = cli("runs", "--db", sqlite_url, "--limit", bad)
        assert res.code == 2 and "--limit" in res.err and why in res.err, bad
        assert "Traceback" not in res.err


def _many(url: str, n: int) -> None:
    from datetime import timedelta

    store = open_store(url)
    now = utcnow()
    for i in range(n):
        started = now - timedelta(minutes=i + 1)
        insert_run(store, {"id": f"run{i:03d}", "project": "p", "status": "completed",
                           "started_at": started, "ended_at": now})  # fmt: skip
    store.dispose()


def test_machine_formats_return_every_run_unless_limited(cli, sqlite_url):
    """Issue 20: `runs --format json|csv` silently returned 50 of 99 runs."""
    _many(sqlite_url, 60)
    res = cli("runs", "--format", "json", "--db", sqlite_url)
    assert res.code == 0 and len(json.loads(res.out)) == 60 and res.err == ""
    res = cli("runs", "--format", "csv", "--db", sqlite_url)
    assert len(list(csv.DictReader(io.StringIO(res.out)))) == 60
    res = cli("runs", "--format", "json", "--limit", "5", "--db", sqlite_url)
    assert len(json.loads(res.out)) == 5 and "newest 5 matching runs; more match" in res.err
    res = cli("runs", "--db", sqlite_url, env={"COLUMNS": "200"})  # the table: 50, and says so
    assert res.out.count("run0") == 50 and "newest 50 matching runs" in res.err


def test_a_filter_that_matches_nothing_says_so_and_lists_projects(cli, sqlite_url):
    """Issue 20: `runs --project nosuchproject` said "No runs recorded yet" in a full store."""
    _fill(sqlite_url)
    res = cli("runs", "--project", "nosuchproject", "--db", sqlite_url)
    assert res.code == 0 and "No runs recorded yet" not in res.out
    assert "No runs match --project nosuchproject" in res.out
    assert "Projects in this store: nlp, vision" in res.out
    res = cli("runs", "--project", "nosuchproject", "--format", "json", "--db", sqlite_url)
    assert json.loads(res.out) == [] and "No runs match --project nosuchproject" in res.err
