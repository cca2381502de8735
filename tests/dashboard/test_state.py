"""The app's one price table and model: shared by threads, reloaded only when stale."""

from __future__ import annotations

import threading

from costlens.core.paths import data_dir
from dashboard.views.state import Current


def test_current_loads_once_across_threads_and_again_when_stale():
    loads: list[int] = []
    stale = threading.Event()

    def load() -> dict:
        loads.append(1)
        return {"n": len(loads)}

    holder = Current(load, lambda value: not (stale.is_set() and value["n"] == 1))
    seen: list[dict] = []
    threads = [threading.Thread(target=lambda: seen.append(holder.get())) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and all(v is seen[0] for v in seen)
    stale.set()
    assert holder.get()["n"] == 2 and holder.get()["n"] == 2 and len(loads) == 2


def test_the_app_reloads_its_price_table_when_a_price_file_appears(sqlite_url, tmp_path):
    from costlens.price.tables import user_prices_path
    from costlens.store import open_store
    from dashboard.app import create_app
    from dashboard.views.state import STATE_KEY

    open_store(sqlite_url).dispose()  # the dashboard only reads: the store must be there
    state = create_app(sqlite_url).server.extensions[STATE_KEY]
    first = state.prices
    assert state.prices is first  # unchanged files: the same table
    lines = (data_dir() / "gpu_prices.csv").read_text().splitlines()
    user = user_prices_path()
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text("\n".join(lines[:2]) + "\n")
    second = state.prices
    assert second is not first and not first.is_current() and second.is_current()
    assert any(r["origin"] == "user" for r in second.rows)
