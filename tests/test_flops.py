"""FlopMeter: FLOPs, steps, samples and tokens of real (tiny) training loops on CPU."""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
import textwrap
import threading

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from costlens.flops import (
    FlopMeter,
    attention_flop_mapping,
    count_train_step_flops,
    flop_counter,
    gpt_forward_flops_per_token,
    gpt_train_flops_per_token,
)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread avoids spinning."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def meter():
    m = FlopMeter()
    m.install()
    yield m
    m.uninstall()


def exact_flops(fn, *args) -> int:
    """What FlopCounterMode (with the CPU attention mapping) counts for one call of ``fn``."""
    with flop_counter() as c:
        fn(*args)
    return c.get_total_flops()


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 5)
    )


def sgd_step(model, opt, x, y):
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


# ---------------------------------------------------------------- accuracy against exact counting


def test_mlp_flops_equal_flop_counter_times_steps(meter):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(16, 32), torch.randint(0, 5, (16,))
    steps = 12
    for _ in range(steps):
        sgd_step(model, opt, x, y)
    s = meter.snapshot()
    meter.uninstall()
    per_step = exact_flops(sgd_step, model, opt, x, y)
    assert per_step > 0
    assert s.steps == steps
    assert s.measured_steps == 3
    assert s.flops == pytest.approx(per_step * steps, rel=0.01)
    assert s.flops_per_step == pytest.approx(per_step, rel=0.01)
    assert s.samples == 16 * steps and s.tokens == 0
    assert s.params_total == s.params_trainable == sum(p.numel() for p in model.parameters())
    assert s.precision == "fp32"


def test_cpu_attention_mapping_counts_flash_attention():
    q = torch.randn(2, 4, 16, 8, requires_grad=True)

    def attn():
        F.scaled_dot_product_attention(q, q, q, is_causal=True).sum().backward()

    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as plain:
        attn()
    assert plain.get_total_flops() == 0  # what torch does by default on CPU
    assert torch.ops.aten._scaled_dot_product_flash_attention_for_cpu in attention_flop_mapping()
    b, h, s, d = 2, 4, 16, 8
    assert exact_flops(attn) == (2 + 5) * 2 * b * h * s * s * d  # 2 bmm forward, 5 backward


def test_transformer_with_attention_equals_flop_counter_times_steps(meter):
    torch.manual_seed(0)
    model = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, dropout=0.0, batch_first=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(4, 24, 32)

    def step():
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    steps = 8
    for _ in range(steps):
        step()
    s = meter.snapshot()
    meter.uninstall()
    per_step = exact_flops(step)
    b, t, d = 4, 24, 32
    attention = (2 + 5) * 2 * b * t * t * d  # the mapped CPU flash attention kernels
    assert per_step > attention  # attention is part of what is counted
    assert s.steps == steps
    assert s.flops == pytest.approx(per_step * steps, rel=0.01)


class Block(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d, bias=False), nn.LayerNorm(d, bias=False)
        self.qkv, self.proj = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
        self.fc, self.out = nn.Linear(d, 4 * d, bias=False), nn.Linear(4 * d, d, bias=False)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class TinyGPT(nn.Module):
    def __init__(self, vocab=256, seq=32, d=128, layers=2, heads=4, tied=True) -> None:
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(seq, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d, bias=False)
        self.head = nn.Linear(d, vocab, bias=False)
        if tied:
            self.head.weight = self.wte.weight

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln_f(x))

    def matmul_params(self) -> int:
        """N of 6N: all parameters but the embedding lookup tables (a tied head counts once)."""
        lookup = {id(self.wpe.weight)}
        if self.head.weight is not self.wte.weight:
            lookup.add(id(self.wte.weight))
        return sum(p.numel() for p in self.parameters() if id(p) not in lookup)


