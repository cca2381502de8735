"""Pages that cannot reach the store say so (issue 24): with the store gone after the dashboard
started (a SQLite file deleted; PostgreSQL behind a local port that stops answering), every page
answers 200 with one notice naming the (masked) store and what to check, the app keeps serving,
and it reads the store again when it is back."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from pathlib import Path

import pytest

from tests.dashboard.fill import fill_store
from tests.dashboard.test_pages import PAGES, _callback, _render

NOTICE = "cannot re"  # "cannot reach store" / "cannot read store"


STORE_PAGES = ("/", "/runs", "/transfer", "/runs/some-run")  # the pages that read runs


def _all_pages_say(client, store_shown: str, check: str) -> None:
    for path in [*PAGES, "/runs/some-run"]:
        text = json.dumps(_render(client, path))  # 200, never a 500
        if path not in STORE_PAGES:  # estimate, forecast, prices need no run: they still work
            assert PAGES[path] in text and "notice-error" not in text, path
            continue
        assert "notice-error" in text and NOTICE in text, path
        assert store_shown in text and check in text, path
        assert text.count("notice-error") == 1, path


def _all_pages_work(client) -> None:
    for path, marker in PAGES.items():
        text = json.dumps(_render(client, path))
        assert marker in text and "notice-error" not in text, path


def _rows(client) -> dict:
    """The runs grid's rows callback: an output with no place for a notice."""
    inputs = [("runs-table", "getRowsRequest", {"startRow": 0, "endRow": 25})]
    state = [(f"runs-filter-{k}", "value", None) for k in ("project", "status", "strategy")]
    body = {
        "output": "runs-table.getRowsResponse",
        "outputs": {"id": "runs-table", "property": "getRowsResponse"},
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
        "changedPropIds": ["runs-table.getRowsRequest"],
        "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
    }
    resp = client.post("/_dash-update-component", json=body)
    assert resp.status_code in (200, 204), resp.data[:500]
    return resp.get_json() if resp.status_code == 200 else {}


def test_a_deleted_sqlite_file_is_said_on_every_page_and_read_again_when_back(
    store, sqlite_url, tmp_path
):
    from dashboard.app import create_app

    fill_store(store)
    store.dispose()
    client = create_app(sqlite_url).server.test_client()
    _all_pages_work(client)
    path = Path(sqlite_url.split(":///", 1)[1])
    aside = tmp_path / "aside.db"
    path.rename(aside)
    _all_pages_say(client, str(path), "exists and is readable")
    side = json.dumps(_rows(client))
    assert "store-notice" in side and NOTICE in side  # shown in the shell's box
    assert not path.exists()  # no empty store created by a read
    aside.rename(path)  # back (the same file)
    _all_pages_work(client)
    path.rename(aside)
    aside.write_bytes(aside.read_bytes())
    aside.rename(path)  # back as a copy: a new file at the path
    _all_pages_work(client)


def test_a_bug_is_still_a_failure_not_a_store_notice(store, sqlite_url, monkeypatch):
    from dashboard.app import create_app
    from dashboard.views import runs as view

    fill_store(store)
    client = create_app(sqlite_url).server.test_client()

    def broken(*a, **k):
        raise KeyError("a bug")

    monkeypatch.setattr(view, "runs_page", broken)
    with pytest.raises(AssertionError, match="500"):  # Dash's own 500: the bug is not hidden
        _render(client, "/runs")


class _Proxy:
    """A local TCP port in front of PostgreSQL (127.0.0.1:5432) that can stop answering."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.socks: list[socket.socket] = []

    def start(self) -> None:
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", self.port))
        self.port = lsock.getsockname()[1]
        lsock.listen(16)
        self.socks.append(lsock)
        threading.Thread(target=self._accept, args=(lsock,), daemon=True).start()

    def _accept(self, lsock: socket.socket) -> None:
        while True:
            try:
                client, _ = lsock.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.socks += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        for s in self.socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.socks = []


def test_a_postgresql_that_stops_answering_is_said_on_every_page_and_read_again(pg_store, pg_url):
    from sqlalchemy.engine import make_url

    from dashboard.app import create_app

    fill_store(pg_store)
    url = make_url(pg_url)
    proxy = _Proxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    try:
        via = url.set(host="127.0.0.1", port=proxy.port, password="S3cretPW")
        client = create_app(via.render_as_string(hide_password=False)).server.test_client()
        _all_pages_work(client)
        proxy.stop()  # nothing listens on that port now
        _all_pages_say(client, f"127.0.0.1:{proxy.port}", "server is running")
        for path in STORE_PAGES:
            assert "S3cretPW" not in json.dumps(_render(client, path))
        proxy.start()  # the same port answers again
        _all_pages_work(client)
    finally:
        proxy.stop()


def test_callbacks_with_a_children_output_show_the_notice_in_place(store, sqlite_url, tmp_path):
    from dashboard.app import create_app

    fill_store(store)
    store.dispose()
    client = create_app(sqlite_url).server.test_client()
    Path(sqlite_url.split(":///", 1)[1]).unlink()
    out = _callback(
        client,
        [("runs-grid-box", "children"), ("runs-count", "children")],
        [("runs-filter-project", "value", None), ("runs-filter-status", "value", None),
         ("runs-filter-strategy", "value", None)],
    )  # fmt: skip
    text = json.dumps(out)
    assert text.count("notice-error") == 1 and NOTICE in text
