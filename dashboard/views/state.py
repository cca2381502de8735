"""What an app holds for its requests: the store, the one price table and the estimator's model.

Kept on the Flask server (``server.extensions``), so several apps (tests, a benchmark) live in
one process. The dashboard serves from 8 threads: the price table is reloaded only when
``table.is_current()`` is False and the model only when its file changes, each swap under a
lock; readers get an immutable object and never wait for a reload they do not need.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from costlens.core.errors import StoreUnreachableError
from costlens.price.tables import PriceTable
from costlens.store.db import OpenMode, Store, open_store, sqlite_path
from costlens.store.queries import count_runs

STATE_KEY = "costlens"
T = TypeVar("T")


class Current(Generic[T]):
    """A value loaded on first use and again whenever ``is_current(value)`` turns False."""

    def __init__(self, load: Callable[[], T], is_current: Callable[[T], bool]) -> None:
        self._load = load
        self._is_current = is_current
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        value = self._value
        if value is not None and self._is_current(value):
            return value
        with self._lock:
            if self._value is None or not self._is_current(self._value):
                self._value = self._load()
            return self._value


def _model_stamp(db_url: str) -> float | None:
    from costlens import estimator

    path = estimator.model_path(db_url, create=False)
    return path.stat().st_mtime if path.exists() else None


def _load_model(db_url: str) -> tuple[Any, float | None]:
    """(the store's estimator model: its saved fit, else prior-only; the file's mtime)."""
    from costlens import estimator

    stamp = _model_stamp(db_url)
    return estimator.saved_model(db_url), stamp


def _identity(path: str) -> tuple[int, int] | None:
    """(st_dev, st_ino) of a readable SQLite file; None when it is gone or unreadable."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if os.access(path, os.R_OK) else None


class AppState:
    """The store of an app, its price table and its estimator model (see the module doc).

    ``store`` checks a SQLite file before every use: a file deleted or made unreadable after the
    dashboard started raises :class:`StoreUnreachableError` (never a read from the deleted file's
    stale connections, never a new empty file); a file put back (a new inode) is read afresh.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self.display_url, self.store_url = store.display_url, store.url
        self._path = sqlite_path(store)
        self._seen = _identity(self._path) if self._path else None
        self._prices: Current[PriceTable] = Current(PriceTable.load, PriceTable.is_current)
        url = store.url
        self._model: Current[tuple[Any, float | None]] = Current(
            lambda: _load_model(url), lambda loaded: loaded[1] == _model_stamp(url)
        )

    @property
    def store(self) -> Store:
        if self._path is None:
            return self._store
        seen = _identity(self._path)
        if seen is None:
            self._store.dispose()  # no pooled connection keeps reading a deleted file
            raise StoreUnreachableError(
                f"cannot read store {self.display_url}: the file {self._path} is missing or "
                "unreadable. Check that the file exists and is readable."
            )
        if seen != self._seen:  # put back or replaced: drop connections to the old file
            self._store.dispose()
            self._seen = seen
        return self._store

    @property
    def prices(self) -> PriceTable:
        return self._prices.get()

    @property
    def model(self) -> Any:
        return self._model.get()[0]


def attach_store(server: Any, db_url: str | None) -> AppState:
    """Open the store at ``db_url`` (a current costlens store: the dashboard only reads, it never
    creates or migrates one) and keep it, with the app's price table and model, on ``server``."""
    state = AppState(open_store(db_url, OpenMode.READ))
    server.extensions[STATE_KEY] = state
    return state


def current() -> AppState:
    """The state of the app serving the current request."""
    import flask

    return flask.current_app.extensions[STATE_KEY]


def is_empty(store: Store) -> bool:
    """True when the store holds no run yet."""
    return count_runs(store) == 0