@pytest.mark.parametrize("tied", [True, False])
def test_gpt_flops_per_token_close_to_6n_plus_12lhqt(meter, tied):
    torch.manual_seed(0)
    vocab, seq, d, layers = 256, 32, 128, 2
    model = TinyGPT(vocab, seq, d, layers, tied=tied)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batch = 4
    for _ in range(5):
        idx = torch.randint(0, vocab, (batch, seq + 1))
        logits = model(idx[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, vocab), idx[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    s = meter.snapshot()
    assert s.steps == 5
    assert s.tokens == 5 * batch * seq  # inferred from the token-id input
    tokens_trained = 5 * batch * seq
    per_token = s.flops / tokens_trained
    formula = gpt_train_flops_per_token(model.matmul_params(), layers, d, seq)
    assert per_token == pytest.approx(formula, rel=0.02)
    total = sum(p.numel() for p in model.parameters())
    assert s.params_total == total and s.params_trainable == total


# ---------------------------------------------------------------- steps


def test_manual_sgd_without_optimizer_counts_backward_passes(meter):
    model = mlp()
    x, y = torch.randn(8, 32), torch.randint(0, 5, (8,))

    def step():
        loss = F.cross_entropy(model(x), y)
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.01 * p.grad

    for _ in range(7):
        step()
    s = meter.snapshot()
    meter.uninstall()
    assert s.steps == 7
    assert s.flops == pytest.approx(7 * exact_flops(step), rel=0.01)


def test_gradient_accumulation_counts_optimizer_steps(meter):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(8, 32), torch.randint(0, 5, (8,))
    accumulate, steps = 4, 3

    def micro():
        (F.cross_entropy(model(x), y) / accumulate).backward()

    for _ in range(steps):
        for _ in range(accumulate):
            micro()
        opt.step()
        opt.zero_grad()
    s = meter.snapshot()
    meter.uninstall()
    assert s.steps == steps
    assert s.samples == steps * accumulate * 8
    assert s.flops == pytest.approx(steps * accumulate * exact_flops(micro), rel=0.01)
    assert s.flops_per_step == pytest.approx(accumulate * exact_flops(micro), rel=0.01)


def test_eval_under_no_grad_counts_flops_not_steps(meter):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(16, 32), torch.randint(0, 5, (16,))
    for _ in range(4):
        sgd_step(model, opt, x, y)
    before = meter.snapshot()
    xe = torch.randn(10, 32)
    with torch.no_grad():
        for _ in range(6):
            model(xe)
    with torch.inference_mode():
        model(xe)
    after = meter.snapshot()
    meter.uninstall()
    forward = exact_flops(lambda: model(xe))
    assert after.steps == before.steps == 4
    assert after.samples == before.samples  # evaluation samples are not training samples
    assert after.flops - before.flops == pytest.approx(7 * forward, rel=0.01)


def test_shape_changes_are_measured_again(meter):
    torch.manual_seed(0)
    model = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    # three epochs of 5 full batches and a smaller last one, then a longer sequence
    shapes = ([(8, 12)] * 5 + [(3, 12)]) * 3 + [(8, 20)] * 4

    def step(b, t):
        loss = model(torch.randn(b, t, 16)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for b, t in shapes:
        step(b, t)
    s = meter.snapshot()
    meter.uninstall()
    exact = sum(shapes.count(shape) * exact_flops(step, *shape) for shape in set(shapes))
    assert s.steps == len(shapes)
    assert s.flops == pytest.approx(exact, rel=0.01)
    # 3 windows per input shape, not every step
    assert s.measured_steps == 9 < len(shapes)


def test_keyword_only_inputs_give_shapes_samples_and_tokens(meter):
    class KwModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb, self.lin = nn.Embedding(50, 16), nn.Linear(16, 50)

        def forward(self, *, input_ids):
            return self.lin(self.emb(input_ids))

    model = KwModel()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    lengths = [10, 10, 10, 10, 17, 17, 17, 17]

    def step(t):
        ids = torch.randint(0, 50, (4, t))
        loss = model(input_ids=ids).logsumexp(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for t in lengths:
        step(t)
    s = meter.snapshot()
    meter.uninstall()
    assert s.samples == 4 * len(lengths)
    assert s.tokens == 4 * sum(lengths)
    assert s.flops == pytest.approx(sum(exact_flops(step, t) for t in lengths), rel=0.01)


def test_frozen_backbone_and_head_params_total_and_trainable(meter):
    backbone, head = mlp(), nn.Linear(5, 3)
    for p in backbone.parameters():
        p.requires_grad_(False)
    opt = torch.optim.SGD(head.parameters(), lr=0.01)
    x, y = torch.randn(8, 32), torch.randint(0, 3, (8,))

    def step():
        with torch.no_grad():
            feats = backbone(x)
        loss = F.cross_entropy(head(feats), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    s = meter.snapshot()
    meter.uninstall()
    n_backbone = sum(p.numel() for p in backbone.parameters())
    n_head = sum(p.numel() for p in head.parameters())
    assert s.params_total == n_backbone + n_head
    assert s.params_trainable == n_head
    assert s.steps == 5 and s.samples == 40
    assert s.flops == pytest.approx(5 * exact_flops(step), rel=0.01)
    assert s.flops_per_step == pytest.approx(exact_flops(step), rel=0.01)


def test_declared_counts_win(meter):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(8, 32), torch.randint(0, 5, (8,))
    for _ in range(3):
        sgd_step(model, opt, x, y)
        meter.declare(steps=1, samples=100, tokens=1000)
    s = meter.snapshot()
    assert (s.steps, s.samples, s.tokens) == (3, 300, 3000)


def test_autocast_bf16_precision(meter):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(8, 32), torch.randint(0, 5, (8,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        sgd_step(model, opt, x, y)
    assert meter.snapshot().precision == "bf16"


def test_snapshot_from_another_thread_while_training(meter):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(8, 32), torch.randint(0, 5, (8,))
    seen, stop = [], threading.Event()

    def sampler():
        while not stop.wait(0.0005):
            seen.append(meter.snapshot().steps)

    t = threading.Thread(target=sampler)
    t.start()
    try:
        for _ in range(20):
            sgd_step(model, opt, x, y)
    finally:
        stop.set()
        t.join()
    assert seen and seen == sorted(seen)  # monotonic, no torn reads or errors
    assert meter.snapshot().steps == 20


# ---------------------------------------------------------------- installation and safety


def test_installed_before_torch_is_imported_still_counts(tmp_path):
    script = textwrap.dedent(
        """
        import sys, time
        t0 = time.perf_counter()
        from costlens.flops import FlopMeter
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
    backward = meter._orig_tensor_backward
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
        ("_step_boundary", "train"),  # raised in the optimizer hook (torch loops over hooks)
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

    monkeypatch.setattr(meter, where, broken)
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


# ---------------------------------------------------------------- analytic and meta-device helpers


def test_analytic_formulas():
    n, layers, d, t = 1.0e9, 24, 2048, 2048
    assert gpt_train_flops_per_token(n, layers, d, t) == 6 * n + 12 * layers * d * t
    assert gpt_forward_flops_per_token(n, layers, d, t) * 3 == pytest.approx(
        gpt_train_flops_per_token(n, layers, d, t)
    )


def test_count_train_step_flops_on_meta_device():
    vocab, seq, d, layers, batch = 512, 64, 256, 4, 2
    ids = torch.randint(0, vocab, (batch, seq), device="meta")
    counted = count_train_step_flops(lambda: TinyGPT(vocab, seq, d, layers), ids)
    n = TinyGPT(vocab, seq, d, layers).matmul_params()
    formula = gpt_train_flops_per_token(n, layers, d, seq) * batch * seq
    assert counted["train_step_flops"] == pytest.approx(formula, rel=0.02)
    assert counted["backward_flops"] == pytest.approx(2 * counted["forward_flops"], rel=0.05)
    assert math.isfinite(counted["train_step_flops"])


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


def test_forwards_in_other_threads_are_not_counted(meter):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(8, 32), torch.randint(0, 5, (8,))
    sgd_step(model, opt, x, y)  # the training thread is this one
    counted = meter.snapshot().flops
    t = threading.Thread(target=lambda: [model(x) for _ in range(3)])
    t.start()
    t.join()
    assert meter.snapshot().flops == counted
    sgd_step(model, opt, x, y)
    assert meter.snapshot().flops == pytest.approx(2 * counted)


@pytest.mark.parametrize(
    "device, dtype, matmul, expected",
    [
        ("cuda", torch.float32, "highest", "fp32"),
        ("cuda", torch.float32, "high", "tf32"),
        ("cpu", torch.float32, "high", "fp32"),  # tf32 is a CUDA matmul mode
        ("cuda", torch.bfloat16, "highest", "bf16"),
        ("cuda", torch.float16, "high", "fp16"),
    ],
)
def test_precision_from_parameters_and_matmul_mode(meter, device, dtype, matmul, expected):
    from types import SimpleNamespace

    param = SimpleNamespace(device=SimpleNamespace(type=device), dtype=dtype)
    module = SimpleNamespace(parameters=lambda: iter([param]))
    old = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(matmul)
    try:
        meter._detect_precision(module, None)
    finally:
        torch.set_float32_matmul_precision(old)
    assert meter.snapshot().precision == expected
