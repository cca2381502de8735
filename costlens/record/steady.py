"""The steady-state window of one rank: FLOPs and seconds after warm-up, for the steady-state MFU
(``price.breakdown``) beside the whole-run one. Read on the recorder thread only."""

from __future__ import annotations

import time

from costlens.core.vocab import STEADY_AFTER_STEPS


class SteadyWindow:
    """Opens at the first reading after the rank's first ``STEADY_AFTER_STEPS`` steps (start-up,
    compilation and warm-up left out, as nanoGPT measures from iteration 5)."""

    def __init__(self) -> None:
        self._start: tuple[float, float] | None = None  # (monotonic s, FLOPs) when it opened

    def values(self, steps: int, flops: float) -> dict[str, float | None]:
        """``steady_flops`` and ``steady_s`` so far (both None before the window opens)."""
        if self._start is None and steps >= STEADY_AFTER_STEPS:
            self._start = (time.monotonic(), flops)
        if self._start is None:
            return {"steady_flops": None, "steady_s": None}
        t0, f0 = self._start
        return {"steady_flops": max(flops - f0, 0.0), "steady_s": time.monotonic() - t0}
