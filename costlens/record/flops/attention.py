"""FlopCounterMode with CPU flash attention counted (torch counts it as 0 FLOPs by default)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import costlens.record.flops.torch_internals as ti


def _cpu_flash_fwd(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _cpu_flash_bwd(
    grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs
) -> int:
    from torch.utils.flop_counter import sdpa_backward_flop_count

    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


def attention_flop_mapping() -> dict[Any, Callable[..., int]]:
    """``custom_mapping`` for FlopCounterMode: CPU flash attention (which it counts as 0 FLOPs).

    ``aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, ...)`` returns (out, logsumexp)
    and its backward takes ``(grad_out, q, k, v, out, logsumexp, ...)``: the first shapes are
    what ``sdpa_flop_count`` / ``sdpa_backward_flop_count`` need. Imports torch.
    """
    import torch

    mapping: dict[Any, Callable[..., int]] = {}
    for name, fn in (
        (ti.CPU_FLASH_ATTENTION_FWD, _cpu_flash_fwd),
        (ti.CPU_FLASH_ATTENTION_BWD, _cpu_flash_bwd),
    ):
        op = ti.aten_op(torch, name)
        if op is not None:
            mapping[op] = fn
    return mapping


def flop_counter(display: bool = False) -> Any:
    """A fresh ``FlopCounterMode`` that also counts CPU flash attention. Imports torch."""
    from torch.utils.flop_counter import FlopCounterMode

    return FlopCounterMode(display=display, custom_mapping=attention_flop_mapping())
