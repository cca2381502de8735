"""FLOPs a training really executes, counted on a few steps and extrapolated; analytic formulas.

`FlopMeter` installs global torch hooks (no change to the user's script) and counts with
``torch.utils.flop_counter.FlopCounterMode`` (forward, backward, attention, including the CPU flash
attention kernels the counter misses by default) on the first few windows of each input shape,
then extrapolates by count. torch is imported lazily: ``install()`` before ``import torch`` puts a
tiny import hook in ``sys.meta_path`` that installs the meter when torch has finished importing.

How the work is cut up (the *window* is the unit that is measured or extrapolated):
- A window opens at the first forward of an outermost module (global forward pre-hook; modules
  called inside other modules do not open one) in the training thread (the first thread that runs
  a forward; dispatch modes are per thread, so other threads' work is not counted).
- It closes at the end of a backward (``torch.autograd.backward`` / ``Tensor.backward`` wrapped),
  at an optimizer step (global step post-hook), or, for forward-only work (``no_grad`` /
  ``inference_mode`` evaluation, a frozen backbone), at the end of a forward whose output needs no
  gradient. Its key is the sequence of (module, input shapes, grad mode) of its outermost forwards
  and how it closed. A key's first windows are measured; later ones add the key's measured mean.
  A window whose key was never measured is estimated from the nearest measured input size of the
  same module (scaled by input numel) and corrected once that key is measured.
- Measurement is bounded: at most max(24, 5% of windows) windows are ever measured, so a loop
  whose shapes change every step (dynamic padding) costs at most about 2% extra.
- Not counted: the optimizer step's own FLOPs and anything between a backward and the next forward
  (FlopCounterMode counts no FLOPs for SGD or Adam anyway); work outside ``nn.Module`` calls that
  happens before a window opens (a loop without any module counts steps but no FLOPs).

Steps are optimizer steps (a step counted when at least one backward happened since the last one:
several optimizers stepping after one backward are one step; gradient accumulation is one step),
or, when no optimizer step has been seen, backward passes (hand-written SGD). Forward-only windows
are FLOPs but not steps. Samples and tokens come from the first tensor input of the first forward
of each training window (dim 0; tokens = dim0 * dim1 for int32/int64 inputs of dim >= 2); counts
given to ``declare()`` win.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("costlens")

#: A window that keeps running forwards that need gradients without a backward (evaluation that
#: forgot ``no_grad``) is closed as forward-only work after this many outermost forwards.
MAX_WINDOW_FORWARDS = 64
#: Windows that may always be measured; past it at most MEASURE_FRACTION of all windows are.
FREE_MEASURED_WINDOWS = 24
MEASURE_FRACTION = 0.05
_RECOMPUTE_PARAMS_EVERY = 64


@dataclass
class FlopStats:
    """What the meter knows so far. FLOPs are counts of floating-point operations (not per s)."""

    steps: int
    samples: int
    tokens: int
    flops: float  # total executed so far (forward + backward, optimizer-free), extrapolated
    flops_per_step: float | None  # median FLOPs of the latest training steps
    params_total: int | None
    params_trainable: int | None
    precision: str  # "fp32" | "tf32" | "bf16" | "fp16" | "fp8"
    measured_steps: int  # training windows actually measured with FlopCounterMode


# --------------------------------------------------------------------------- analytic (no torch)


def gpt_train_flops_per_token(n_params: float, n_layers: int, d_model: int, seq_len: int) -> float:
    """Training FLOPs per token of a decoder-only transformer: ``6N + 12*L*H*Q*T``.

    ``N`` is the number of parameters that take part in matrix multiplies (non-embedding
    parameters in Kaplan et al. 2020, "Scaling Laws for Neural Language Models", Sec. 2.1; with a
    tied output head the shared matrix counts once, as the head). ``H*Q = d_model`` (heads times
    head size), ``T = seq_len``, ``L = n_layers``. ``6N`` is forward (2N) plus backward (4N);
    ``12LHQT`` is the attention score and value matmuls, forward and backward (Chowdhery et al.
    2022, "PaLM", Appendix B, the model-FLOPs-utilisation definition; Hoffmann et al. 2022,
    "Chinchilla", Appendix F, count the same terms plus small ones). Full (non-causal) attention
    is counted, as PaLM does. Flash-style kernels recompute the scores in backward, so what a GPU
    really executes is about ``6N + 14LHQT``.
    """
    return 6.0 * n_params + 12.0 * n_layers * d_model * seq_len


def gpt_forward_flops_per_token(
    n_params: float, n_layers: int, d_model: int, seq_len: int
) -> float:
    """Forward-only (inference) FLOPs per token: ``2N + 4*L*H*Q*T``.

    One third of `gpt_train_flops_per_token` (PaLM, Appendix B). Kaplan et al. 2020 (Table 1)
    write ``2N + 2*n_layer*n_ctx*d_attn``: they count the attention logits matmul but not the
    product with the values, so their attention term is half of this one.
    """
    return 2.0 * n_params + 4.0 * n_layers * d_model * seq_len


# --------------------------------------------------------------------------- torch helpers


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

    aten = torch.ops.aten
    mapping: dict[Any, Callable[..., int]] = {}
    for name, fn in (
        ("_scaled_dot_product_flash_attention_for_cpu", _cpu_flash_fwd),
        ("_scaled_dot_product_flash_attention_for_cpu_backward", _cpu_flash_bwd),
    ):
        op = getattr(aten, name, None)
        if op is not None:
            mapping[op] = fn
    return mapping


def flop_counter(display: bool = False) -> Any:
    """A fresh ``FlopCounterMode`` that also counts CPU flash attention. Imports torch."""
    from torch.utils.flop_counter import FlopCounterMode

    return FlopCounterMode(display=display, custom_mapping=attention_flop_mapping())


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


# --------------------------------------------------------------------------- the meter


class _KeyStat:
    """Per window key: windows seen, measured, their FLOPs, and windows still estimated."""

    __slots__ = ("measured_flops", "n", "n_measured", "pending_flops", "pending_n")

    def __init__(self) -> None:
        self.n = 0
        self.n_measured = 0
        self.measured_flops = 0.0
        self.pending_n = 0
        self.pending_flops = 0.0


class _Window:
    __slots__ = ("counter", "fkey", "grad", "keys", "modules", "numel", "samples", "tokens")

    def __init__(self, fkey: tuple) -> None:
        self.fkey = fkey
        self.keys: list[tuple] = []
        self.modules: list[Any] = []
        self.counter: Any = None
        self.samples = 0
        self.tokens = 0
        self.numel = 0
        self.grad = False  # some forward in it produced an output that needs a gradient


class _TorchImportHook:
    """``sys.meta_path`` finder: calls ``callback`` once ``torch`` has finished importing."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._busy = False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "torch" or self._busy:
            return None
        import importlib.util

        self._busy = True
        try:
            spec = importlib.util.find_spec("torch")
        except Exception:
            return None
        finally:
            self._busy = False
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return None
        original = loader.exec_module
        callback = self._callback

        def exec_module(module: Any) -> None:
            try:
                original(module)
            finally:
                with contextlib.suppress(AttributeError):
                    del loader.exec_module
            callback()

        loader.exec_module = exec_module
        return spec


