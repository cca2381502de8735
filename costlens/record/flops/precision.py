"""The numeric format a model trains in, and the parameters it trains (torch passed in)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def precision_of(torch: Any, module: Any, x: Any) -> str:
    """``fp32`` / ``tf32`` / ``bf16`` / ``fp16`` / ``fp8`` of a module's forward.

    The parameters' dtype (or autocast's, when on), and for fp32 on CUDA the matmul mode.
    """
    p = next(module.parameters(), None)
    device = p.device.type if p is not None else (x.device.type if x is not None else "cpu")
    dtype = p.dtype if p is not None else torch.float32
    try:
        if torch.is_autocast_enabled(device):
            dtype = torch.get_autocast_dtype(device)
    except Exception:
        pass
    if dtype == torch.bfloat16:
        return "bf16"
    if dtype == torch.float16:
        return "fp16"
    if "float8" in str(dtype):
        return "fp8"
    if device == "cuda" and (
        torch.get_float32_matmul_precision() != "highest"
        or getattr(torch.backends.cuda.matmul, "fp32_precision", "") == "tf32"
    ):
        return "tf32"
    return "fp32"


def count_params(modules: Iterable[Any]) -> tuple[int, int]:
    """(total, trainable) parameters of ``modules``, each shared parameter counted once."""
    seen: set[int] = set()
    total = trainable = 0
    for m in modules:
        for p in m.parameters():
            if id(p) in seen:
                continue
            seen.add(id(p))
            n = p.numel()
            total += n
            if p.requires_grad:
                trainable += n
    return total, trainable
