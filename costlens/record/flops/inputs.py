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


#: Batch keys that hold the tokens, by name (Hugging Face style), before any other ``*_ids``.
TOKEN_KEYS = ("input_ids", "inputs_embeds", "decoder_input_ids")
_MASK_KEY = "attention_mask"


def _named_inputs(args: tuple, kwargs: dict | None) -> dict | None:
    """The keyword arguments, or a dict passed as the only positional batch (``model(batch)``)."""
    if kwargs:
        return kwargs
    if len(args) == 1 and isinstance(args[0], dict):
        return args[0]
    return None


def token_tensor(named: dict, tensor_type: type) -> Any:
    """The tensor whose first two dims are (batch, sequence): ``input_ids``, ``inputs_embeds``,
    ``decoder_input_ids``, else the first other ``*_ids`` (``labels`` is never taken)."""
    for key in TOKEN_KEYS:
        v = named.get(key)
        if isinstance(v, tensor_type) and len(v.shape) >= 2:
            return v
    for key, v in named.items():
        ids = isinstance(key, str) and key.endswith("_ids")
        if ids and isinstance(v, tensor_type) and len(v.shape) >= 2:
            return v
    return None


def batch_counts(
    args: tuple, kwargs: dict | None, tensor_type: type, token_dtypes: tuple
) -> tuple[Any, int, int, Any]:
    """(first input tensor, samples, tokens processed, real tokens) of one outermost forward.

    Named batches (``model(**batch)`` or ``model(batch)``) are read by name, whatever their
    order: tokens from ``input_ids`` / ``inputs_embeds`` / ``*_ids`` (padding included: it is
    computed), real tokens from ``attention_mask`` (a 0-d tensor, summed without a host sync:
    whoever reads it converts it, off the training thread). Otherwise the first tensor input:
    dim 0 samples, tokens dim0 * dim1 for an integer input of dim >= 2 (all of them real).
    """
    x = first_input_tensor(args, kwargs, tensor_type)
    named = _named_inputs(args, kwargs)
    tok = token_tensor(named, tensor_type) if named else None
    if tok is not None:
        samples, tokens = int(tok.shape[0]), int(tok.shape[0]) * int(tok.shape[1])
        mask = named.get(_MASK_KEY)  # type: ignore[union-attr]
        if isinstance(mask, tensor_type) and tuple(mask.shape) == tuple(tok.shape[:2]):
            real: Any = mask.sum() if mask.device.type != "cpu" else int(mask.sum())
        else:
            real = tokens
        return x, samples, tokens, real
    if x is None:
        return None, 0, 0, 0
    shape = x.shape
    samples = int(shape[0]) if len(shape) else 1
    tokens = samples * int(shape[1]) if len(shape) >= 2 and x.dtype in token_dtypes else 0
    return x, samples, tokens, tokens
