"""FLOPs of a ``torch.compile``'d call, counted on an eager replay with fake tensors.

The replay runs the compiled object's original (eager) callable on fake tensors (shapes and dtypes
only: no compute, no memory) under FlopCounterMode, with dynamo's stance at ``force_eager`` so that
no frame is compiled or marked skipped while a dispatch mode is on. The modules it uses run on fake
copies of their parameters and buffers (``reparametrize``): nothing real is read, written or
given a gradient (BatchNorm statistics, ``.grad`` and the RNG state stay as they were). The
backward is ``autograd.grad`` of the outputs that need a gradient, with respect to the fake
parameters and inputs that require one: the same matmuls the real backward runs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import costlens.record.flops.torch_internals as ti
from costlens.record.flops.attention import flop_counter


@dataclass
class Replay:
    """FLOPs of one compiled call (forward, and the backward of its outputs that need one)."""

    forward_flops: float
    backward_flops: float
    modules: list[Any] = field(default_factory=list)  # the modules whose parameters it used


def modules_of(torch: Any, original: Any, args: tuple, kwargs: dict) -> list[Any]:
    """The modules a compiled callable uses that can be found without running it: itself (or
    the module of a bound method), modules among its arguments, its closure and its globals."""
    module_type = torch.nn.Module
    found: list[Any] = []
    candidates: list[Any] = [original, getattr(original, "__self__", None), *args, *kwargs.values()]
    func = getattr(original, "__func__", original)
    for cell in getattr(func, "__closure__", None) or ():
        with contextlib.suppress(ValueError):
            candidates.append(cell.cell_contents)
    code, globs = getattr(func, "__code__", None), getattr(func, "__globals__", None)
    if code is not None and isinstance(globs, dict):
        candidates.extend(globs.get(name) for name in code.co_names)
    for c in candidates:
        if isinstance(c, module_type) and not any(c is m for m in found):
            found.append(c)
    return found


def _fake_state(mode: Any, module: Any, memo: dict[int, Any]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    named = (
        *module.named_parameters(remove_duplicate=False),
        *module.named_buffers(remove_duplicate=False),
    )
    for name, t in named:
        fake = memo.get(id(t))
        if fake is None:
            fake = memo[id(t)] = mode.from_tensor(t)
        state[name] = fake
    return state


def _fake_args(mode: Any, tensor_type: type, value: Any, memo: dict[int, Any], depth: int = 0):
    if isinstance(value, tensor_type):
        fake = memo.get(id(value))
        if fake is None:
            fake = memo[id(value)] = mode.from_tensor(value)
        return fake
    if depth < 2 and isinstance(value, (tuple, list)):
        items = [_fake_args(mode, tensor_type, v, memo, depth + 1) for v in value]
        if hasattr(value, "_make"):  # a namedtuple
            return value._make(items)
        return items if isinstance(value, list) else tuple(items)
    if depth < 2 and isinstance(value, dict):
        return {k: _fake_args(mode, tensor_type, v, memo, depth + 1) for k, v in value.items()}
    return value


def _grad_outputs(tensor_type: type, out: Any, depth: int = 0) -> list[Any]:
    if isinstance(out, tensor_type):
        return [out] if out.requires_grad else []
    values: Any = ()
    if isinstance(out, dict):
        values = out.values()
    elif isinstance(out, (tuple, list)):
        values = out
    if depth >= 2:
        return []
    return [t for v in values for t in _grad_outputs(tensor_type, v, depth + 1)]


def replay_flops(torch: Any, original: Any, args: tuple, kwargs: dict, *, backward: bool) -> Replay:
    """Count one call of ``original(*args, **kwargs)`` (and its backward) on fake tensors.

    Runs on the calling thread, outside the real call. Raises what the replay raises (a module
    that reads tensor values, ``.item()`` say, cannot run on fake tensors).
    """
    modules = modules_of(torch, original, args, kwargs)
    mode = ti.fake_mode()
    memo: dict[int, Any] = {}
    with ti.eager_stance(torch), mode, contextlib.ExitStack() as stack:
        for m in modules:
            stack.enter_context(ti.reparametrize(m, _fake_state(mode, m, memo)))
        fargs = _fake_args(mode, torch.Tensor, args, memo)
        fkwargs = _fake_args(mode, torch.Tensor, kwargs, memo)
        with flop_counter() as fwd:
            out = original(*fargs, **fkwargs)
        bwd_flops = 0.0
        outs = _grad_outputs(torch.Tensor, out) if backward else []
        leaves = [t for t in memo.values() if t.requires_grad and t.is_leaf]
        if outs and leaves:
            with flop_counter() as bwd:
                torch.autograd.grad(
                    outs, leaves, [torch.ones_like(o) for o in outs], allow_unused=True
                )
            bwd_flops = float(bwd.get_total_flops())
    return Replay(float(fwd.get_total_flops()), bwd_flops, modules)
