"""What an app holds for its requests: the store, the one price table and the estimator's model.

Kept on the Flask server (``server.extensions``), so several apps (tests, a benchmark) live in
one process. The dashboard serves from 8 threads: the price table is reloaded only when
``table.is_current()`` is False and the model only when its file changes, each swap under a
lock; readers get an immutable object and never wait for a reload they do not need.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from costlens.price.tables import PriceTable
from costlens.store.db import OpenMode, Store, open_store
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


class AppState:
    """The store of an app, its price table and its estimator model (see the module doc)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._prices: Current[PriceTable] = Current(PriceTable.load, PriceTable.is_current)
        url = store.url
        self._model: Current[tuple[Any, float | None]] = Current(
            lambda: _load_model(url), lambda loaded: loaded[1] == _model_stamp(url)
        )

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
