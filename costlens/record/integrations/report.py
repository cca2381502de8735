"""What a framework callback tells the active run; never raises into the training."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from costlens.record.safety import log_once
from costlens.record.signals import current_run


def report(
    *,
    steps: int | None = None,
    expected_steps: Any = None,
    name: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    final_only: bool = False,
) -> None:
    """Tell the active run the framework's own step count, its planned steps (``max_steps``;
    ignored when not a positive finite number), its run name and evaluation metrics: each a
    point of its series at the framework's own step (``steps``: its global step), or, with
    ``final_only``, the run's final values only (an end-of-training summary)."""
    try:
        run = current_run()
        if run is None:
            return
        if isinstance(expected_steps, float) and not math.isfinite(expected_steps):
            expected_steps = None
        run.trainer_progress(steps=steps, expected_steps=expected_steps, name=name)
        if metrics:
            values = {str(k): v for k, v in metrics.items()}
            reserved = {k: values.pop(k) for k in ("step", "rank") if k in values}
            if final_only or reserved:
                run.log_final(**(values if final_only else reserved))
            if not final_only:
                run.log(step=steps, **values)
    except Exception as exc:
        log_once("framework-callback", exc)
