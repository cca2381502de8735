"""FlopCounterMode with the CPU flash attention mapping."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from costlens.record.flops import attention_flop_mapping
from tests.record.flops.helpers import exact_flops


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
