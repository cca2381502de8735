"""The meter's global torch hooks: module forward pre/post hooks, the optimizer step post-hook,
and ``torch.autograd.backward`` / ``Tensor.backward`` wrapped (removed and restored on exit)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import costlens.record.flops.torch_internals as ti


class TorchHooks:
    """Installs and removes the global hooks of one meter."""

    def __init__(self) -> None:
        self.torch: Any = None
        self.handles: list[Any] = []
        self.module_handles: list[Any] = []
        self.orig_autograd_backward: Any = None
        self.orig_tensor_backward: Any = None
        self.autograd_wrapper: Any = None
        self.tensor_wrapper: Any = None

    def install(
        self,
        torch: Any,
        *,
        pre_hook: Callable[..., Any],
        post_hook: Callable[..., Any],
        optimizer_hook: Callable[..., Any],
        wrap: Callable[[Callable[..., Any]], Callable[..., Any]],
    ) -> None:
        from torch.nn.modules import module as nn_module
        from torch.optim import optimizer as optim_module

        self.torch = torch
        self.module_handles = [
            nn_module.register_module_forward_pre_hook(pre_hook),
            nn_module.register_module_forward_hook(post_hook, with_kwargs=True, always_call=True),
        ]
        self.handles = [optim_module.register_optimizer_step_post_hook(optimizer_hook)]
        self.orig_autograd_backward = torch.autograd.backward
        self.orig_tensor_backward = torch.Tensor.backward
        self.autograd_wrapper = wrap(self.orig_autograd_backward)
        self.tensor_wrapper = wrap(self.orig_tensor_backward)
        torch.autograd.backward = self.autograd_wrapper
        torch.Tensor.backward = self.tensor_wrapper

    def remove(self) -> None:
        self.remove_module_hooks()
        handles, self.handles = self.handles, []
        for h in handles:
            h.remove()
        self.restore_backward()

    def remove_module_hooks(self) -> None:
        """Remove the global module forward hooks only (``torch.compile`` is in use)."""
        handles, self.module_handles = self.module_handles, []
        for h in handles:
            h.remove()
            ti.forget_global_hook_flags(h)

    def restore_backward(self) -> None:
        """Put back ``torch.autograd.backward`` and ``Tensor.backward`` (where still ours)."""
        torch = self.torch
        if torch is None:
            return
        if self.autograd_wrapper is not None and torch.autograd.backward is self.autograd_wrapper:
            torch.autograd.backward = self.orig_autograd_backward
        if self.tensor_wrapper is not None and torch.Tensor.backward is self.tensor_wrapper:
            torch.Tensor.backward = self.orig_tensor_backward
        self.autograd_wrapper = self.tensor_wrapper = None


def wrap_backward(meter: Any, original: Callable[..., Any]) -> Callable[..., Any]:
    """``original`` (a backward), telling ``meter._after_backward(ok)`` when it returns.

    Only the training thread's backwards are followed; nothing the meter does raises into it.
    """

    def backward(*args: Any, **kwargs: Any) -> Any:
        if meter._off or meter._in_bwd or not meter._installed or meter._compiling():
            return original(*args, **kwargs)
        owner = False
        try:
            tid = threading.get_ident()
            if meter._owner is None:
                meter._owner = tid
            owner = tid == meter._owner
            if owner:
                meter._in_bwd = True
        except Exception as exc:
            meter._fail(exc)
        if not owner:
            return original(*args, **kwargs)
        ok = False
        try:
            result = original(*args, **kwargs)
            ok = True
            return result
        finally:
            meter._in_bwd = False
            if not meter._off:
                try:
                    meter._after_backward(ok)
                except Exception as exc:
                    meter._fail(exc)

    backward.__wrapped__ = original  # type: ignore[attr-defined]
    backward.__doc__ = original.__doc__
    backward.__name__ = getattr(original, "__name__", "backward")
    backward.__qualname__ = getattr(original, "__qualname__", "backward")
    return backward
