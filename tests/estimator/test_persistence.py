"""Saving and loading the model: atomic, version-checked, and files saved before still load."""

from __future__ import annotations

import pickle
import pickletools
import warnings
from pathlib import Path

import numpy as np
import pytest
import sklearn

from costlens import estimator as est
from tests.estimator.helpers import LAW_BASE, insert_synthetic_run, legacy_records
from tests.estimator.helpers import PRICES as CAT

LEGACY_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "estimator_model_v1.pkl"


def _globals(data: bytes) -> set[tuple[str, str]]:
    """The (module, name) pairs a pickle imports (STACK_GLOBAL after two strings)."""
    out, strings = set(), []
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL":
            out.add((strings[-2], strings[-1]))
        elif op.name == "GLOBAL":
            out.add(tuple(arg.split(" ", 1)))
    return out


def test_fit_from_store_save_and_load(store):
    from costlens.store.queries import list_runs

    rng = np.random.default_rng(6)  # SYNTHETIC runs
    for i in range(12):
        p = float(np.exp(rng.uniform(np.log(1e5), np.log(1e7))))
        insert_synthetic_run(store, i, params=p, samples=64_000,
                             flops_per_s=LAW_BASE * (p / 1e6) ** 0.3)  # fmt: skip
    records = list_runs(store)
    model = est.fit_records(records, prices=CAT)
    assert model.n_runs_ == 12 and len(model.fingerprint_) == 16
    path = est.save_model(model)
    assert path == est.model_path() and path.name == "model.pkl"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # atomic
    loaded = est.load_model()
    assert loaded.fingerprint_ == model.fingerprint_
    assert est.runs_fingerprint(records) == model.fingerprint_
    # a model from another scikit-learn version is not trusted
    payload = pickle.loads(path.read_bytes())
    assert payload["sklearn_version"] == sklearn.__version__ and payload["n_runs"] == 12
    payload["sklearn_version"] = "0.0.1"
    path.write_bytes(pickle.dumps(payload))
    with pytest.warns(est.ModelWarning, match="scikit-learn"):
        assert est.load_model().n_runs_ == 0
    path.write_bytes(b"garbage")
    with pytest.warns(est.ModelWarning, match="unreadable"):
        assert est.load_model().n_runs_ == 0
    path.write_bytes(pickle.dumps({"model": "not a model"}))
    with pytest.warns(est.ModelWarning, match="not a costlens model"):
        assert est.read_saved() is None


def test_load_with_a_store_refits_when_its_runs_changed(sqlite_url, store):
    from costlens.estimator.training import fit_records

    insert_synthetic_run(store, 0, params=1e6, samples=64_000, flops_per_s=LAW_BASE)
    est.save_model(fit_records([]), db=sqlite_url)  # saved before the run was recorded
    model = est.load_model(sqlite_url)
    assert model.n_runs_ == 1
    assert est.read_saved(db=sqlite_url)["fingerprint"] == model.fingerprint_  # refit saved
    assert est.load_model(sqlite_url).fingerprint_ == model.fingerprint_


def test_saved_models_name_the_public_class_path(fitted, tmp_path):
    path = est.save_model(fitted, tmp_path / "m.pkl")
    assert ("costlens.estimator", "CostModel") in _globals(path.read_bytes())
    assert type(est.read_saved(path)["model"]) is est.CostModel


def test_a_model_saved_before_the_package_still_loads(tmp_path):
    data = LEGACY_FILE.read_bytes()
    assert ("costlens.estimator", "CostModel") in _globals(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns when its own version differs
        payload = pickle.loads(data)
    old = payload["model"]
    assert isinstance(old, est.CostModel) and payload["fingerprint"] == old.fingerprint_
    new = est.fit_records(legacy_records())
    assert new.fingerprint_ == old.fingerprint_
    # the file still predicts with today's code, close to a refit of the same runs for the
    # scripts it was fitted on (the fit has changed since: smaller penalties, a chosen intercept
    # strength, an unnamed script run like the average recorded one; so not to the last digit)
    scen = [
        est.Scenario(params=p, tokens=1e9, gpu="CPU", precision="fp32", workload=w)
        for p in (1e5, 1e7)
        for w in ("mlp", "cnn")
    ]
    a = est.estimate_many(scen, model=old)
    b = est.estimate_many(scen, model=new)
    for x, y in zip(a, b, strict=True):
        dx, dy = x.as_dict(), y.as_dict()
        assert dx["wall_hours"] == pytest.approx(dy["wall_hours"], rel=0.05)
        assert dx["wall_hours_low"] < dx["wall_hours"] < dx["wall_hours_high"]
        assert {k: v for k, v in dx.items() if not isinstance(v, float)} == {
            k: v for k, v in dy.items() if not isinstance(v, float)
        }
    # and load_model reads it from the home folder (stamped with this scikit-learn version)
    payload["sklearn_version"] = sklearn.__version__
    est.model_path().write_bytes(pickle.dumps(payload))
    with warnings.catch_warnings():
        warnings.simplefilter("error", est.ModelWarning)
        assert est.load_model().fingerprint_ == old.fingerprint_


def test_warnings_do_not_escape_a_fresh_home():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert est.load_model().n_runs_ == 0


def test_a_saved_model_predicts_the_same_after_the_published_runs_change(tmp_path, monkeypatch):
    # The cold start (fitted on data/published_runs.csv) is fitted state of the model, not read
    # from a global cache at predict time: a new table changes new models, not saved ones.
    import csv

    from costlens.price.tables import PriceTable, published

    prices = PriceTable.load()
    scen = [
        est.Scenario(params=7e9, tokens=2e12, gpu="A100-80GB", gpus=8),
        est.Scenario(params=1.3e9, tokens=1e9, strategy="lora", gpu="H100", gpus=1),
    ]
    path = est.save_model(est.prior_model(), tmp_path / "model.pkl")
    before = [e.as_dict() for e in est.estimate_many(scen, model=est.prior_model(), prices=prices)]
    # a copy of the shipped table on which every published run took twice the GPU-hours
    with open(published.published_runs_path(), newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["gpu_hours"] = str(2 * float(row["gpu_hours"]))
    changed = tmp_path / "published_runs.csv"
    with open(changed, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    monkeypatch.setattr(published, "published_runs_path", lambda: changed)
    fresh = est.estimate_many(scen, model=est.prior_model(), prices=prices)
    assert fresh[0].wall_hours.point > 1.5 * before[0]["wall_hours"]  # new models see the table
    saved = est.read_saved(path)["model"]
    after = [e.as_dict() for e in est.estimate_many(scen, model=saved, prices=prices)]
    assert after == before
