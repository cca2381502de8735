"""Every private torch API the FLOP meter touches, in one file: re-check it on each torch upgrade.

Checked against torch 2.13. What each function relies on:
- ``torch.utils._python_dispatch``: the per-thread stack of dispatch modes
  (``_get_current_dispatch_mode``, ``_get_current_dispatch_mode_stack``, ``_pop_mode``), and a
  mode's ``_dispatch_key`` / ``_mode_key`` attribute that ``_pop_mode`` takes.
- ``FlopCounterMode`` internals: ``.mode`` (its dispatch mode while entered, None once left),
  ``.mod_tracker`` (its module tracker, with ``_fw_pre_hook`` and ``__exit__``), the dispatch
  mode's ``.counter`` back-reference, and ``.flop_counts["Global"]`` (FLOPs per ATen op).
- ``nn.Module._call_impl``: the global forward pre-hooks run in its local function ``inner()``,
  where the call's keyword arguments are the local ``kwargs``.
- Private ATen ops: the CPU flash attention kernels and ``_scaled_mm`` (fp8 matmuls).
- ``nn.modules.module._global_forward_hooks_with_kwargs``: removing the handle of a global
  forward hook registered ``with_kwargs=True`` leaves its id there, and ``OptimizedModule`` then
  warns about global hooks for good; :func:`forget_global_hook_flags` drops it.
- ``torch.compile``'d objects: an ``OptimizedModule`` has ``_orig_mod`` and an instance attribute
  ``forward`` (dynamo's wrapper, which ``__getstate__`` drops); a compiled function has
  ``_torchdynamo_orig_callable``. Replays use ``torch._subclasses.fake_tensor.FakeTensorMode``
  (``from_tensor``), ``torch.nn.utils.stateless._reparametrize_module`` and the public
  ``torch.compiler.set_stance("force_eager")`` (so no dynamo frame is touched while replaying).
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

#: CPU flash attention kernels FlopCounterMode counts as 0 FLOPs (forward, backward).
CPU_FLASH_ATTENTION_FWD = "_scaled_dot_product_flash_attention_for_cpu"
CPU_FLASH_ATTENTION_BWD = "_scaled_dot_product_flash_attention_for_cpu_backward"
#: The fp8 matmul: seen in a measured window, the run's precision is fp8.
SCALED_MM = "_scaled_mm"


def aten_op(torch: Any, name: str) -> Any:
    """``torch.ops.aten.<name>``, or None where this torch has no such op."""
    return getattr(torch.ops.aten, name, None)


def current_dispatch_mode() -> Any:
    """The innermost dispatch mode of this thread (None when there is none)."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode

    return _get_current_dispatch_mode()


def dispatch_mode_stack() -> list[Any]:
    """A copy of this thread's dispatch mode stack, innermost last."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

    return _get_current_dispatch_mode_stack()


def pop_dispatch_mode(mode: Any) -> None:
    """Pop ``mode``'s entry off the top of the stack (its flags were restored already)."""
    from torch.utils._python_dispatch import _pop_mode

    _pop_mode(mode.__dict__.get("_dispatch_key") or mode.__dict__.get("_mode_key"))


def counter_mode(counter: Any) -> Any:
    """The dispatch mode of an entered FlopCounterMode (None once it was left)."""
    return counter.mode


def detach_counter(counter: Any) -> None:
    """Leave a FlopCounterMode whose dispatch mode someone else popped: only its module tracker."""
    counter.mode = None
    counter.mod_tracker.__exit__()


def announce_module(counter: Any, module: Any, args: tuple) -> None:
    """Tell a just-entered counter's module tracker about the module whose forward is starting."""
    with contextlib.suppress(Exception):
        counter.mod_tracker._fw_pre_hook(module, args)


def mode_left_already(mode: Any) -> bool:
    """True for a FlopCounterMode's dispatch mode whose ``with`` block has been left."""
    owner = getattr(mode, "counter", None)
    return owner is not None and getattr(owner, "mode", mode) is not mode


def counted_op(counter: Any, op: Any) -> Any:
    """FLOPs a counter saw for one ATen op (falsy when none)."""
    return counter.flop_counts.get("Global", {}).get(op)


def caller_kwargs() -> dict | None:
    """Keyword arguments of the module call being hooked (global pre-hooks only get ``args``).

    Call it from the hook itself: two frames up is ``inner()`` inside ``nn.Module._call_impl``,
    where ``kwargs`` is a local; anything else (another torch version) gives None.
    """
    try:
        frame = sys._getframe(2)
        if frame.f_code.co_name != "inner":
            return None
        kwargs = frame.f_locals.get("kwargs")
        return kwargs if isinstance(kwargs, dict) else None
    except Exception:
        return None


def is_optimized_module(obj: Any) -> bool:
    """True for what ``torch.compile(module)`` returns (an ``OptimizedModule``)."""
    return type(obj).__name__ == "OptimizedModule" and "_orig_mod" in getattr(obj, "_modules", {})


def compiled_original(compiled: Any) -> Any:
    """The eager callable behind a ``torch.compile``'d function (None when there is none)."""
    return getattr(compiled, "_torchdynamo_orig_callable", None)


def fake_mode() -> Any:
    """A fresh FakeTensorMode that accepts real tensors it was not given explicitly."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    return FakeTensorMode(allow_non_fake_inputs=True)


def reparametrize(module: Any, state: dict[str, Any]) -> Any:
    """Context manager: ``module`` uses the tensors of ``state`` (names as in its state_dict)."""
    from torch.nn.utils.stateless import _reparametrize_module

    return _reparametrize_module(module, state, tie_weights=True)


def eager_stance(torch: Any) -> Any:
    """Context manager: compiled code runs eagerly, without dynamo looking at any frame."""
    return torch.compiler.set_stance("force_eager")


def forget_global_hook_flags(handle: Any) -> None:
    """Drop what a removed global forward hook's handle leaves behind (its ``with_kwargs`` flag)."""
    from torch.nn.modules import module as nn_module

    flags = getattr(nn_module, "_global_forward_hooks_with_kwargs", None)
    if isinstance(flags, dict):
        flags.pop(getattr(handle, "id", None), None)