class FlopMeter:
    """Counts the FLOPs, steps, samples and tokens of the training in this process.

    ``install()`` at run start, ``snapshot()`` from any thread, ``declare()`` from ``run.step()``,
    ``uninstall()`` at the end. Never raises into the training: an internal error is logged once
    (logger ``costlens``) and the meter switches itself off, keeping what it counted.
    """

    def __init__(self, *, measure_steps: int = 3, enabled: bool = True) -> None:
        self.measure_steps = max(1, int(measure_steps))
        self.enabled = bool(enabled)
        self._lock = threading.Lock()
        self._installed = False
        self._off = False
        self._import_hook: _TorchImportHook | None = None
        self._handles: list[Any] = []
        self._orig_autograd_backward: Any = None
        self._orig_tensor_backward: Any = None
        self._autograd_wrapper: Any = None
        self._tensor_wrapper: Any = None
        self._torch: Any = None
        self._compiling: Callable[[], bool] = lambda: False
        self._grad_enabled: Callable[[], bool] = lambda: True
        self._token_dtypes: tuple = ()
        # training-thread state (only the owner thread touches it)
        self._owner: int | None = None
        self._depth = 0
        self._in_bwd = False
        self._win: _Window | None = None
        self._deferred: str | None = None  # "close" | "drop": work left by a forward that raised
        self._orphans: list[Any] = []  # our FlopCounterModes still under one of the script's
        self._stale: list[Any] = []  # the script's left FlopCounterModes that popped ours
        self._keys: dict[tuple, _KeyStat] = {}
        self._fam_measured: dict[tuple, int] = {}
        self._fam_request: set[tuple] = set()
        self._by_size: dict[tuple, list[tuple[int, tuple]]] = {}
        self._recent_eval_modules: list[Any] = []
        self._trained: dict[int, Any] = {}  # id -> module (strong refs: the run holds them anyway)
        self._train_windows_since_params = 0
        self._bwd_total = 0
        self._bwd_since_opt = 0
        self._windows = 0
        self._measured_windows = 0
        # shared with snapshot() (under the lock)
        self._flops = 0.0
        self._opt_steps = 0
        self._bwd_steps = 0
        self._samples = 0
        self._tokens = 0
        self._measured_train = 0
        self._params_total: int | None = None
        self._params_trainable: int | None = None
        self._precision = "fp32"
        self._precision_known = False
        self._decl_steps = 0
        self._decl_samples = 0
        self._decl_tokens = 0
        self._boundary_flops = 0.0
        self._step_flops: deque[float] = deque(maxlen=8)

    # ------------------------------------------------------------------ public API

    def install(self) -> None:
        """Hook into torch (now, or when it finishes importing). Idempotent; never raises."""
        if not self.enabled or self._installed or self._off:
            return
        try:
            torch = sys.modules.get("torch")
            if torch is not None and hasattr(torch, "optim") and hasattr(torch, "autograd"):
                self._install_torch()
            elif self._import_hook is None:
                self._import_hook = _TorchImportHook(self._on_torch_imported)
                sys.meta_path.insert(0, self._import_hook)
        except Exception as exc:  # never into the training
            self._fail(exc)

    def uninstall(self) -> None:
        """Remove every hook and restore ``Tensor.backward``; counted figures stay. Never raises."""
        try:
            self._remove_import_hook()
            if self._deferred:
                self._run_deferred()
            self._exit_counter(account=True)
            if (self._orphans or self._stale) and threading.get_ident() == self._owner:
                self._leave_orphans()
            self._orphans, self._stale = [], []
            self._remove_torch_hooks()
        except Exception as exc:
            self._log_once(exc)
        self._installed = False
        self._win = None
        self._depth = 0
        self._trained.clear()  # params are counted already; do not keep the models alive
        self._recent_eval_modules.clear()

    def declare(self, *, steps: int = 0, samples: int = 0, tokens: int = 0) -> None:
        """Add counts the script reported itself (``run.step()``); declared counts win."""
        with self._lock:
            self._decl_steps += int(steps)
            self._decl_samples += int(samples)
            self._decl_tokens += int(tokens)

    def snapshot(self) -> FlopStats:
        """The figures so far; cheap and safe from any thread."""
        with self._lock:
            steps = self._decl_steps or self._opt_steps or self._bwd_steps
            per_step = sorted(self._step_flops)
            return FlopStats(
                steps=steps,
                samples=self._decl_samples or self._samples,
                tokens=self._decl_tokens or self._tokens,
                flops=self._flops,
                flops_per_step=per_step[len(per_step) // 2] if per_step else None,
                params_total=self._params_total,
                params_trainable=self._params_trainable,
                precision=self._precision,
                measured_steps=self._measured_train,
            )

    # ------------------------------------------------------------------ installation

    def _on_torch_imported(self) -> None:
        try:
            self._remove_import_hook()
            if self.enabled and not self._off and not self._installed:
                self._install_torch()
        except Exception as exc:
            self._fail(exc)

    def _remove_import_hook(self) -> None:
        hook, self._import_hook = self._import_hook, None
        if hook is not None:
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(hook)

    def _install_torch(self) -> None:
        import torch
        from torch.nn.modules import module as nn_module
        from torch.optim import optimizer as optim_module

        self._torch = torch
        self._compiling = torch.compiler.is_compiling
        self._grad_enabled = torch.is_grad_enabled
        self._token_dtypes = (torch.int64, torch.int32)
        self._handles = [
            nn_module.register_module_forward_pre_hook(self._pre_hook),
            nn_module.register_module_forward_hook(
                self._post_hook, with_kwargs=True, always_call=True
            ),
            optim_module.register_optimizer_step_post_hook(self._optimizer_hook),
        ]
        self._orig_autograd_backward = torch.autograd.backward
        self._orig_tensor_backward = torch.Tensor.backward
        self._autograd_wrapper = self._wrap_backward(self._orig_autograd_backward)
        self._tensor_wrapper = self._wrap_backward(self._orig_tensor_backward)
        torch.autograd.backward = self._autograd_wrapper
        torch.Tensor.backward = self._tensor_wrapper
        self._installed = True

    def _remove_torch_hooks(self) -> None:
        handles, self._handles = self._handles, []
        for h in handles:
            h.remove()
        self._restore_backward()

    def _restore_backward(self) -> None:
        torch = self._torch
        if torch is None:
            return
        if self._autograd_wrapper is not None and torch.autograd.backward is self._autograd_wrapper:
            torch.autograd.backward = self._orig_autograd_backward
        if self._tensor_wrapper is not None and torch.Tensor.backward is self._tensor_wrapper:
            torch.Tensor.backward = self._orig_tensor_backward
        self._autograd_wrapper = self._tensor_wrapper = None

    # ------------------------------------------------------------------ failure handling

    def _log_once(self, exc: BaseException) -> None:
        if not getattr(self, "_logged", False):
            self._logged = True
            log.warning(
                "costlens: FLOP counting switched off after an internal error (%s: %s); "
                "the training goes on",
                type(exc).__name__,
                exc,
                exc_info=exc,
            )

    def _fail(self, exc: BaseException, *, exit_now: bool = True) -> None:
        """Switch off for good. Hooks stay registered as no-ops until ``uninstall()``: removing
        them here could mutate a hook dict torch is iterating (optimizer hooks, or module hooks
        while a forward raises), which would surface in the training."""
        self._off = True
        self._log_once(exc)
        try:
            self._remove_import_hook()
            self._restore_backward()
            if exit_now:
                self._drop_window()
            else:
                self._deferred = "drop"
        except Exception:
            pass

    def _drop_window(self) -> None:
        """Forget the open window, leaving its measurement if there is one (training thread)."""
        w, self._win = self._win, None
        self._deferred = None
        if w is not None and w.counter is not None and threading.get_ident() == self._owner:
            counter, w.counter = w.counter, None
            self._leave(counter)

    def _run_deferred(self) -> None:
        """Finish what a forward that raised could not do (its hooks run inside a dict loop)."""
        what, self._deferred = self._deferred, None
        if what == "close" and self._win is not None:
            self._close(self._win, "fwd")
        elif what == "drop":
            self._drop_window()

    # ------------------------------------------------------------------ hooks (training thread)

    def _pre_hook(self, module: Any, args: tuple) -> None:
        if self._compiling():
            return
        try:
            tid = threading.get_ident()
            if tid != self._owner:
                if self._owner is not None:
                    return
                self._owner = tid
            if self._in_bwd:
                return
            if self._deferred:
                self._run_deferred()
            if self._off:
                return
            depth = self._depth
            self._depth = depth + 1
            if depth:
                return
            if self._orphans or self._stale:
                self._leave_orphans()
            kwargs = None
            if not args or not _has_tensor(args, self._torch.Tensor):
                kwargs = _caller_kwargs()
            sig = _signature(args, kwargs, self._torch.Tensor)
            fkey = (id(module), sig, self._grad_enabled())
            w = self._win
            if w is None:
                w = self._open(fkey, module, args, kwargs)
            w.keys.append(fkey)
            w.modules.append(module)
        except Exception as exc:
            self._fail(exc)

    def _post_hook(self, module: Any, args: tuple, *rest: Any) -> None:
        if self._off or self._compiling():
            return
        try:
            if threading.get_ident() != self._owner or self._in_bwd:
                return
            if self._depth <= 0:
                self._depth = 0
                return
            self._depth -= 1
            if self._depth:
                return
            w = self._win
            if w is None:
                return
            if len(rest) != 2:
                # the forward raised: torch is looping over the global hook dict itself, and
                # leaving FlopCounterMode would remove its module hooks from that dict
                if not w.grad:
                    self._deferred = "close"
                return
            if not w.grad and _needs_grad(rest[1], self._torch.Tensor):
                w.grad = True
            if not w.grad or len(w.keys) >= MAX_WINDOW_FORWARDS:
                self._close(w, "fwd")
        except Exception as exc:
            self._fail(exc, exit_now=False)

    def _optimizer_hook(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self._off:
            return
        try:
            tid = threading.get_ident()
            if self._owner is None:
                self._owner = tid
            elif tid != self._owner:
                return
            if self._deferred:
                self._run_deferred()
            if self._win is not None:
                self._close(self._win, "opt")
            if self._bwd_since_opt > 0 or self._bwd_total == 0:
                with self._lock:
                    if self._opt_steps == 0:
                        self._step_flops.clear()
                        self._boundary_flops = 0.0
                    self._opt_steps += 1
                    self._step_boundary()
            self._bwd_since_opt = 0
        except Exception as exc:
            self._fail(exc)

    def _wrap_backward(self, original: Callable[..., Any]) -> Callable[..., Any]:
        meter = self

        def backward(*args: Any, **kwargs: Any) -> Any:
            if meter._off or meter._in_bwd or not meter._installed:
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

    def _after_backward(self, ok: bool) -> None:
        if self._deferred:
            self._run_deferred()
        w = self._win
        if w is not None:
            self._close(w, "bwd")
        if self._orphans or self._stale:
            self._leave_orphans()
        if not ok:
            return
        self._bwd_total += 1
        self._bwd_since_opt += 1
        with self._lock:
            self._bwd_steps += 1
            if self._opt_steps == 0:
                self._step_boundary()

    # ------------------------------------------------------------------ windows

    def _open(self, fkey: tuple, module: Any, args: tuple, kwargs: dict | None) -> _Window:
        w = _Window(fkey)
        x = _first_input_tensor(args, kwargs, self._torch.Tensor)
        if x is not None:
            shape = x.shape
            w.samples = int(shape[0]) if len(shape) else 1
            w.numel = x.numel()
            if len(shape) >= 2 and x.dtype in self._token_dtypes:
                w.tokens = int(shape[0]) * int(shape[1])
        self._win = w
        self._windows += 1
        if self._want_measure(fkey):
            if fkey[2] or not self._precision_known:
                self._detect_precision(module, x)
            from torch.utils._python_dispatch import _get_current_dispatch_mode

            counter = flop_counter()
            counter._costlens_below = _get_current_dispatch_mode()
            counter.__enter__()
            w.counter = counter
            # tell the module tracker about the module whose forward is starting now
            with contextlib.suppress(Exception):
                counter.mod_tracker._fw_pre_hook(module, args)
        return w

    def _want_measure(self, fkey: tuple) -> bool:
        budget = max(FREE_MEASURED_WINDOWS, MEASURE_FRACTION * self._windows)
        if self._measured_windows >= budget:
            return False
        return self._fam_measured.get(fkey, 0) < self.measure_steps or fkey in self._fam_request

    def _leave(self, counter: Any) -> bool:
        """Leave a FlopCounterMode; True if what it counted is the whole window.

        The script may use dispatch modes of its own (its own FlopCounterMode around a forward,
        say). Dispatch modes are a stack and leaving one pops the top. So ours is left only when
        it is on top; under a mode of the script's, it is left later, once on top again. If the
        script's mode, left while ours was above it, popped ours instead of itself, the count is
        partial (thrown away) and the script's mode is popped for it as soon as it is on top.
        """
        from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

        stack = _get_current_dispatch_mode_stack()
        mode = counter.mode
        if stack and stack[-1] is mode:
            counter.__exit__(None, None, None)
            return True
        if mode is not None and any(m is mode for m in stack):
            self._orphans.append(counter)
            return False
        counter.mode = None
        counter.mod_tracker.__exit__()
        below = getattr(counter, "_costlens_below", None)
        if below is not None and _left_already(below) and any(m is below for m in stack):
            self._stale.append(below)
            self._leave_orphans()
        return False

    def _leave_orphans(self) -> None:
        """Pop our modes and the script's already-left ones that have come back on top."""
        from torch.utils._python_dispatch import _get_current_dispatch_mode_stack, _pop_mode

        stack = _get_current_dispatch_mode_stack()
        while stack:
            top = stack[-1]
            if self._orphans and top is self._orphans[-1].mode:
                self._orphans.pop().__exit__(None, None, None)
            elif any(top is m for m in self._stale):
                # it restored the mode flags when it was left; only the stack entry remains
                self._stale = [m for m in self._stale if m is not top]
                _pop_mode(top.__dict__.get("_dispatch_key") or top.__dict__.get("_mode_key"))
            else:
                return
            stack.pop()

    def _exit_counter(self, *, account: bool) -> None:
        """Leave an active measurement (at uninstall), counting what it saw as one window."""
        w = self._win
        if w is None or w.counter is None:
            return
        if threading.get_ident() != self._owner:
            return  # dispatch modes are per thread: the training thread leaves it at its next hook
        if account:
            self._close(w, "fwd")
        else:
            counter, w.counter = w.counter, None
            self._leave(counter)

    def _close(self, w: _Window, kind: str) -> None:
        self._win = None
        measured: float | None = None
        if w.counter is not None:
            counter, w.counter = w.counter, None
            if self._leave(counter):
                measured = float(counter.get_total_flops())
                self._check_fp8(counter)
        key = (tuple(w.keys), kind)
        training = kind != "fwd"
        size_key = (w.keys[0][0] if w.keys else 0, kind, len(w.keys))
        with self._lock:
            st = self._keys.get(key)
            if st is None:
                st = self._keys[key] = _KeyStat()
            st.n += 1
            if measured is not None:
                st.n_measured += 1
                st.measured_flops += measured
                self._flops += measured
                self._measured_windows += 1
                if training:
                    self._measured_train += 1
                mean = st.measured_flops / st.n_measured
                if st.pending_n:  # windows estimated before this key was measured
                    self._flops += st.pending_n * mean - st.pending_flops
                    st.pending_n, st.pending_flops = 0, 0.0
                if st.n_measured == 1:
                    self._by_size.setdefault(size_key, []).append((w.numel, key))
                self._fam_measured[w.fkey] = self._fam_measured.get(w.fkey, 0) + 1
                self._fam_request.discard(w.fkey)
            elif st.n_measured:
                self._flops += st.measured_flops / st.n_measured
            else:
                estimate = self._estimate(size_key, w.numel)
                st.pending_n += 1
                st.pending_flops += estimate
                self._flops += estimate
                self._fam_request.add(w.fkey)
            if training:
                self._samples += w.samples
                self._tokens += w.tokens
        if training:
            self._note_trained_modules(w.modules)
        else:
            recent = self._recent_eval_modules
            for m in w.modules:
                if len(recent) < 8 and not any(m is r for r in recent):
                    recent.append(m)

    def _estimate(self, size_key: tuple, numel: int) -> float:
        """FLOPs of an unmeasured window: the nearest measured input size, scaled by numel."""
        best: tuple[int, tuple] | None = None
        for cand in self._by_size.get(size_key, ()):
            if best is None or abs(cand[0] - numel) < abs(best[0] - numel):
                best = cand
        if best is None:
            return 0.0
        st = self._keys[best[1]]
        mean = st.measured_flops / st.n_measured
        return mean * numel / best[0] if best[0] and numel else mean

    def _step_boundary(self) -> None:
        """Called under the lock at each step: remembers the step's FLOPs."""
        self._step_flops.append(self._flops - self._boundary_flops)
        self._boundary_flops = self._flops

    # ------------------------------------------------------------------ params and precision

    def _note_trained_modules(self, modules: list[Any]) -> None:
        new = False
        for m in (*modules, *self._recent_eval_modules):
            if id(m) not in self._trained:
                self._trained[id(m)] = m
                new = True
        self._recent_eval_modules.clear()
        self._train_windows_since_params += 1
        if new or self._train_windows_since_params >= _RECOMPUTE_PARAMS_EVERY:
            self._train_windows_since_params = 0
            seen: set[int] = set()
            total = trainable = 0
            for m in self._trained.values():
                for p in m.parameters():
                    if id(p) in seen:
                        continue
                    seen.add(id(p))
                    n = p.numel()
                    total += n
                    if p.requires_grad:
                        trainable += n
            with self._lock:
                self._params_total, self._params_trainable = total, trainable

    def _detect_precision(self, module: Any, x: Any) -> None:
        torch = self._torch
        p = next(module.parameters(), None)
        device = p.device.type if p is not None else (x.device.type if x is not None else "cpu")
        dtype = p.dtype if p is not None else torch.float32
        try:
            if torch.is_autocast_enabled(device):
                dtype = torch.get_autocast_dtype(device)
        except Exception:
            pass
        if dtype == torch.bfloat16:
            precision = "bf16"
        elif dtype == torch.float16:
            precision = "fp16"
        elif "float8" in str(dtype):
            precision = "fp8"
        elif device == "cuda" and (
            torch.get_float32_matmul_precision() != "highest"
            or getattr(torch.backends.cuda.matmul, "fp32_precision", "") == "tf32"
        ):
            precision = "tf32"
        else:
            precision = "fp32"
        with self._lock:
            if self._precision != "fp8":  # fp8 seen in a measured window (_scaled_mm) stays
                self._precision = precision
            self._precision_known = True

    def _check_fp8(self, counter: Any) -> None:
        scaled_mm = getattr(self._torch.ops.aten, "_scaled_mm", None)
        if scaled_mm is not None and counter.flop_counts.get("Global", {}).get(scaled_mm):
            with self._lock:
                self._precision = "fp8"


# --------------------------------------------------------------------------- input inspection


def _left_already(mode: Any) -> bool:
    """True for a FlopCounterMode's dispatch mode whose ``with`` block has been left."""
    owner = getattr(mode, "counter", None)
    return owner is not None and getattr(owner, "mode", mode) is not mode


def _caller_kwargs() -> dict | None:
    """Keyword arguments of the module call being hooked (global pre-hooks only get ``args``).

    The hook is called from ``inner()`` inside ``nn.Module._call_impl``, where ``kwargs`` is a
    local; anything else (another torch version) gives None.
    """
    try:
        frame = sys._getframe(2)
        if frame.f_code.co_name != "inner":
            return None
        kwargs = frame.f_locals.get("kwargs")
        return kwargs if isinstance(kwargs, dict) else None
    except Exception:
        return None


def _has_tensor(args: tuple, tensor_type: type) -> bool:
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


def _signature(args: tuple, kwargs: dict | None, tensor_type: type) -> tuple:
    """Cheap shape signature of a module call's inputs (shapes, dtypes, small scalars)."""
    sig = tuple(_sig_item(a, tensor_type) for a in args)
    if kwargs:
        sig += tuple((k, _sig_item(v, tensor_type)) for k, v in kwargs.items())
    return sig


def _first_input_tensor(args: tuple, kwargs: dict | None, tensor_type: type) -> Any:
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


def _needs_grad(output: Any, tensor_type: type) -> bool:
    if isinstance(output, tensor_type):
        return output.requires_grad
    if isinstance(output, dict):
        values: Any = output.values()
    elif isinstance(output, (tuple, list)):
        values = output
    else:
        return False
    return any(isinstance(v, tensor_type) and v.requires_grad for v in values)
