"""What the meter reads from a module call: a cheap shape signature, the first input tensor, and
whether the output needs a gradient. ``tensor_type`` is ``torch.Tensor`` (passed in: no import)."""

from __future__ import annotations

from typing import Any


def has_tensor(args: tuple, tensor_type: type) -> bool:
    return any(isinstance(a, tensor_type) for a in args)


def _sig_item(v: Any, tensor_type: type, depth: int = 0) -> Any:
    if isinstance(v, tensor_type):
        return (v.shape, v.dtype)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if depth == 0 and isinstance(v, (tuple, list)):
        return tuple(_sig_item(x, tensor_type, 1) for x in v[:16])
    if depth == 0 and isinstance(v, dict):
        return tuple((k, _sig_item(x, tensor_type, 1)) for k, x in list(v.items())[:16])
    return type(v).__name__


def signature(args: tuple, kwargs: dict | None, tensor_type: type) -> tuple:
    """Cheap shape signature of a module call's inputs (shapes, dtypes, small scalars)."""
    sig = tuple(_sig_item(a, tensor_type) for a in args)
    if kwargs:
        sig += tuple((k, _sig_item(v, tensor_type)) for k, v in kwargs.items())
    return sig


def first_input_tensor(args: tuple, kwargs: dict | None, tensor_type: type) -> Any:
    for v in (*args, *(kwargs.values() if kwargs else ())):
        if isinstance(v, tensor_type):
            return v
        if isinstance(v, (tuple, list)):
            for x in v:
                if isinstance(x, tensor_type):
                    return x
        elif isinstance(v, dict):
            for x in v.values():
                if isinstance(x, tensor_type):
                    return x
    return None


def needs_grad(output: Any, tensor_type: type) -> bool:
    if isinstance(output, tensor_type):
        return output.requires_grad
    if isinstance(output, dict):
        values: Any = output.values()
    elif isinstance(output, (tuple, list)):
        values = output
    else:
        return False
    return any(isinstance(v, tensor_type) and v.requires_grad for v in values)
