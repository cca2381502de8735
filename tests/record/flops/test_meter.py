"""The FLOP meter against exact counting: accuracy, steps, samples, tokens, params, precision."""

from __future__ import annotations

import threading

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from costlens.record.flops import gpt_train_flops_per_token
from tests.record.flops.helpers import TinyGPT, exact_flops, mlp, sgd_step

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
