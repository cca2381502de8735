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
