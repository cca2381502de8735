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


def test_fast_path_knows_only_options_the_typer_command_has():
    """`costlens run` parses its options itself (no pydantic import before the script starts);
    every option it knows is one `costlens run --help` documents."""
    import typer.main

    from costlens.cli import app
    from costlens.cli.run import FAST_OPTIONS

    group = typer.main.get_command(app)
    opts = {o for p in group.commands["run"].params for o in getattr(p, "opts", [])}
    assert set(FAST_OPTIONS) <= opts


def test_fast_path_records_the_same_run_as_typer_would(
    cli, store, sqlite_url, tmp_path, monkeypatch
):
    import costlens.cli.run as run_mod

    script = tmp_path / "ok.py"
    script.write_text("print('ok')\n")
    seen = []
    real = run_mod.start_run
    monkeypatch.setattr(run_mod, "start_run", lambda cmd, **kw: seen.append(kw) or real(cmd, **kw))
    args = ["run", "--db", sqlite_url, "--name=fast", "--tag", "a", "--tag", "b", "--strategy",
            "LoRA", "--sample-interval-s", "0.5", "--", "python", str(script)]  # fmt: skip
    assert run_mod.fast_run(args) == 0
    assert cli(*args).code == 0  # typer's path (in-process `cli` goes through main())
    assert seen[0]["tags"] == ["a", "b"] and seen[0]["sample_interval_s"] == 0.5
    rec = sorted(list_runs(store), key=lambda r: r["started_at"])[0]
    assert rec["name"] == "fast" and rec["strategy"] == "lora"
    # what it does not know (help, a bad value, an unknown option) goes to typer
    assert run_mod.fast_run(["run", "--help", "--", "python", "x.py"]) is None
    assert run_mod.fast_run(["run", "--sample-interval-s", "x", "--", "python", "x.py"]) is None
    assert run_mod.fast_run(["run", "--db", sqlite_url, "--"]) is None
