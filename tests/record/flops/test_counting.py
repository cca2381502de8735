"""The analytic formulas (re-exported from costlens.core.physics) and one step on the meta
device."""

from __future__ import annotations

import math

import pytest
import torch

from costlens.record.flops import (
    count_train_step_flops,
    gpt_forward_flops_per_token,
    gpt_train_flops_per_token,
)
from tests.record.flops.helpers import TinyGPT


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
