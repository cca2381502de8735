"""Past runs into MLflow or W&B: ``costlens export mlflow RUN_ID`` / ``costlens export wandb``.

The figures are the run's cost breakdown (:func:`costlens.price.cost_breakdown`), named as for a
run in progress (:mod:`costlens.apps.tracking.figures`). Here the tracker is imported on purpose:
the user asked for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from costlens.apps.tracking.figures import final_figures
from costlens.apps.tracking.trackers import log_to_mlflow, log_to_wandb
from costlens.core.errors import MissingPackageError, TrackerError
from costlens.price import cost_breakdown
from costlens.price.tables import PriceTable
from costlens.store.db import Store
from costlens.store.queries import get_run
from costlens.store.url import mask_url


@dataclass(frozen=True)
class Exported:
    """Where a run went: the tracker, its run id there, and the figures sent."""

    tracker: str
    tracker_run_id: str
    metrics: dict[str, float]
    facts: dict[str, str]


def _figures(store: Store, run_id: str, prices: PriceTable) -> tuple[dict, dict, dict]:
    record = get_run(store, run_id)
    metrics, facts = final_figures(cost_breakdown(store, record["id"], prices=prices), record["id"])
    return record, metrics, facts


def _need(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingPackageError(f"{module} is not installed: pip install {extra}") from exc


def to_mlflow(
    store: Store,
    run_id: str,
    *,
    prices: PriceTable,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    mlflow_run_id: str | None = None,
) -> Exported:
    """Log a stored run's figures into MLflow: into ``mlflow_run_id`` when given, else into a new
    MLflow run named after the costlens run, in ``experiment`` (default: its project)."""
    mlflow = _need("mlflow", "mlflow-skinny")
    record, metrics, facts = _figures(store, run_id, prices)
    try:
        return _send_mlflow(mlflow, record, metrics, facts, tracking_uri, experiment, mlflow_run_id)
    except mlflow.exceptions.MlflowException as exc:  # its URI, store or run refused: say so
        where = mask_url(tracking_uri) if tracking_uri else "the default tracking URI"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrackerError(f"MLflow at {where} refused the export: {first}") from None


def _send_mlflow(mlflow, record, metrics, facts, tracking_uri, experiment, mlflow_run_id):
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    client = mlflow.tracking.MlflowClient()
    if mlflow_run_id is None:
        name = experiment or record.get("project") or "costlens"
        found = client.get_experiment_by_name(name)
        exp_id = found.experiment_id if found is not None else client.create_experiment(name)
        created = client.create_run(exp_id, run_name=record.get("name") or record["id"])
        mlflow_run_id = created.info.run_id
        log_to_mlflow(mlflow_run_id, metrics, facts)
        client.set_terminated(mlflow_run_id)
    else:
        log_to_mlflow(mlflow_run_id, metrics, facts)
    return Exported("mlflow", mlflow_run_id, metrics, facts)


def to_wandb(
    store: Store,
    run_id: str,
    *,
    prices: PriceTable,
    project: str | None = None,
    wandb_run_id: str | None = None,
) -> Exported:
    """Log a stored run's figures into W&B (its summary and config): into ``wandb_run_id`` when
    given (resumed), else a new W&B run named after the costlens run, in ``project`` (default:
    its costlens project). ``WANDB_MODE=offline`` works as everywhere in W&B."""
    wandb = _need("wandb", "wandb")
    record, metrics, facts = _figures(store, run_id, prices)
    run = wandb.init(
        project=project or record.get("project") or "costlens",
        name=record.get("name") or record["id"],
        id=wandb_run_id,
        resume="allow" if wandb_run_id else None,
        reinit="create_new",
    )
    try:
        log_to_wandb(run, metrics, facts)
        out = Exported("wandb", str(run.id), metrics, facts)
    finally:
        run.finish()
    return out
