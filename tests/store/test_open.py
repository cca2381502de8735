"""One way to open a store: ``with open_store(url, OpenMode.X) as store:`` disposes of it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from costlens.core.errors import StoreError
from costlens.store import db as dbmod
from costlens.store.db import OpenMode, Store, open_store
from costlens.store.ingest import insert_run
from costlens.store.queries import utcnow


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the stores opened and disposed of in this test."""
    counts = {"opened": 0, "disposed": 0}
    init, dispose = Store.__init__, Store.dispose

    def counting_init(self, *args, **kwargs) -> None:
        counts["opened"] += 1
        init(self, *args, **kwargs)

    def counting_dispose(self) -> None:
        counts["disposed"] += 1
        dispose(self)

    monkeypatch.setattr(Store, "__init__", counting_init)
    monkeypatch.setattr(Store, "dispose", counting_dispose)
    return counts


def test_the_with_block_disposes_of_the_store_also_on_an_error(sqlite_url, opened):
    with open_store(sqlite_url, OpenMode.WRITE) as store:
        assert store.dialect == "sqlite"
    assert opened == {"opened": 1, "disposed": 1}
    with pytest.raises(RuntimeError), open_store(sqlite_url, "read"):
        raise RuntimeError("boom")
    assert opened == {"opened": 2, "disposed": 2}


def test_each_mode_does_what_it_says(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with pytest.raises(StoreError):  # READ creates nothing
        open_store(url, OpenMode.READ)
    assert not (tmp_path / "old.db").exists()
    with open_store(url, OpenMode.INSPECT) as store:  # INSPECT opens and changes nothing
        dbmod.upgrade(store.engine, "0003")
    with pytest.raises(StoreError, match="costlens db upgrade"):  # READ refuses an older store
        open_store(url, OpenMode.READ)
    with open_store(url, OpenMode.INSPECT) as store:
        assert dbmod.current_revision(store.engine) == "0003"
    with open_store(url, OpenMode.WRITE) as store:  # WRITE upgrades in place
        assert store.upgraded_from == "0003"
    with open_store(url, OpenMode.READ) as store:
        assert dbmod.current_revision(store.engine) == dbmod.head_revision()
    with pytest.raises(ValueError):
        open_store(url, "readonly")


READERS = (
    ("runs",),
    ("runs", "--format", "json"),
    ("show", "run1"),
    ("cost", "run1", "--format", "json"),
    ("db", "info"),
    ("db", "upgrade"),
)


@pytest.mark.parametrize("args", READERS, ids=" ".join)
def test_every_command_disposes_of_the_stores_it_opens(cli, sqlite_url, opened, args):
    """`runs`, `show`, `cost`, `db info` and `db upgrade` left their store open (no dispose)."""
    start = utcnow() - timedelta(hours=1)
    with open_store(sqlite_url) as store:
        insert_run(store, {"id": "run1", "started_at": start, "ended_at": utcnow()})
    res = cli(*args, "--db", sqlite_url)
    assert res.code == 0, res.err
    assert opened["opened"] >= 2 and opened["opened"] == opened["disposed"]
