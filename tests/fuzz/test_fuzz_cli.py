"""Fuzzing every CLI command and option (the typer app walked, as in the exit-code test)."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from costlens.core.validate import has_control
from tests.fuzz.conftest import fuzz_settings, outcome
from tests.fuzz.values import any_value, names_text, numbers_text, plausible
from tests.validation.checks import assert_clean_failure
from tests.validation.test_exit_codes import COMMANDS, _argv, _is_option, _value_params

OPTIONS = [(p, n) for p, n in _value_params() if n != "command"]


def _sane(value) -> bool:
    """What a parsed value may be: finite numbers, text without control characters."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return bool(value.strip()) and not has_control(value)
    if isinstance(value, (list, tuple)):
        return all(_sane(v) for v in value)
    return True


@fuzz_settings(400)
@given(which=st.sampled_from(OPTIONS), value=any_value)
def test_every_option_parses_to_a_sane_value_or_a_usage_error(which, value):
    """Parse only (no command runs: dashboard and demo would serve, run would train)."""
    path, name = which
    cmd = COMMANDS[path]
    try:
        ctx = cmd.make_context(path[-1], _argv(path, name, value)[len(path) :])
    except Exception as exc:  # typer's click UsageError / BadParameter only
        assert type(exc).__name__ in ("BadParameter", "UsageError", "NoSuchOption"), repr(exc)
        assert str(exc).strip() and "Traceback" not in str(exc)
        outcome("parse", False)
        return
    param = next(p for p in cmd.params if p.name == name)
    got = ctx.params[name]
    if _is_option(param) and got is not None and name != "fmt":
        assert _sane(got), (path, name, value, got)
    outcome("parse", True)


ESTIMATE = ["estimate", "--params", "1B", "--tokens", "20B", "-f", "json"]
ESTIMATE_OPTIONS = ["--gpus", "--precision", "--strategy", "--trainable-fraction", "--n-layers",
                    "--d-model", "--seq-len", "--tokens-per-step", "--params", "--tokens",
                    "--gpu", "--provider"]  # fmt: skip


@fuzz_settings(40)
@given(flag=st.sampled_from(ESTIMATE_OPTIONS), value=any_value)
def test_estimate_answers_correctly_or_fails_cleanly(cli, flag, value):
    args = [*ESTIMATE, flag, value]
    if flag == "--trainable-fraction":
        args += ["--strategy", "lora"]
    res = cli(*args)
    if res.code == 0:
        out = json.loads(res.out)
        assert out["flops"] > 0 and math.isfinite(out["flops"])
        for key in ("gpu_hours", "wall_hours"):
            assert out[key] is not None and math.isfinite(out[key]) and out[key] > 0, out
        assert out["cost_usd"] is None or (math.isfinite(out["cost_usd"]) and out["cost_usd"] > 0)
        outcome("estimate", True)
    else:
        assert_clean_failure(res)
        outcome("estimate", False)


@fuzz_settings(40)
@given(
    command=st.sampled_from([["runs", "--project"], ["runs", "--status"], ["runs", "--limit"],
                             ["show"], ["cost", "x", "--idle-threshold"], ["cost"],
                             ["prices", "--gpu"], ["prices", "--limit"], ["prices", "--provider"],
                             ["gpus", "-f"], ["db", "info", "--db"], ["runs", "--db"]]),
    value=any_value,
)  # fmt: skip
def test_reading_commands_answer_or_fail_cleanly(cli, store, sqlite_url, command, value):
    args = [*command, value]
    if "--db" not in command:
        args += ["--db", sqlite_url] if command[0] not in ("prices", "gpus") else []
    res = cli(*args)
    if res.code == 0:
        assert "Traceback" not in res.err and "costlens bug" not in res.err
        outcome("reading commands", True)
    else:
        assert_clean_failure(res)
        outcome("reading commands", False)


@fuzz_settings(15)
@given(
    flag=st.sampled_from(["--budget", "--seed", "--correlation", "--transfer-strategy",
                          "--budget-period", "--sims"]),
    value=st.one_of(plausible, numbers_text, names_text),
)  # fmt: skip
def test_forecast_flags_never_leave_an_output_file_on_error(cli, tmp_path_factory, flag, value):
    from tests.conftest import REPO

    out = tmp_path_factory.mktemp("fc") / "out.json"
    sims = [] if flag == "--sims" else ["--sims", "100"]
    if flag == "--sims":  # a valid count is capped: the point is the parsing, not a long run
        try:
            if float(value.replace(",", "")) > 2000:
                value = "2k"
        except ValueError:
            pass
    res = cli("forecast", str(REPO / "data" / "example_plan.csv"), *sims, flag, value,
              "--out", str(out), "-f", "json")  # fmt: skip
    if res.code == 0:
        fc = json.loads(res.out)
        assert math.isfinite(fc["total_cost_usd"]) and fc["total_cost_usd"] > 0
        assert out.exists()
        outcome("forecast flags", True)
    else:
        assert_clean_failure(res)
        assert not out.exists()
        outcome("forecast flags", False)
