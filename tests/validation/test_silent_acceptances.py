"""Issue 13: inputs that costlens used to accept silently (a wrong answer, a default in place of
what was given, a MemoryError or a hang). Each is now refused with exit code 2 and one line that
names the flag, file, line or variable; never a traceback or "this is a costlens bug".

The first 16 are the cases the issue names; the rest were found the same way, by trying every
numeric and name option with nan, inf, negative, huge, empty and control-character values.
"""

from __future__ import annotations

import math
import os

import pytest

from tests.validation.checks import assert_usage_error

E = ["estimate", "--params", "7B", "--tokens", "1T"]


@pytest.mark.parametrize(
    "args, words",
    [
        (["estimate", "--params", "inf", "--tokens", "1e9"], ["--params"]),
        ([*E, "--strategy", "lora", "--trainable-fraction", "nan"], ["--trainable-fraction"]),
        ([*E, "--tokens-per-step", "nan"], ["--tokens-per-step"]),
        ([*E, "--gpus", "99999999999"], ["--gpus", "at most"]),
        (["cost", "anyrun", "--idle-threshold", "101"], ["--idle-threshold", "at most 100"]),
        (["runs", "--db", ""], ["--db", "empty"]),
        (["show", "x", "--db", ""], ["--db", "empty"]),
        # found beyond the list
        ([*E, "--usd-per-label", "nan", "--labelled-samples", "1k"], ["--usd-per-label"]),
        ([*E, "--gpus", "0"], ["--gpus"]),
        ([*E, "--n-layers", "-3"], ["--n-layers"]),
        ([*E, "--seq-len", "0"], ["--seq-len"]),
        (["estimate", "--from-run", "x", "--scale-tokens", "inf"], ["--scale-tokens"]),
        (["estimate", "--from-run", "x", "--scale-params", "nan"], ["--scale-params"]),
        (["cost", "anyrun", "--idle-threshold", "-1"], ["--idle-threshold"]),
        (["runs", "--project", "a\x1b[31mb"], ["--project", "control"]),
        (["prices", "--provider", ""], ["--provider", "empty"]),
        (["dashboard", "--host", ""], ["--host", "empty"]),
        (["dashboard", "--port", "70000"], ["--port", "65535"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) and v and v[0] in ("cost", "runs") else None,
)
def test_bad_flag_values_are_refused(cli, args, words):
    assert_usage_error(cli(*args), *words)


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--budget", "inf"], ["--budget"]),
        (["--seed", "-1"], ["--seed", "at least 0"]),
        (["--sims", "1e11"], ["--sims", "TiB", "available"]),
        (["--correlation", "nan"], ["--correlation"]),
    ],
)
def test_bad_forecast_values_are_refused(cli, plan_csv, extra, words):
    out = plan_csv.with_suffix(".xlsx")
    assert_usage_error(cli("forecast", str(plan_csv), "--out", str(out), *extra), *words)
    assert not out.exists()


def test_a_plan_with_a_trillion_repeats_is_refused_with_the_memory_it_needs(cli, tmp_path):
    plan = tmp_path / "huge.csv"
    plan.write_text(
        "name,month,project,strategy,params,tokens,gpu,gpus,provider,repeats\n"
        "job,2027-01,p,scratch,125M,1B,A100-80GB,1,lambda,1e12\n"
    )
    res = cli("forecast", str(plan))
    assert_usage_error(res, "repeats", "PiB", "available")


def test_a_plan_name_with_control_characters_is_refused_at_its_line(cli, tmp_path):
    plan = tmp_path / "ctl.csv"
    plan.write_text(
        "name,month,project,strategy,params,tokens,gpu,gpus,provider,repeats\n"
        "ok,2027-01,p,scratch,125M,1B,A100-80GB,1,lambda,1\n"
        "bad\x07name,2027-01,p,scratch,125M,1B,A100-80GB,1,lambda,1\n"
    )
    out = tmp_path / "ctl.xlsx"
    res = cli("forecast", str(plan), "--out", str(out))
    assert res.code != 0 and f"{plan}:3" in res.err and "control characters" in res.err
    assert "Traceback" not in res.err and not out.exists()


def test_a_plan_with_a_billion_gpus_is_refused(cli, tmp_path):
    plan = tmp_path / "gpus.csv"
    plan.write_text(
        "name,month,project,strategy,params,tokens,gpu,gpus,provider,repeats\n"
        "job,2027-01,p,scratch,125M,1B,A100-80GB,1e9,lambda,1\n"
    )
    res = cli("forecast", str(plan))
    assert res.code != 0 and f"{plan}:2" in res.err and "gpus" in res.err


def test_show_percent_matches_no_run(cli, store, sqlite_url):
    from costlens.record.recorder import utcnow
    from costlens.store import insert_run

    insert_run(store, {"id": "abc123", "project": "p", "name": "n", "status": "completed",
                       "started_at": utcnow()})  # fmt: skip
    for pattern in ("%", "_", "a%", "ab_"):
        res = cli("show", pattern, "--db", sqlite_url)
        assert res.code == 1 and "no run with id" in res.err, (pattern, res.err)
    assert cli("show", "abc", "--db", sqlite_url).code == 0


