"""A Lightning ``Callback`` reporting the Trainer's own counts to the active run.

Attached with no code change under ``costlens run`` / ``costlens.profile``, or by hand::

    from costlens.record.integrations.lightning import CostlensCallback
    lightning.pytorch.Trainer(..., callbacks=[CostlensCallback()])

It records ``trainer.global_step`` (optimizer steps: gradient accumulation counted once),
``max_steps`` (or ``estimated_stepping_batches``) as the run's ``expected_steps``, the logger's
name and the metrics of each validation, as points of their series at ``trainer.global_step``.
Works with ``lightning.pytorch`` and ``pytorch_lightning`` (whichever the script imported);
neither is imported before the class is first used.
"""

from __future__ import annotations

import functools
import importlib
import sys
from typing import Any

from costlens.record.integrations.report import report

PACKAGES = ("lightning.pytorch", "pytorch_lightning")


def _expected_steps(trainer: Any) -> Any:
    if getattr(trainer, "max_steps", -1) and trainer.max_steps > 0:
        return trainer.max_steps
    try:
        return trainer.estimated_stepping_batches
    except Exception:
        return None


def _name(trainer: Any) -> str | None:
    name = getattr(getattr(trainer, "logger", None), "name", None)
    return name if isinstance(name, str) and name not in ("", "lightning_logs") else None


def callback_class(package: str | None = None) -> type:
    """The callback class for ``package`` (default: the Lightning already imported, else
    ``lightning.pytorch``)."""
    if package is None:
        package = next((p for p in PACKAGES if p in sys.modules), PACKAGES[0])
    return _class_for(package)


@functools.cache
def _class_for(package: str) -> type:
    base = importlib.import_module(package).Callback

    class CostlensCallback(base):  # type: ignore[misc, valid-type]
        """Reports the Trainer's steps, max_steps, name and validation metrics to costlens."""

        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            report(
                steps=trainer.global_step,
                expected_steps=_expected_steps(trainer),
                name=_name(trainer),
            )

        def on_train_batch_end(self, trainer: Any, *args: Any, **kwargs: Any) -> None:
            report(steps=trainer.global_step)

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            if not getattr(trainer, "sanity_checking", False):
                report(steps=trainer.global_step, metrics=dict(trainer.callback_metrics))

        def on_train_end(self, trainer: Any, pl_module: Any) -> None:
            report(
                steps=trainer.global_step,
                metrics=dict(trainer.callback_metrics),
                final_only=True,  # the last validation's points are in already, at their time
            )

    CostlensCallback.__module__ = __name__
    return CostlensCallback


def attach(trainer: Any, package: str) -> None:
    """Add the callback to a Lightning ``Trainer`` unless one is there already."""
    cls = callback_class(package)
    callbacks = trainer.callbacks
    if not any(type(cb).__name__ == cls.__name__ and cb.__module__ == __name__ for cb in callbacks):
        callbacks.append(cls())


def __getattr__(name: str) -> Any:
    if name == "CostlensCallback":
        return callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
