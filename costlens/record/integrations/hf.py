"""A Hugging Face ``TrainerCallback`` reporting the Trainer's own counts to the active run.

Attached with no code change under ``costlens run`` / ``costlens.profile``, or by hand::

    from costlens.record.integrations.hf import CostlensCallback
    Trainer(..., callbacks=[CostlensCallback()])

It records ``state.global_step`` (the Trainer's optimizer steps), ``state.max_steps`` (the
run's ``expected_steps``, for a projected end), ``args.run_name`` and the metrics of each
evaluation, as points of their series at ``state.global_step``.
``transformers`` is imported only when the class is first used.
"""

from __future__ import annotations

import functools
from typing import Any

from costlens.record.integrations.report import report


def _run_name(args: Any) -> str | None:
    """``args.run_name``, unless it is only the output folder (transformers 4's default)."""
    name = getattr(args, "run_name", None)
    return name if name and name != getattr(args, "output_dir", None) else None


@functools.cache
def callback_class() -> type:
    """The callback class (a ``transformers.TrainerCallback`` subclass, made once)."""
    from transformers import TrainerCallback

    class CostlensCallback(TrainerCallback):
        """Reports the Trainer's steps, max_steps, run name and metrics to costlens."""

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            report(steps=state.global_step, expected_steps=state.max_steps, name=_run_name(args))

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            report(steps=state.global_step)

        def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            report(steps=state.global_step, metrics=kwargs.get("metrics"))

        def on_log(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            logs = kwargs.get("logs") or {}
            if "train_loss" in logs:  # the Trainer's end-of-training summary
                report(metrics={"train_loss": logs["train_loss"]}, final_only=True)

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            report(steps=state.global_step)

    CostlensCallback.__module__ = __name__
    return CostlensCallback


def attach(trainer: Any) -> None:
    """Add the callback to a ``Trainer`` unless one is there already (added by hand)."""
    cls = callback_class()
    if not any(isinstance(cb, cls) for cb in trainer.callback_handler.callbacks):
        trainer.add_callback(cls())


def __getattr__(name: str) -> Any:
    if name == "CostlensCallback":
        return callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