def test_an_impossible_as_of_date_is_never_written(cli, skypilot_csv, tmp_path):
    out = tmp_path / "prices.csv"
    res = cli("prices", "import", str(skypilot_csv), "--as-of", "2026-02-30", "--prices-out",
              str(out))  # fmt: skip
    assert_usage_error(res, "--as-of", "2026-02-30")
    assert not out.exists()


def test_a_price_file_with_an_impossible_date_or_control_characters_is_refused(cli, prices_csv):
    text = prices_csv.read_text()
    for bad, words in (("2026-01-01", "2026-02-30"), ("testcloud", "test\x1bcloud")):
        prices_csv.write_text(text.replace(bad, words, 1))
        res = cli("prices", "--prices", str(prices_csv))
        assert res.code == 1 and f"{prices_csv}:2" in res.err, res.err
        assert "Traceback" not in res.err


def test_run_sample_interval_inf_is_refused_before_the_script_runs(cli, tmp_path):
    script = tmp_path / "train.py"
    marker = tmp_path / "ran"
    script.write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    for bad in ("inf", "nan", "0", "-1"):
        res = cli("run", "--sample-interval-s", bad, "--", "python", str(script))
        assert_usage_error(res, "--sample-interval-s")
    assert not marker.exists()


@pytest.mark.parametrize(
    "variable, value",
    [
        ("COSTLENS_FLUSH_INTERVAL_S", "nan"),
        ("COSTLENS_FLUSH_INTERVAL_S", "0"),
        ("COSTLENS_LOST_AFTER_S", "inf"),
        ("COSTLENS_PROJECT", "a\nb"),
    ],
)
def test_bad_environment_variables_are_refused_by_every_command(cli, variable, value):
    # a bad setting, not a wrong flag: exit 1 (README: 2 only for a wrong flag)
    for args in (["runs"], ["prices"], ["estimate", "--params", "1B", "--tokens", "1B"]):
        res = cli(*args, env={variable: value})
        assert res.code == 1 and res.out == "", (res.code, res.err)
        assert res.err.startswith("costlens: error: environment variable " + variable), res.err
        assert res.err.count("\n") == 1 and "Traceback" not in res.err, res.err


def test_run_with_an_empty_or_control_character_name_is_refused(cli, tmp_path):
    script = tmp_path / "train.py"
    script.write_text("pass\n")
    for args in (["--project", ""], ["--name", "  "], ["--tag", "x\ty"], ["--db", ""]):
        res = cli("run", *args, "--", "python", str(script))
        assert_usage_error(res, args[0])


def test_profile_refuses_bad_arguments_before_training(sqlite_url, monkeypatch):
    import costlens
    from costlens.core.errors import ConfigError, InputError

    for kw in (
        {"sample_interval_s": float("nan")},
        {"sample_interval_s": math.inf},
        {"sample_interval_s": 0},
        {"project": ""},
        {"name": "a\x00b"},
        {"tags": ["ok", "bad\n"]},
        {"db": ""},
    ):
        with pytest.raises(InputError) as info:
            costlens.profile(db=sqlite_url, **kw) if "db" not in kw else costlens.profile(**kw)
        assert isinstance(info.value, ValueError)
        assert next(iter(kw)) in str(info.value)
    monkeypatch.setenv("COSTLENS_FLUSH_INTERVAL_S", "nan")
    with pytest.raises(ConfigError, match="COSTLENS_FLUSH_INTERVAL_S"):
        costlens.profile(db=sqlite_url)


def test_the_recorder_warns_of_a_bad_flush_interval_and_keeps_flushing(monkeypatch, caplog):
    """Set after profile() was called (or by a child process), the recorder cannot refuse it:
    it says so and flushes every 5 s, instead of silently never flushing."""
    from costlens.record.recorder import FLUSH_INTERVAL_S, flush_interval_s

    monkeypatch.setenv("COSTLENS_FLUSH_INTERVAL_S", "nan")
    with caplog.at_level("WARNING", logger="costlens"):
        assert flush_interval_s() == FLUSH_INTERVAL_S
    assert "COSTLENS_FLUSH_INTERVAL_S" in caplog.text
    monkeypatch.setenv("COSTLENS_FLUSH_INTERVAL_S", "0.5")
    assert flush_interval_s() == 0.5
    assert os.environ["COSTLENS_FLUSH_INTERVAL_S"] == "0.5"


@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_a_plan_that_is_not_utf8_is_a_plan_error_not_a_bug(cli, tmp_path, suffix):
    """Found by the fuzz suite: a TOML or YAML plan of bytes 0x80... was "a costlens bug"."""
    plan = tmp_path / f"plan{suffix}"
    plan.write_bytes(b"\x80\xff[[job]]")
    res = cli("forecast", str(plan))
    assert res.code == 1 and f"{plan}: not a UTF-8 text file" in res.err, res.err
    assert "costlens bug" not in res.err
