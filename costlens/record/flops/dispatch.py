"""Entering and leaving the meter's FlopCounterModes among the script's own dispatch modes.

The script may use dispatch modes of its own (its own FlopCounterMode around a forward, say).
Dispatch modes are a per-thread stack and leaving one pops the top. So ours is left only when it
is on top; under a mode of the script's, it is left later (an *orphan*), once on top again. If the
script's mode, left while ours was above it, popped ours instead of itself, the count is partial
(thrown away) and the script's mode (*stale*) is popped for it as soon as it is on top.
"""

from __future__ import annotations

from typing import Any

import costlens.record.flops.torch_internals as ti
from costlens.record.flops.attention import flop_counter


class Measurements:
    """The meter's counters that could not be left yet, and the script's modes to pop for it."""

    def __init__(self) -> None:
        self.orphans: list[Any] = []  # our FlopCounterModes still under one of the script's
        self.stale: list[Any] = []  # the script's left FlopCounterModes that popped ours

    @property
    def pending(self) -> bool:
        return bool(self.orphans or self.stale)

    def forget(self) -> None:
        self.orphans, self.stale = [], []

    def enter(self, module: Any, args: tuple, window: Any) -> None:
        """Start counting ``window`` at the forward of ``module`` that is starting now."""
        counter = flop_counter()
        counter._costlens_below = ti.current_dispatch_mode()
        counter.__enter__()
        window.counter = counter
        ti.announce_module(counter, module, args)

    def leave(self, counter: Any) -> bool:
        """Leave a FlopCounterMode; True if what it counted is the whole window."""
        stack = ti.dispatch_mode_stack()
        mode = ti.counter_mode(counter)
        if stack and stack[-1] is mode:
            counter.__exit__(None, None, None)
            return True
        if mode is not None and any(m is mode for m in stack):
            self.orphans.append(counter)
            return False
        ti.detach_counter(counter)
        below = getattr(counter, "_costlens_below", None)
        if below is not None and ti.mode_left_already(below) and any(m is below for m in stack):
            self.stale.append(below)
            self.leave_orphans()
        return False

    def leave_orphans(self) -> None:
        """Pop our modes and the script's already-left ones that have come back on top."""
        stack = ti.dispatch_mode_stack()
        while stack:
            top = stack[-1]
            if self.orphans and top is ti.counter_mode(self.orphans[-1]):
                self.orphans.pop().__exit__(None, None, None)
            elif any(top is m for m in self.stale):
                # it restored the mode flags when it was left; only the stack entry remains
                self.stale = [m for m in self.stale if m is not top]
                ti.pop_dispatch_mode(top)
            else:
                return
            stack.pop()
