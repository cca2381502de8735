"""MLflow and W&B, when the training process already uses them: costlens logs its figures there.

Nothing here imports ``mlflow`` or ``wandb`` for a training run: a tracker is used only when its
module is already in ``sys.modules`` and has an active run. Their errors are logged once and never
reach the training (the callers wrap every call). Names: ``costlens.cost_usd`` in MLflow (metrics
and, for what the dollars rest on, tags), ``costlens/cost_usd`` in the W&B run's summary (which
leaves the user's step axis alone).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

MLFLOW_PREFIX = "costlens."
WANDB_PREFIX = "costlens/"


# ------------------------------------------------------------------------------------ MLflow


def mlflow_active_run_id(any_thread: bool = False) -> str | None:
    """The id of MLflow's active run (None when mlflow is not imported or no run is active).

    MLflow keeps the active run per thread; ``any_thread`` also looks at the training thread's
    (through MLflow's private ``_active_run_stack``: re-check on MLflow upgrades)."""
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:
        return None
    run = mlflow.active_run()
    if run is not None:
        return run.info.run_id
    if not any_thread:
        return None
    try:
        from mlflow.tracking import fluent

        stacks = fluent._active_run_stack.get_all_thread_values()
    except (ImportError, AttributeError):
        return None
    main = threading.main_thread().ident
    ordered = [stacks.get(main)] + [v for k, v in stacks.items() if k != main]
    for stack in ordered:
        if stack:
            return stack[-1].info.run_id
    return None


def log_to_mlflow(
    run_id: str,
    metrics: dict[str, float],
    tags: dict[str, str] | None = None,
    step: int | None = None,
) -> None:
    """Metrics (``costlens.*``, at ``step``) and tags into the MLflow run ``run_id``, through the
    current tracking URI."""
    from mlflow.entities import Metric, RunTag
    from mlflow.tracking import MlflowClient

    now_ms = int(time.time() * 1000)
    client = MlflowClient()
    client.log_batch(
        run_id,
        metrics=[
            Metric(MLFLOW_PREFIX + k, float(v), now_ms, step or 0) for k, v in metrics.items()
        ],
        tags=[RunTag(MLFLOW_PREFIX + k, str(v)) for k, v in (tags or {}).items()],
    )


# ------------------------------------------------------------------------------------ W&B


def wandb_active_run() -> Any | None:
    """W&B's active run (``wandb.run``), None when wandb is not imported or no run is active."""
    wandb = sys.modules.get("wandb")
    return getattr(wandb, "run", None) if wandb is not None else None


def log_to_wandb(run: Any, metrics: dict[str, float], facts: dict[str, str] | None = None) -> None:
    """Metrics (``costlens/*``) into the run's summary, facts into its config."""
    run.summary.update({WANDB_PREFIX + k: v for k, v in metrics.items()})
    if facts:
        run.config.update({WANDB_PREFIX + k: v for k, v in facts.items()}, allow_val_change=True)


# ------------------------------------------------------------------------------------ both


def active_trackers(any_thread: bool = False) -> list[str]:
    """Which trackers have an active run here: a subset of ["mlflow", "wandb"]."""
    found = []
    if mlflow_active_run_id(any_thread) is not None:
        found.append("mlflow")
    if wandb_active_run() is not None:
        found.append("wandb")
    return found


def report(
    metrics: dict[str, float],
    facts: dict[str, str] | None = None,
    *,
    step: int | None = None,
    any_thread: bool = False,
) -> list[str]:
    """Log to every active tracker; returns the trackers logged to. Raises what they raise."""
    done = []
    mlflow_run = mlflow_active_run_id(any_thread)
    if mlflow_run is not None:
        log_to_mlflow(mlflow_run, metrics, facts, step=step)
        done.append("mlflow")
    wandb_run = wandb_active_run()
    if wandb_run is not None:
        log_to_wandb(wandb_run, metrics, facts)
        done.append("wandb")
    return done
