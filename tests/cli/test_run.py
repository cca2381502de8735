"""`costlens run -- python train.py`: unmodified scripts recorded with the right steps and FLOPs,
run exactly as Python would run them (argv, __main__, sys.path[0], cwd, exit code, traceback)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from costlens.store.queries import count_samples, list_runs
from tests.conftest import REPO

EXAMPLES = REPO / "examples"


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    monkeypatch.setenv("COSTLENS_FLUSH_INTERVAL_S", "0.5")


def _flops_available() -> bool:
    return (REPO / "costlens" / "flops" / "meter.py").is_file()


def _only_run(store) -> dict:
    (rec,) = list_runs(store)
    return rec


@pytest.mark.slow
def test_records_the_torch_optim_example_with_steps_and_flops(cli_subprocess, store, sqlite_url):
    """A real `costlens run -- python train.py` process, end to end."""
    res = cli_subprocess(
        "run", "--project", "ex", "--name", "mlp", "--strategy", "scratch", "--tag", "cpu",
        "--db", sqlite_url, "--", "python", str(EXAMPLES / "train_mlp.py"), "--steps", "6",
        "--width", "64", "--batch", "16",
    )  # fmt: skip
    assert res.code == 0, res.err
    assert "trained 6 steps" in res.out
    assert "costlens: run" in res.err and "steps 6" in res.err
    rec = _only_run(store)
    assert rec["status"] == "completed" and rec["exit_code"] == 0
    assert (rec["project"], rec["name"], rec["strategy"], rec["tags"]) == (
        "ex",
        "mlp",
        "scratch",
        ["cpu"],
    )
    assert rec["steps"] == 6
    assert "train_mlp.py --steps 6" in rec["command"]
    if _flops_available():
        assert rec["samples"] == 6 * 16
        # 128-64-64-10 MLP: 6 * params-ish FLOPs per sample, forward + backward
        assert rec["flops_per_step"] > 0
        assert rec["flops"] >= 6 * rec["flops_per_step"]
        assert rec["params_total"] == 128 * 64 + 64 + 64 * 64 + 64 + 64 * 10 + 10
    assert count_samples(store, rec["id"]) >= 1


@pytest.mark.slow
def test_records_the_hand_written_sgd_example(cli, store, sqlite_url):
    res = cli(
        "run", "--db", sqlite_url, "--", "python", str(EXAMPLES / "manual_sgd.py"),
        "--steps", "4", "--width", "32",
    )  # fmt: skip
    assert res.code == 0, res.err
    rec = _only_run(store)
    assert rec["name"] == "manual_sgd" and rec["status"] == "completed"
    if _flops_available():
        assert rec["steps"] == 4  # backward passes: no optimizer in this script
        assert rec["flops"] > 0 and rec["flops_per_step"] > 0


PROBE = textwrap.dedent(
    """
    import json, os, sys
    print(json.dumps({"argv": sys.argv, "name": __name__, "path0": sys.path[0],
                      "cwd": os.getcwd()}))
    """
)


def test_script_sees_python_semantics(cli_subprocess, store, sqlite_url, tmp_path):
    sub = tmp_path / "proj"
    sub.mkdir()
    (sub / "probe.py").write_text(PROBE)
    res = cli_subprocess(
        "run", "--db", sqlite_url, "--", "python", "proj/probe.py", "a", "--b", cwd=str(tmp_path)
    )
    assert res.code == 0, res.err
    seen = json.loads(res.out.strip().splitlines()[0])
    assert seen == {
        "argv": ["proj/probe.py", "a", "--b"],
        "name": "__main__",
        "path0": str(sub),
        "cwd": str(tmp_path),
    }
    assert _only_run(store)["status"] == "completed"


def test_module_form(cli, store, sqlite_url, tmp_path):
    (tmp_path / "probemod.py").write_text(PROBE)
    res = cli("run", "--db", sqlite_url, "--", "python", "-m", "probemod", "x", cwd=str(tmp_path))
    assert res.code == 0, res.err
    seen = json.loads(res.out.strip().splitlines()[0])
    assert seen["name"] == "__main__" and seen["argv"][1:] == ["x"]
    assert seen["argv"][0].endswith("probemod.py")
    assert _only_run(store)["name"] == "probemod"


def test_exit_code_is_the_scripts(cli, store, sqlite_url, tmp_path):
    script = tmp_path / "quits.py"
    script.write_text("import sys\nprint('bye')\nsys.exit(3)\n")
    res = cli("run", "--db", sqlite_url, "--", "python", str(script))
    assert res.code == 3 and "bye" in res.out
    rec = _only_run(store)
    assert rec["status"] == "failed" and rec["exit_code"] == 3


def test_traceback_is_the_scripts_own(cli_subprocess, store, sqlite_url, tmp_path):
    script = tmp_path / "breaks.py"
    script.write_text("def f():\n    raise ValueError('bad batch')\n\nf()\n")
    res = cli_subprocess("run", "--db", sqlite_url, "--", "python", str(script))
    assert res.code == 1
    assert "Traceback (most recent call last)" in res.err
    assert "ValueError: bad batch" in res.err
    assert str(script) in res.err
    frames = [ln for ln in res.err.splitlines() if ln.strip().startswith("File ")]
    assert frames and all("costlens" not in f and "runpy" not in f for f in frames)
    assert _only_run(store)["status"] == "failed"


def test_non_python_command_gets_telemetry_and_its_exit_code(cli_subprocess, store, sqlite_url):
    res = cli_subprocess(
        "run", "--db", sqlite_url, "--sample-interval-s", "0.05", "--", "sh", "-c",
        "sleep 0.3; exit 5",
    )  # fmt: skip
    assert res.code == 5
    rec = _only_run(store)
    assert rec["status"] == "failed" and rec["exit_code"] == 5 and rec["name"] == "sh"
    assert count_samples(store, rec["id"]) >= 2


def test_usage_errors(cli, sqlite_url):
    res = cli("run", "--db", sqlite_url)
    assert res.code == 2 and "after `--`" in res.err
    res = cli("run", "--db", sqlite_url, "--strategy", "magic", "--", "python", "x.py")
    assert res.code == 2 and "strategy" in res.err
    res = cli("run", "--db", sqlite_url, "--", "python", "/no/such/script.py")
    assert res.code == 2 and "no such script" in res.err


def test_sync_with_nothing_to_do(cli, sqlite_url):
    res = cli("sync", "--db", sqlite_url)
    assert res.code == 0 and "nothing to sync" in res.out


def test_runs_lists_a_recorded_run(cli, sqlite_url, tmp_path: Path):
    script = tmp_path / "ok.py"
    script.write_text("print('ok')\n")
    assert cli("run", "--db", sqlite_url, "--name", "listed", "--", "python", str(script)).code == 0
    res = cli("runs", "--db", sqlite_url, "--format", "json")
    assert res.code == 0
    (rec,) = json.loads(res.out)
    assert rec["name"] == "listed" and rec["status"] == "completed"


def test_unknown_option_is_named(cli):
    res = cli("run", "--bogus", "--", "python", "x.py")
    assert res.code == 2
    assert "unknown option '--bogus'" in res.err and "Traceback" not in res.err


def test_command_without_double_dash_is_refused(cli):
    res = cli("run", "python", "train.py", "--steps", "3")
    assert res.code == 2
    assert "put `--` before the command" in res.err


def _typer_run_command():
    import typer.main

    from costlens.cli.app import app

    return typer.main.get_command(app).commands["run"]


def test_the_three_entry_points_take_the_one_declared_option_set():
    """profile()'s keywords, the typer command's options and the fast path's flags all come from
    `costlens.record.options`: same keys, same flags (issue 20: they were declared five times and
    the fast path knew 10 of the 15)."""
    import inspect

    import costlens
    from costlens.record.options import FLAGS, OPTIONS

    keys = set(OPTIONS)
    assert len(keys) >= 15
    params = inspect.signature(costlens.profile).parameters
    assert {k for k, p in params.items() if p.kind is p.KEYWORD_ONLY} - {"extensions"} == keys
    typer_params = {p.name: p for p in _typer_run_command().params if p.name != "command"}
    assert set(typer_params) == keys
    for key, opt in OPTIONS.items():
        flags = {opt.flag.flag, *opt.flag.names}
        assert set(typer_params[key].opts) | set(typer_params[key].secondary_opts) == flags
        assert all(FLAGS[f] is opt for f in flags)
    with pytest.raises(TypeError, match="unexpected keyword argument 'sample_interval'"):
        costlens.profile(sample_interval=1.0)


# One valid value per option, as written on a command line (a new option needs one here).
SAMPLES = {
    "project": "p", "name": "n", "strategy": "LoRA", "base_model": "m", "tags": ["a", "b"],
    "provider": "aws", "instance": "m5.large", "region": "us-east-1", "sample_interval_s": "0.5",
    "max_usd": "1k", "stop_when_idle_min": "2.5", "idle_threshold_pct": "5",
    "expected_steps": "2k", "quiet": True, "db": "sqlite:///x.db", "metrics_port": "9465",
}  # fmt: skip


def _argv(values: dict) -> list[str]:
    from costlens.record.options import OPTIONS

    out: list[str] = []
    for key, value in values.items():
        flag = OPTIONS[key].flag.flag
        if value is True:
            out.append(flag)
        else:
            out += [x for v in (value if isinstance(value, list) else [value]) for x in (flag, v)]
    return out


def test_the_fast_path_and_typer_read_every_option_the_same_way():
    from costlens.cli.launch import read_flags
    from costlens.record.options import OPTIONS, run_options

    assert set(SAMPLES) == set(OPTIONS)
    argv = _argv(SAMPLES)
    fast = run_options(read_flags(argv), cli=True)
    typer_values = _typer_run_command().make_context("run", [*argv, "--", "true"]).params
    typer_values.pop("command")
    assert run_options(typer_values, cli=True) == fast
    assert (fast.strategy, fast.max_usd, fast.expected_steps, fast.quiet) == (
        "lora",
        1e3,
        2000,
        True,
    )
    # what it does not know (help, an unknown or repeated flag, no value) goes to typer
    for bad in (["--help"], ["--bogus", "x"], ["--name", "a", "--name", "b"], ["--name"],
                ["--quiet=1"]):  # fmt: skip
        assert read_flags(bad) is None, bad


def test_the_live_tick_is_the_same_whichever_entry_point_built_it(cli, monkeypatch):
    """issue 20: `costlens run` ticked at min(1, interval), profile() at min(1, max(interval,
    0.01)), a RunOptions without live options at 1 s."""
    import costlens
    import costlens.cli.launch as launch
    from costlens.record.options import RunOptions

    seen = []
    monkeypatch.setattr(launch, "run_command", lambda cmd, options: seen.append(options) or 0)
    args = ["run", "--sample-interval-s", "0.001", "--max-usd", "5", "--", "true"]
    assert launch.fast_run(args) == 0  # the fast path
    monkeypatch.setattr(launch, "fast_run", lambda argv: None)
    assert cli(*args).code == 0  # typer's path
    api = costlens.profile(sample_interval_s=0.001, max_usd=5).options
    assert len(seen) == 2 and seen[0] == seen[1]
    ticks = {o.live.tick_s for o in (*seen, api, RunOptions(sample_interval_s=0.001))}
    assert ticks == {0.01}
    assert seen[0].live == api.live  # quiet, guards, price and trackers alike


def test_the_fast_path_starts_the_script_before_typer_loads(cli_subprocess, sqlite_url, tmp_path):
    """No typer (nor its pydantic adapters) before the script's first line, with every kind of
    option the fast path reads (a switch, a repeated flag, a limit)."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import sys\nprint(sorted(m for m in ('typer', 'click') if m in sys.modules))\n"
    )
    res = cli_subprocess(
        "run", "--db", sqlite_url, "-q", "--tag", "a", "--tag", "b", "--max-usd", "1k",
        "--expected-steps", "10", "--", "python", str(script),
    )  # fmt: skip
    assert res.code == 0, res.err
    assert res.out.strip() == "[]"


