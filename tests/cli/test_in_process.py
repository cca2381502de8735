"""The test harness's in-process ``costlens`` (tests/conftest.py ``run_cli``) behaves like the real
command and leaves nothing behind for the next test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO, run_cli, run_cli_subprocess

SAME_AS_A_PROCESS = [
    ("--version",),
    ("runs", "--bogus"),
    ("runs", "--format", "json"),
    ("prices", "--gpu", "NoSuchGPU9000", "--format", "json"),
    ("estimate", "--params", "7B", "--tokens", "-1", "--format", "json"),
]


@pytest.mark.parametrize("args", SAME_AS_A_PROCESS, ids=" ".join)
def test_in_process_matches_the_real_command(args):
    here, real = run_cli(*args), run_cli_subprocess(*args)
    assert (here.code, here.out, here.err) == (real.code, real.out, real.err)


MESSY_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    sys.argv.append("--changed")
    sys.path.insert(0, "/nowhere")
    os.environ["LEAKED_BY_SCRIPT"] = "1"
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    signal.signal(signal.SIGTERM, lambda *a: None)

    class ScriptFinder:
        def find_spec(self, *args):
            return None

    sys.meta_path.insert(0, ScriptFinder())
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(3, 4)).sum().backward()
        opt.step()
    print("trained")
    """
)


def test_a_profiled_run_in_process_leaves_the_test_process_as_it_was(tmp_path, sqlite_url):
    script = tmp_path / "sub" / "messy.py"
    script.parent.mkdir()
    script.write_text(MESSY_SCRIPT)
    before = (
        sys.argv[:], sys.path[:], sys.meta_path[:], os.getcwd(), dict(os.environ),
        signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT),
        sys.modules["__main__"], sys.stdout, sys.stderr,
    )  # fmt: skip
    res = run_cli("run", "--db", sqlite_url, "--", "python", str(script), env={"EXTRA": "x"})
    assert res.code == 0, res.err
    assert "trained" in res.out
    after = (
        sys.argv[:], sys.path[:], sys.meta_path[:], os.getcwd(), dict(os.environ),
        signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT),
        sys.modules["__main__"], sys.stdout, sys.stderr,
    )  # fmt: skip
    assert after == before
    import torch.nn.modules.module as torch_module
    import torch.optim.optimizer as torch_optimizer

    # the FLOP meter's global hooks are gone once the run has ended
    assert not torch_module._global_forward_pre_hooks
    assert not torch_module._global_forward_hooks
    assert not torch_optimizer._global_optimizer_post_hooks


def test_an_escaping_exception_is_printed_and_exits_1(monkeypatch):
    import costlens.cli

    def boom(_argv):
        raise RuntimeError("kaput")

    monkeypatch.setattr(costlens.cli, "main", boom)
    res = run_cli("runs")
    assert res.code == 1
    assert "Traceback (most recent call last)" in res.err and "RuntimeError: kaput" in res.err


LIBRARY_FINDER_THEN_METADATA = textwrap.dedent(
    """
    import importlib.metadata, sys
    from tests.conftest import run_cli
    assert "importlib_metadata" not in sys.modules  # the command below imports it
    res = run_cli("export", "mlflow", "nosuchrun", "--db", sys.argv[1],
                  "--tracking-uri", sys.argv[2])
    assert "importlib_metadata" in sys.modules, res.err
    print(importlib.metadata.version("werkzeug"))
    """
)


def test_a_finder_a_library_installs_on_import_outlives_an_in_process_command(
    tmp_path, sqlite_url, store
):
    # `export mlflow` imports the importlib_metadata backport, which appends its own finder of
    # package metadata and deletes the standard one: the harness once dropped that finder and
    # every later metadata look-up in the worker failed (tests/validation failed in one process).
    # A fresh process, so that this command is the one that imports the backport.
    proc = subprocess.run(
        [sys.executable, "-c", LIBRARY_FINDER_THEN_METADATA, sqlite_url,
         f"file://{tmp_path / 'mlruns'}"],
        capture_output=True, text=True, timeout=300, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip()
