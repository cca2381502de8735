"""FLOPs of one training step of a model, counted once (on the meta device by default)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from costlens.record.flops.attention import flop_counter


def count_train_step_flops(
    model_fn: Callable[[], Any],
    example_inputs: Any,
    *,
    loss_fn: Callable[[Any], Any] | None = None,
    device: str = "meta",
) -> dict[str, float]:
    """FLOPs of one training step (forward + backward) of ``model_fn()`` on ``example_inputs``.

    The model is built under ``torch.device(device)`` (default ``"meta"``: no memory, no compute,
    so a multi-billion-parameter model counts in seconds); inputs must be tensors on that device
    (or a tuple/dict of them). ``loss_fn(output)`` gives a scalar (default: the first output
    tensor's sum). Returns ``{"forward_flops", "backward_flops", "train_step_flops"}``.
    """
    import torch

    with torch.device(device):
        model = model_fn()
    args, kwargs = _as_call(example_inputs)
    with flop_counter() as fwd:
        out = model(*args, **kwargs)
        loss = loss_fn(out) if loss_fn is not None else _first_tensor(out).float().sum()
    with flop_counter() as bwd:
        loss.backward()
    f, b = float(fwd.get_total_flops()), float(bwd.get_total_flops())
    return {"forward_flops": f, "backward_flops": b, "train_step_flops": f + b}


def _as_call(inputs: Any) -> tuple[tuple, dict]:
    if isinstance(inputs, dict):
        return (), dict(inputs)
    if isinstance(inputs, (tuple, list)):
        return tuple(inputs), {}
    return (inputs,), {}


def _first_tensor(obj: Any) -> Any:
    import torch

    if isinstance(obj, torch.Tensor):
        return obj
    values = (
        obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else ()
    )
    for v in values:
        t = _first_tensor(v)
        if t is not None:
            return t
    return None
