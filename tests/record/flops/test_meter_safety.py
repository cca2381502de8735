"""The FLOP meter's installation and safety: hooks removed, errors never reach the training."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from costlens.record.flops import FlopMeter
from tests.record.flops.helpers import exact_flops, mlp, sgd_step

# ---------------------------------------------------------------- installation and safety


def test_installed_before_torch_is_imported_still_counts(tmp_path):
    script = textwrap.dedent(
        """
        import sys, time
        t0 = time.perf_counter()
        from costlens.record.flops import FlopMeter
        meter = FlopMeter()
        meter.install()
        install_s = time.perf_counter() - t0
        assert "torch" not in sys.modules, "install() imported torch"
        import torch
        from torch import nn
        model = nn.Linear(16, 4)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(5):
            loss = model(torch.randn(8, 16)).pow(2).mean()
            opt.zero_grad(); loss.backward(); opt.step()
        s = meter.snapshot()
        print(s.steps, s.flops, s.samples, install_s)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert proc.returncode == 0, proc.stderr
    steps, flops, samples, install_s = proc.stdout.split()
    per_step = 2 * (2 * 8 * 16 * 4)  # forward mm + the weight's gradient (x needs none)
    assert int(steps) == 5 and int(samples) == 40
    assert float(flops) == pytest.approx(5 * per_step)
    assert float(install_s) < 0.5


def test_uninstall_leaves_no_hooks():
    from torch.nn.modules import module as nn_module
    from torch.optim import optimizer as optim_module

    before = (
        dict(nn_module._global_forward_pre_hooks),
        dict(nn_module._global_forward_hooks),
        dict(optim_module._global_optimizer_post_hooks),
    )
    backward, autograd_backward = torch.Tensor.backward, torch.autograd.backward
    m = FlopMeter()
    m.install()
    m.install()  # idempotent
    assert torch.Tensor.backward is not backward
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(8, 32), torch.randint(0, 5, (8,))
    sgd_step(model, opt, x, y)
    m.uninstall()
    m.uninstall()
    assert torch.Tensor.backward is backward and torch.autograd.backward is autograd_backward
    after = (
        dict(nn_module._global_forward_pre_hooks),
        dict(nn_module._global_forward_hooks),
        dict(optim_module._global_optimizer_post_hooks),
    )
    assert after == before
    counted = m.snapshot()
    sgd_step(model, opt, x, y)
    assert m.snapshot() == counted
    assert counted.steps == 1 and counted.flops > 0


def test_exception_inside_a_hook_never_reaches_training(meter, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("boom inside costlens")

    monkeypatch.setattr(meter, "_open", broken)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(8, 32), torch.randint(0, 5, (8,))
    backward = meter._hooks.orig_tensor_backward
    with caplog.at_level(logging.WARNING, logger="costlens"):
        for _ in range(3):
            w0 = model[0].weight.detach().clone()
            sgd_step(model, opt, x, y)
            assert not torch.equal(w0, model[0].weight)  # training really went on
    assert sum("switched off" in r.getMessage() for r in caplog.records) == 1  # logged once
    assert torch.Tensor.backward is backward  # the meter put Tensor.backward back
    assert meter.snapshot().flops == 0


@pytest.mark.parametrize(
    "where, first",
    [
        ("_close", "train"),  # raised in the backward wrapper
        ("_close", "eval"),  # raised in the forward post-hook
        ("_ledger.step_boundary", "train"),  # raised in the optimizer hook (torch loops over hooks)
        ("_note_trained_modules", "train"),
        ("_after_backward", "train"),
    ],
)
def test_exception_anywhere_inside_the_meter_never_reaches_training(
    meter, monkeypatch, where, first
):
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

    def broken(*args, **kwargs):
        raise RuntimeError("boom inside costlens")

    target, _, name = where.rpartition(".")
    monkeypatch.setattr(getattr(meter, target) if target else meter, name, broken)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(8, 32), torch.randint(0, 5, (8,))
    if first == "eval":
        with torch.no_grad():
            model(x)
    for _ in range(3):
        w0 = model[0].weight.detach().clone()
        sgd_step(model, opt, x, y)
        assert not torch.equal(w0, model[0].weight)
    assert meter._off
    meter.uninstall()
    assert _get_current_dispatch_mode_stack() == []  # no measurement left running


def test_exception_in_the_training_is_unchanged_and_counting_goes_on(meter):
    class Boom(nn.Module):
        def forward(self, x):
            raise ValueError("user error")

    outer = nn.Sequential(nn.Linear(32, 32), Boom())
    with pytest.raises(ValueError, match="user error"):
        outer(torch.randn(2, 32))
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(8, 32), torch.randint(0, 5, (8,))
    sgd_step(model, opt, x, y)
    sgd_step(model, opt, x, y)
    s = meter.snapshot()
    assert s.steps == 2
    assert meter._depth == 0  # the failed call did not leave the nesting count behind


def test_disabled_meter_installs_nothing():
    backward = torch.Tensor.backward
    m = FlopMeter(enabled=False)
    m.install()
    assert torch.Tensor.backward is backward
    assert m.snapshot().flops == 0


def test_script_using_its_own_flop_counter_is_not_disturbed():
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack
    from torch.utils.flop_counter import FlopCounterMode

    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(8, 32), torch.randint(0, 5, (8,))
    forward = exact_flops(lambda: model(x))
    whole_step = exact_flops(sgd_step, model, opt, x, y)
    meter = FlopMeter()
    meter.install()
    try:
        for _ in range(4):  # the script counts its forward itself (the windows overlap)
            with FlopCounterMode(display=False) as own:
                out = model(x)
            assert own.get_total_flops() == forward
            loss = F.cross_entropy(out, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            assert _get_current_dispatch_mode_stack() == []
        assert meter.snapshot().steps == 4
        for _ in range(4):  # the script counts whole steps itself (our windows nest inside)
            with FlopCounterMode(display=False) as own:
                sgd_step(model, opt, x, y)
            assert own.get_total_flops() == whole_step
        s = meter.snapshot()
    finally:
        meter.uninstall()
    assert s.steps == 8
    # the overlapping windows could not be measured; once the same shapes are measured in the
    # nested ones, they are counted too
    assert s.flops == pytest.approx(8 * whole_step, rel=0.01)
    assert _get_current_dispatch_mode_stack() == []
