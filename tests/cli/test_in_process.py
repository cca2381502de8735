"""The test harness's in-process ``costlens`` (tests/conftest.py ``run_cli``) behaves like the real
command and leaves nothing behind for the next test."""

from __future__ import annotations

import os
import signal
import sys
import textwrap

import pytest

from tests.conftest import run_cli, run_cli_subprocess

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
