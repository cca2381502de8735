"""`FlopMeter`: the hooks that open and close windows and hand them to the ledger.

See :mod:`costlens.record.flops` for how the work is cut into windows. This module runs in the
training thread's hooks; the counting itself is :class:`~costlens.record.flops.ledger.Ledger`, the
dispatch-mode bookkeeping :class:`~costlens.record.flops.dispatch.Measurements`, the torch hooks
:class:`~costlens.record.flops.hooks.TorchHooks`, and every private torch API sits in
:mod:`costlens.record.flops.torch_internals`.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Callable
from typing import Any

import costlens.record.flops.torch_internals as ti
from costlens.record.flops.compiled import CompiledCalls, replayed_flops
from costlens.record.flops.dispatch import Measurements
from costlens.record.flops.hooks import TorchHooks, wrap_backward
from costlens.record.flops.import_hook import TorchImportHook
from costlens.record.flops.inputs import batch_counts, has_tensor, needs_grad, signature
from costlens.record.flops.ledger import FlopStats, Ledger, Window
from costlens.record.flops.model_facts import LoadWatch, infer_model
from costlens.record.flops.precision import count_params, precision_of

log = logging.getLogger("costlens")

#: A window that keeps running forwards that need gradients without a backward (evaluation that
#: forgot ``no_grad``) is closed as forward-only work after this many outermost forwards.
MAX_WINDOW_FORWARDS = 64
_RECOMPUTE_PARAMS_EVERY = 64


class FlopMeter:
    """Counts the FLOPs, steps, samples and tokens of the training in this process.

    ``install()`` at run start, ``snapshot()`` from any thread, ``declare()`` from ``run.step()``,
    ``uninstall()`` at the end. Never raises into the training: an internal error is logged once
    (logger ``costlens``) and the meter switches itself off, keeping what it counted.
    """

    def __init__(self, *, measure_steps: int = 3, enabled: bool = True) -> None:
        self.measure_steps = max(1, int(measure_steps))
        self.enabled = bool(enabled)
        self._ledger = Ledger(self.measure_steps)
        self._hooks = TorchHooks()
        self._loads = LoadWatch()
        self._measurements = Measurements()
        self._compiled = CompiledCalls(self, max_forwards=MAX_WINDOW_FORWARDS)
        self._installed = False
        self._off = False
        self._import_hook: TorchImportHook | None = None
        self._torch: Any = None
        self._compiling: Callable[[], bool] = lambda: False
        self._grad_enabled: Callable[[], bool] = lambda: True
        self._token_dtypes: tuple = ()
        # training-thread state (only the owner thread touches it)
        self._owner: int | None = None
        self._depth = 0
        self._in_bwd = False
        self._win: Window | None = None
        self._deferred: str | None = None  # "close" | "drop": work left by a forward that raised
        self._recent_eval_modules: list[Any] = []
        self._trained: dict[int, Any] = {}  # id -> module (strong refs: the run holds them anyway)
        self._train_windows_since_params = 0
        self._bwd_total = 0
        self._bwd_since_opt = 0

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
                self._import_hook = TorchImportHook(self._on_torch_imported)
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
            if self._measurements.pending and threading.get_ident() == self._owner:
                self._measurements.leave_orphans()
            self._measurements.forget()
            self._hooks.remove()
            self._loads.remove()
            self._compiled.remove()
        except Exception as exc:
            self._log_once(exc)
        self._installed = False
        self._win = None
        self._depth = 0
        self._trained.clear()  # params are counted already; do not keep the models alive
        self._recent_eval_modules.clear()

    def declare(self, *, steps: int = 0, samples: int = 0, tokens: int = 0) -> None:
        """Add counts the script reported itself (``run.step()``); declared counts win."""
        self._ledger.declare(steps=steps, samples=samples, tokens=tokens)

    def snapshot(self) -> FlopStats:
        """The figures so far; cheap and safe from any thread."""
        return self._ledger.snapshot()

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

        self._torch = torch
        self._compiling = torch.compiler.is_compiling
        self._grad_enabled = torch.is_grad_enabled
        self._token_dtypes = (torch.int64, torch.int32)
        self._hooks.install(
            torch,
            pre_hook=self._pre_hook,
            post_hook=self._post_hook,
            optimizer_hook=self._optimizer_hook,
            wrap=lambda original: wrap_backward(self, original),
        )
        self._loads.install(torch.nn.Module)
        self._compiled.install(torch)
        if self._compiled.in_use:  # installed again after torch.compile was used
            self._hooks.remove_module_hooks()
        self._installed = True

    def _compile_in_use(self) -> None:
        """``torch.compile`` was called: no global module hooks from now on (see flops.compiled)."""
        self._hooks.remove_module_hooks()
        self._drop_window()
        self._depth = 0

    # ------------------------------------------------------------------ failure handling

    def _log_replay_failure(self, exc: BaseException) -> None:
        if not getattr(self, "_replay_logged", False):
            self._replay_logged = True
            log.warning(
                "costlens: FLOPs of a torch.compile'd call could not be counted on fake "
                "tensors (%s: %s); its windows are estimated",
                type(exc).__name__,
                exc,
            )

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
            self._hooks.restore_backward()
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
            self._measurements.leave(counter)

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
            if ti.is_optimized_module(module):  # compiled before the meter: no window around it
                self._compiled.adopt(module)
                return
            if self._measurements.pending:
                self._measurements.leave_orphans()
            kwargs = None
            if not args or not has_tensor(args, self._torch.Tensor):
                kwargs = ti.caller_kwargs()
            sig = signature(args, kwargs, self._torch.Tensor)
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
            if not w.grad and needs_grad(rest[1], self._torch.Tensor):
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
                self._ledger.optimizer_step()
            self._bwd_since_opt = 0
            if self._compiled.hooks_to_remove:
                self._compiled.hooks_to_remove = False
                self._compile_in_use()
        except Exception as exc:
            self._fail(exc)

    def _after_backward(self, ok: bool) -> None:
        if self._deferred:
            self._run_deferred()
        w = self._win
        if w is not None:
            self._close(w, "bwd")
        if self._measurements.pending:
            self._measurements.leave_orphans()
        if self._compiled.hooks_to_remove:
            self._compiled.hooks_to_remove = False
            self._compile_in_use()
        if not ok:
            return
        self._bwd_total += 1
        self._bwd_since_opt += 1
        self._ledger.backward_step()

    # ------------------------------------------------------------------ windows

    def _open(
        self, fkey: tuple, module: Any, args: tuple, kwargs: dict | None, *, measure: bool = True
    ) -> Window:
        w = Window(fkey)
        x, w.samples, w.tokens, w.tokens_real = batch_counts(
            args, kwargs, self._torch.Tensor, self._token_dtypes
        )
        if x is not None:
            w.numel = x.numel()
        self._win = w
        self._ledger.windows += 1
        if self._ledger.want_measure(fkey):
            if module is not None and (fkey[2] or not self._ledger.precision_known):
                self._detect_precision(module, x)
            if measure:
                self._measurements.enter(module, args, w)
        return w

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
            self._measurements.leave(counter)

    def _close(self, w: Window, kind: str) -> None:
        self._win = None
        measured: float | None = None
        if w.counter is not None:
            counter, w.counter = w.counter, None
            if self._measurements.leave(counter):
                measured = float(counter.get_total_flops())
                self._check_fp8(counter)
        if w.replayed is not None and measured is None:
            st = self._ledger.keys.get((tuple(w.keys), kind))
            if w.replay_measure or st is None or not st.n_measured:
                measured = replayed_flops(w.replayed, kind)
        self._ledger.account(w, kind, measured)
        if kind != "fwd":
            self._note_trained_modules(w.modules)
        else:
            recent = self._recent_eval_modules
            for m in w.modules:
                if len(recent) < 8 and not any(m is r for r in recent):
                    recent.append(m)

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
            self._ledger.set_params(*count_params(self._trained.values()))
            facts = infer_model(self._trained.values(), self._loads.snapshot())
            self._ledger.set_model_facts(facts)

    def _detect_precision(self, module: Any, x: Any) -> None:
        self._ledger.set_precision(precision_of(self._torch, module, x))

    def _check_fp8(self, counter: Any) -> None:
        scaled_mm = ti.aten_op(self._torch, ti.SCALED_MM)
        if scaled_mm is not None and ti.counted_op(counter, scaled_mm):
            self._ledger.mark_fp8()
