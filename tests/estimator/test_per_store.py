"""Per-store state: each store has its own model file, so two stores never share a model."""

from __future__ import annotations

from pathlib import Path

from costlens import estimator as est
from costlens.estimator.training import fit_records
from costlens.store import open_store
from costlens.store.url import store_state_dir
from tests.estimator.helpers import LAW_BASE, insert_synthetic_run


def test_sqlite_state_lives_beside_the_file(tmp_path: Path):
    db = tmp_path / "runs.db"
    assert store_state_dir(f"sqlite:///{db}") == tmp_path / "runs.db.costlens"
    assert store_state_dir(str(db)) == tmp_path / "runs.db.costlens"  # a bare path is SQLite
    assert est.model_path(f"sqlite:///{db}") == tmp_path / "runs.db.costlens" / "model.pkl"


def test_server_stores_get_a_folder_keyed_by_url_without_password(_isolated_home: Path):
    a = store_state_dir("postgresql://u:secret@db1/costlens")
    b = store_state_dir("postgresql://u:other@db1/costlens")
    c = store_state_dir("postgresql://u@db2/costlens")
    assert a == b != c  # a new password is the same store; another server is not
    assert a.parent == _isolated_home / "stores" and a.name.startswith("postgresql-")
    assert "secret" not in str(a)


def test_fitting_one_store_leaves_the_other_alone(tmp_path: Path):
    one, two = f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'two.db'}"
    with open_store(one) as store:
        insert_synthetic_run(store, 0, params=1e6, samples=64_000, flops_per_s=LAW_BASE)
    open_store(two).dispose()
    est.save_model(fit_records([]), db=two)
    fitted = est.load_model(one)  # refits store one and saves it beside one.db
    assert fitted.n_runs_ == 1
    assert est.saved_model(one).n_runs_ == 1
    assert est.saved_model(two).n_runs_ == 0  # untouched
    assert est.read_saved(db=two)["n_runs"] == 0


def test_fit_command_saves_beside_its_store(cli, tmp_path: Path, _isolated_home: Path):
    db = tmp_path / "mine.db"
    with open_store(f"sqlite:///{db}") as store:
        insert_synthetic_run(store, 0, params=1e6, samples=64_000, flops_per_s=LAW_BASE)
    res = cli("fit", "--db", f"sqlite:///{db}", "--format", "json")
    assert res.code == 0, res.err
    assert (tmp_path / "mine.db.costlens" / "model.pkl").is_file()
    assert not (_isolated_home / "model.pkl").exists()
    assert not (_isolated_home / "costlens.db.costlens" / "model.pkl").exists()