def test_fast_path_records_the_same_run_as_typer_would(cli, store, sqlite_url, tmp_path):
    from costlens.cli.launch import fast_run

    script = tmp_path / "ok.py"
    script.write_text("print('ok')\n")
    args = ["run", "--db", sqlite_url, "--name=fast", "--tag", "a", "--tag", "b", "--strategy",
            "LoRA", "--sample-interval-s", "0.5", "--", "python", str(script)]  # fmt: skip
    assert fast_run(args) == 0
    assert cli(*args).code == 0
    first, second = sorted(list_runs(store), key=lambda r: r["started_at"])
    for rec in (first, second):
        assert (rec["name"], rec["strategy"], rec["tags"]) == ("fast", "lora", ["a", "b"])
    # what it does not know (help, a bad value, an unknown option) goes to typer
    assert fast_run(["run", "--help", "--", "python", "x.py"]) is None
    assert fast_run(["run", "--sample-interval-s", "x", "--", "python", "x.py"]) is None
    assert fast_run(["run", "--db", sqlite_url, "--"]) is None


def test_an_idle_threshold_is_a_percentage(cli):
    """It was any number at least 0 (150 accepted: every GPU always idle)."""
    res = cli("run", "--idle-threshold", "150", "--", "true")
    assert res.code == 2 and "--idle-threshold" in res.err and "at most 100" in res.err
