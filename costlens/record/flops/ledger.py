"""The meter's counts: windows accounted (measured, extrapolated or estimated), steps, samples.

Pure Python, no torch. Everything here that :meth:`Ledger.snapshot` reads is written under
``Ledger.lock``; the rest (which keys to measure) is only touched by the training thread.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

#: Windows that may always be measured; past it at most MEASURE_FRACTION of all windows are.
FREE_MEASURED_WINDOWS = 24
MEASURE_FRACTION = 0.05


@dataclass
class FlopStats:
    """What the meter knows so far. FLOPs are counts of floating-point operations (not per s)."""

    steps: int
    samples: int
    tokens: int
    tokens_real: int  # tokens without padding (attention mask); ``tokens`` includes padding
    flops: float  # total executed so far (forward + backward, optimizer-free), extrapolated
    flops_per_step: float | None  # median FLOPs of the latest training steps
    params_total: int | None
    params_trainable: int | None
    precision: str  # "fp32" | "tf32" | "bf16" | "fp16" | "fp8"
    measured_steps: int  # training windows actually measured with FlopCounterMode
    model_facts: dict | None = None  # inferred strategy / base model with their basis


class KeyStat:
    """Per window key: windows seen, measured, their FLOPs, and windows still estimated."""

    __slots__ = ("measured_flops", "n", "n_measured", "pending_flops", "pending_n")

    def __init__(self) -> None:
        self.n = 0
        self.n_measured = 0
        self.measured_flops = 0.0
        self.pending_n = 0
        self.pending_flops = 0.0


class Window:
    """The unit that is measured or extrapolated: from an outermost forward to its close."""

    __slots__ = (
        "counter",
        "fkey",
        "grad",
        "keys",
        "modules",
        "numel",
        "replay_measure",
        "replayed",
        "samples",
        "tokens",
        "tokens_real",
    )  # fmt: skip

    def __init__(self, fkey: tuple) -> None:
        self.fkey = fkey
        self.keys: list[tuple] = []
        self.modules: list[Any] = []
        self.counter: Any = None
        self.samples = 0
        self.tokens = 0
        self.tokens_real: Any = 0  # an int, or a device scalar read later (no sync in training)
        self.numel = 0
        self.grad = False  # some forward in it produced an output that needs a gradient
        self.replayed: list[Any] | None = None  # replays of its compiled calls (flops.compiled)
        self.replay_measure = False  # its replayed figures count as a measurement


class Ledger:
    """FLOPs per window key, steps, samples, tokens, params and precision of one process."""

    def __init__(self, measure_steps: int = 3) -> None:
        self.measure_steps = measure_steps
        self.lock = threading.Lock()
        # which keys are measured (training thread only)
        self.keys: dict[tuple, KeyStat] = {}
        self.fam_measured: dict[tuple, int] = {}
        self.fam_request: set[tuple] = set()
        self.by_size: dict[tuple, list[tuple[int, tuple]]] = {}
        self.windows = 0
        self.measured_windows = 0
        # shared with snapshot() (under the lock)
        self.flops = 0.0
        self.opt_steps = 0
        self.bwd_steps = 0
        self.samples = 0
        self.tokens = 0
        self.tokens_real = 0
        self.tokens_real_pending: list[Any] = []  # device scalars, summed by snapshot()
        self.measured_train = 0
        self.params_total: int | None = None
        self.params_trainable: int | None = None
        self.precision = "fp32"
        self.precision_known = False
        self.model_facts: dict | None = None
        self.decl_steps = 0
        self.decl_samples = 0
        self.decl_tokens = 0
        self.boundary_flops = 0.0
        self.step_flops: deque[float] = deque(maxlen=8)

    # ------------------------------------------------------------------ windows

    def want_measure(self, fkey: tuple) -> bool:
        """Measure a window opened by ``fkey``? (its first windows, within the budget)"""
        budget = max(FREE_MEASURED_WINDOWS, MEASURE_FRACTION * self.windows)
        if self.measured_windows >= budget:
            return False
        return self.fam_measured.get(fkey, 0) < self.measure_steps or fkey in self.fam_request

    def account(self, w: Window, kind: str, measured: float | None) -> None:
        """Add a closed window: its measured FLOPs, its key's mean, or an estimate by size."""
        key = (tuple(w.keys), kind)
        training = kind != "fwd"
        size_key = (w.keys[0][0] if w.keys else 0, kind, len(w.keys))
        with self.lock:
            st = self.keys.get(key)
            if st is None:
                st = self.keys[key] = KeyStat()
            st.n += 1
            if measured is not None:
                self._add_measured(st, w, key, size_key, measured, training)
            elif st.n_measured:
                self.flops += st.measured_flops / st.n_measured
            else:
                estimate = self.estimate(size_key, w.numel)
                st.pending_n += 1
                st.pending_flops += estimate
                self.flops += estimate
                self.fam_request.add(w.fkey)
            if training:
                self.samples += w.samples
                self.tokens += w.tokens
                if isinstance(w.tokens_real, int):
                    self.tokens_real += w.tokens_real
                else:
                    self.tokens_real_pending.append(w.tokens_real)

    def _add_measured(
        self, st: KeyStat, w: Window, key: tuple, size_key: tuple, measured: float, training: bool
    ) -> None:
        st.n_measured += 1
        st.measured_flops += measured
        self.flops += measured
        self.measured_windows += 1
        if training:
            self.measured_train += 1
        mean = st.measured_flops / st.n_measured
        if st.pending_n:  # windows estimated before this key was measured
            self.flops += st.pending_n * mean - st.pending_flops
            st.pending_n, st.pending_flops = 0, 0.0
        if st.n_measured == 1:
            self.by_size.setdefault(size_key, []).append((w.numel, key))
        self.fam_measured[w.fkey] = self.fam_measured.get(w.fkey, 0) + 1
        self.fam_request.discard(w.fkey)

    def estimate(self, size_key: tuple, numel: int) -> float:
        """FLOPs of an unmeasured window: the nearest measured input size, scaled by numel."""
        best: tuple[int, tuple] | None = None
        for cand in self.by_size.get(size_key, ()):
            if best is None or abs(cand[0] - numel) < abs(best[0] - numel):
                best = cand
        if best is None:
            return 0.0
        st = self.keys[best[1]]
        mean = st.measured_flops / st.n_measured
        return mean * numel / best[0] if best[0] and numel else mean

    # ------------------------------------------------------------------ steps

    def optimizer_step(self) -> None:
        """One optimizer step (the first one forgets the backward-pass steps' FLOPs)."""
        with self.lock:
            if self.opt_steps == 0:
                self.step_flops.clear()
                self.boundary_flops = 0.0
            self.opt_steps += 1
            self.step_boundary()

    def backward_step(self) -> None:
        """One backward pass (a step while no optimizer step has been seen)."""
        with self.lock:
            self.bwd_steps += 1
            if self.opt_steps == 0:
                self.step_boundary()

    def step_boundary(self) -> None:
        """Called under the lock at each step: remembers the step's FLOPs."""
        self.step_flops.append(self.flops - self.boundary_flops)
        self.boundary_flops = self.flops

    def declare(self, *, steps: int = 0, samples: int = 0, tokens: int = 0) -> None:
        """Add counts the script reported itself; declared counts win."""
        with self.lock:
            self.decl_steps += int(steps)
            self.decl_samples += int(samples)
            self.decl_tokens += int(tokens)

    # ------------------------------------------------------------------ facts

    def set_params(self, total: int, trainable: int) -> None:
        with self.lock:
            self.params_total, self.params_trainable = total, trainable

    def set_model_facts(self, facts: dict) -> None:
        with self.lock:
            self.model_facts = facts or None

    def set_precision(self, precision: str) -> None:
        with self.lock:
            if self.precision != "fp8":  # fp8 seen in a measured window (_scaled_mm) stays
                self.precision = precision
            self.precision_known = True

    def mark_fp8(self) -> None:
        with self.lock:
            self.precision = "fp8"

    def _resolve_tokens_real(self) -> None:
        """Add the device scalars of real tokens (their reading waits for the device, on the
        reader's thread, never the training's)."""
        with self.lock:
            pending, self.tokens_real_pending = self.tokens_real_pending, []
        got = sum(int(t) for t in pending)
        with self.lock:
            self.tokens_real += got

    def snapshot(self) -> FlopStats:
        """The figures so far; cheap and safe from any thread."""
        if self.tokens_real_pending:
            self._resolve_tokens_real()
        with self.lock:
            steps = self.decl_steps or self.opt_steps or self.bwd_steps
            per_step = sorted(self.step_flops)
            return FlopStats(
                steps=steps,
                samples=self.decl_samples or self.samples,
                tokens=self.decl_tokens or self.tokens,
                tokens_real=self.decl_tokens or self.tokens_real,
                flops=self.flops,
                flops_per_step=per_step[len(per_step) // 2] if per_step else None,
                params_total=self.params_total,
                params_trainable=self.params_trainable,
                precision=self.precision,
                measured_steps=self.measured_train,
                model_facts=self.model_facts,
            )
