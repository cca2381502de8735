"""Saving and loading the fitted model, refitting when runs change.

Each store has its own model, ``model.pkl`` in the store's state folder
(:func:`costlens.store.url.store_state_dir`: ``<db>.costlens/`` beside a SQLite file, a folder
keyed by the URL under ``$COSTLENS_HOME/stores/`` for PostgreSQL), so fitting on one store never
changes the estimates made from another.

The file is a pickle of ``{"model": CostModel, "costlens_version", "sklearn_version",
"fingerprint", "n_runs"}``. The model's class is pickled as ``costlens.estimator.CostModel``
(its public path), which files saved before the estimator became a package also name.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from costlens.core.atomicio import write_bytes_atomic
from costlens.estimator.training import fit_records, prior_model, runs_fingerprint, training_frame

if TYPE_CHECKING:
    from costlens.estimator.model import CostModel

MODEL_FILE = "model.pkl"


class ModelWarning(UserWarning):
    """The saved model could not be used; the prior-only model is used instead."""


def model_path(db: str | None = None, *, create: bool = True) -> Path:
    """The model file of store ``db`` (None: the store in force, ``$COSTLENS_DB`` or the
    default); ``create`` makes its folder."""
    from costlens.store.url import store_state_dir

    return store_state_dir(db, create=create) / MODEL_FILE


def save_model(model: CostModel, path: str | Path | None = None, *, db: str | None = None) -> Path:
    """Pickle the model with costlens and scikit-learn versions (atomic: temp name, rename),
    to ``path``, else beside store ``db`` (see :func:`model_path`)."""
    import sklearn
    from sklearn.utils.validation import check_is_fitted

    from costlens import __version__

    check_is_fitted(model, "groups_")
    target = Path(path) if path else model_path(db)
    payload = {
        "model": model,
        "costlens_version": __version__,
        "sklearn_version": sklearn.__version__,
        "fingerprint": getattr(model, "fingerprint_", ""),
        "n_runs": model.n_runs_,
    }
    return write_bytes_atomic(target, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))


def read_saved(path: str | Path | None = None, *, db: str | None = None) -> dict[str, Any] | None:
    """The saved payload (of ``path``, else of store ``db``'s model), or None (with a
    ModelWarning) when missing, unreadable or stale."""
    import sklearn

    from costlens.estimator.model import CostModel

    p = Path(path) if path else model_path(db, create=False)
    if not p.is_file():
        return None
    try:
        with open(p, "rb") as fh:
            payload = pickle.load(fh)  # our own file in the user's home
        if not isinstance(payload, dict) or not isinstance(payload.get("model"), CostModel):
            raise ValueError("not a costlens model file")
    except Exception as exc:  # any unpickling failure means: do not use it
        warnings.warn(
            f"{p} is unreadable ({type(exc).__name__}: {exc}); using the prior-only model. "
            "Run `costlens fit` to rebuild it.",
            ModelWarning,
            stacklevel=3,
        )
        return None
    if payload.get("sklearn_version") != sklearn.__version__:
        warnings.warn(
            f"{p} was saved with scikit-learn {payload.get('sklearn_version')}, this is "
            f"{sklearn.__version__}; using the prior-only model. Run `costlens fit` to refit.",
            ModelWarning,
            stacklevel=3,
        )
        return None
    return payload


def saved_model(db: str | None = None) -> CostModel:
    """Store ``db``'s saved model (None: the store in force), else the prior-only model; never
    refits (the dashboard's request path)."""
    payload = read_saved(db=db)
    return payload["model"] if payload else prior_model()


def load_model(db: str | None = None) -> CostModel:
    """The saved fitted model, else the prior-only model.

    Without ``db``: the saved model of the store in force, as it is. With ``db``, that store's
    model must match its runs (fingerprint); otherwise it is refitted from the store and saved
    beside it.
    """
    if db is None:
        return saved_model()
    payload = read_saved(db=db)
    from costlens.store import OpenMode, open_store
    from costlens.store.queries import list_runs

    with open_store(db, OpenMode.READ) as store:  # reading never creates or migrates a store
        records = list_runs(store)
    _, _, used = training_frame(records)
    if payload and payload.get("fingerprint") == runs_fingerprint(used):
        return payload["model"]
    model = fit_records(records)
    save_model(model, db=db)
    return model
