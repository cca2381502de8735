"""``torch.compile``'d modules and functions, counted without a dispatch mode over their calls.

A dispatch mode (FlopCounterMode) on the stack when dynamo meets a frame makes dynamo skip that
code for good, and global module hooks make ``OptimizedModule`` warn. So, from the first
``torch.compile`` call on (``torch.compile`` is wrapped: it returns what torch returns, with a
thin eager wrapper around the compiled callable), the meter changes how it counts:

- its global module hooks are removed (the optimizer step hook and the backward wrapper stay:
  steps are counted as before); dynamo then traces exactly what it traces without costlens;
- each call of a compiled object (``OptimizedModule.forward``, or the function torch.compile
  returned, ``nn.Module.compile()`` included) opens or joins a window as a module forward did;
- its FLOPs come from :func:`~costlens.record.flops.replay.replay_flops`: the original eager
callable
  replayed once per input signature on fake tensors, on the training thread, before the real
  call, within the meter's measurement budget; later windows reuse the ledger's figures.

Not counted in this mode: eager work outside compiled calls (an uncompiled model next to a
compiled loss, say). An ``OptimizedModule`` compiled before the meter was installed is adopted at
its first call (which torch warns about, the global hooks being there, and which is not counted;
dynamo compiles it once more when the hooks go); compiled functions from before it are not
followed.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import costlens.record.flops.torch_internals as ti
from costlens.record.flops.inputs import needs_grad, signature
from costlens.record.flops.replay import Replay, replay_flops


class CompiledCalls:
    """Wraps ``torch.compile`` for one meter and follows the calls of what it compiles."""

    def __init__(self, meter: Any, *, max_forwards: int) -> None:
        self.meter = meter
        self.max_forwards = max_forwards
        self.torch: Any = None
        self.original: Any = None
        self.ours: Any = None
        self.in_use = False
        self.depth = 0
        self.figures: dict[tuple, Replay | None] = {}  # fkey -> replay (None: it failed)
        self.adopted: list[Any] = []  # OptimizedModules compiled before the meter was installed
        self.hooks_to_remove = False

    def install(self, torch: Any) -> None:
        self.torch = torch
        self.original = original = torch.compile

        def compile(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            model = args[0] if args else kwargs.get("model")
            try:
                return self.watch(model, result)
            except Exception as exc:
                self.meter._fail(exc)
                return result

        functools.update_wrapper(compile, original)
        torch.compile = self.ours = compile

    def remove(self) -> None:
        """Put ``torch.compile`` back (wrapped objects stay; their wrappers then pass through)."""
        if self.torch is not None and self.ours is not None and self.torch.compile is self.ours:
            self.torch.compile = self.original
        self.ours = None
        self.figures.clear()
        self.adopted.clear()

    # ------------------------------------------------------------------ compile time

    def watch(self, model: Any, result: Any) -> Any:
        """What ``torch.compile(model)`` returns, its calls followed by the meter."""
        meter = self.meter
        if model is None or result is model or not callable(result):
            return result  # a decorator: it calls torch.compile (ours) again with the function
        if meter._off or not meter._installed:
            return result
        if not self.in_use:
            self.in_use = True
            meter._compile_in_use()
        if ti.is_optimized_module(result):
            orig = result._orig_mod
            result.forward = self.wrap(result.forward, result, orig)
            return result
        orig = ti.compiled_original(result) or model
        return self.wrap(result, result, orig)

    def adopt(self, module: Any) -> None:
        """An ``OptimizedModule`` compiled before the meter was installed, seen by its global
        pre-hook: its later calls are followed; the global hooks go at the next step (removing
        them now would change a hook dict torch is looping over)."""
        if any(module is m for m in self.adopted):
            return
        self.adopted.append(module)
        module.forward = self.wrap(module.forward, module, module._orig_mod)
        if not self.in_use:
            self.in_use = True
            self.hooks_to_remove = True

    def wrap(self, fn: Callable[..., Any], target: Any, original: Any) -> Callable[..., Any]:
        """``fn`` (compiled), telling the meter about each call from eager code."""
        meter = self.meter

        def call(*args: Any, **kwargs: Any) -> Any:
            if meter._off or not meter._installed or meter._compiling():
                return fn(*args, **kwargs)
            entered = self.enter(target, original, args, kwargs)
            if not entered:
                return fn(*args, **kwargs)
            out: Any = None
            ok = False
            try:
                out = fn(*args, **kwargs)
                ok = True
                return out
            finally:
                self.leave(out, ok)

        with_name = hasattr(fn, "__name__") and hasattr(fn, "__dict__")
        if with_name:
            functools.update_wrapper(call, fn)
        return call

    # ------------------------------------------------------------------ call time

    def enter(self, target: Any, original: Any, args: tuple, kwargs: dict) -> bool:
        """Before a compiled call (training thread): open or join the window, replay if due."""
        meter = self.meter
        try:
            tid = threading.get_ident()
            if tid != meter._owner:
                if meter._owner is not None:
                    return False
                meter._owner = tid
            if meter._in_bwd:
                return False
            if meter._deferred:
                meter._run_deferred()
            if meter._off:
                return False
            self.depth += 1
            if self.depth > 1:
                return True
            torch = self.torch
            fkey = (id(target), signature(args, kwargs, torch.Tensor), torch.is_grad_enabled())
            w = meter._win
            if w is None:
                module = target if isinstance(target, torch.nn.Module) else None
                w = meter._open(fkey, module, args, kwargs, measure=False)
                w.replayed = []
                w.replay_measure = meter._ledger.want_measure(fkey)
            elif w.replayed is None:
                w.replayed = []
            fig = self.figure(fkey, target, original, args, kwargs)
            w.keys.append(fkey)
            w.replayed.append(fig)
            if isinstance(target, torch.nn.Module):
                w.modules.append(target)
            elif fig is not None:
                w.modules.extend(fig.modules)
            return True
        except Exception as exc:
            meter._fail(exc)
            return False

    def figure(
        self, fkey: tuple, target: Any, original: Any, args: tuple, kwargs: dict
    ) -> Replay | None:
        """The replayed FLOPs of this call's signature: cached, replayed now, or None (budget)."""
        if fkey in self.figures:
            return self.figures[fkey]
        meter = self.meter
        if not meter._ledger.want_measure(fkey):
            return None
        meter._in_bwd = True  # the meter's own hooks stay quiet during the replay
        try:
            fig: Replay | None = replay_flops(
                self.torch, original, args, kwargs, backward=bool(fkey[2])
            )
        except Exception as exc:  # a model that reads values cannot run on fake tensors
            meter._log_replay_failure(exc)
            fig = None
        finally:
            meter._in_bwd = False
        self.figures[fkey] = fig
        return fig

    def leave(self, out: Any, ok: bool) -> None:
        """After a compiled call: close a forward-only window, as a module's post-hook does."""
        meter = self.meter
        try:
            if self.depth <= 0:
                self.depth = 0
                return
            self.depth -= 1
            if self.depth or meter._off:
                return
            w = meter._win
            if w is None:
                return
            if ok and not w.grad and needs_grad(out, self.torch.Tensor):
                w.grad = True
            if not w.grad or len(w.keys) >= self.max_forwards:
                meter._close(w, "fwd")
        except Exception as exc:
            meter._fail(exc)


def replayed_flops(replayed: list[Replay | None], kind: str) -> float | None:
    """A window's FLOPs from its compiled calls' replays (None when one is missing)."""
    total = 0.0
    for fig in replayed:
        if fig is None:
            return None
        total += fig.forward_flops + (fig.backward_flops if kind != "fwd" else 0.0)
    return total
