"""The Dash app: a factory, the page shell, access control and the server.

Pages live in ``dashboard/pages/`` (one module each, ``dash.register_page`` + ``layout``); their
callbacks only connect component ids to plain functions in :mod:`dashboard.views` and
:mod:`dashboard.figures`. The store, price table and model an app reads are attached to its
Flask server (:mod:`dashboard.views.state`), so several apps (tests, a benchmark) can live in
one process.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dash
from dash import html

from dashboard import components
from dashboard.views import state

HERE = Path(__file__).resolve().parent
TOKEN_COOKIE = "costlens_token"
TOKEN_ENV = "COSTLENS_DASHBOARD_TOKEN"
THREADS = 8  # waitress worker threads


def create_app(
    db_url: str | None = None,
    *,
    auth: tuple[str, str] | None = None,
    token: str | None = None,
) -> dash.Dash:
    """A Dash app over the store at ``db_url`` (default: the configured store).

    ``auth`` (user, password) turns on HTTP basic auth; ``token`` accepts a bearer token, an
    ``X-Costlens-Token`` header, or ``?token=`` once (then a cookie). Either guards every path.
    """
    app = dash.Dash(
        "dashboard",
        use_pages=True,
        pages_folder=str(HERE / "pages"),
        assets_folder=str(HERE / "assets"),
        title="costlens",
        suppress_callback_exceptions=True,
        update_title=None,
    )
    state.attach_store(app.server, db_url)
    if auth is not None or token is not None:
        install_access_control(app.server, auth=auth, token=token)
    app.layout = _shell
    return app


def _shell() -> html.Div:
    """The frame around every page: navigation, the page, the store's location."""
    return html.Div(
        [
            components.navbar(dash.page_registry.values()),
            html.Main(dash.page_container, className="page"),
            html.Footer(
                ["store: ", html.Code(state.current().store.display_url)],
                className="footer",
            ),
        ],
        className="shell",
    )


# ---------------------------------------------------------------------------- access control


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_auth(value: str) -> tuple[str, str]:
    """``USER:PASSWORD`` -> (user, password); UsageError when either part is empty."""
    from costlens.errors import UsageError

    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise UsageError("--auth must be USER:PASSWORD with both parts non-empty.")
    return user, password


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def check_request(
    headers: Any, cookies: Any, args: Any, *, auth: tuple[str, str] | None, token: str | None
) -> tuple[bool, bool]:
    """(allowed, set_cookie) for one request's headers, cookies and query arguments."""
    header = headers.get("Authorization", "")
    if auth is not None and header[:6].lower() == "basic ":
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, password = "", ""
        ok_user = _same(user, auth[0])
        ok_password = _same(password, auth[1])
        if ok_user and ok_password:
            return True, False
    if token is not None:
        offered = [
            header[7:] if header[:7].lower() == "bearer " else "",
            headers.get("X-Costlens-Token", ""),
            cookies.get(TOKEN_COOKIE, ""),
        ]
        if any(o and _same(o, token) for o in offered):
            return True, False
        query = args.get("token", "")
        if query and _same(query, token):
            return True, True
    return False, False


def install_access_control(server: Any, *, auth: tuple[str, str] | None, token: str | None) -> None:
    """Guard every request of ``server`` (a Flask app) with basic auth and/or a token."""
    import flask

    def guard() -> Any:
        allowed, set_cookie = check_request(
            flask.request.headers,
            flask.request.cookies,
            flask.request.args,
            auth=auth,
            token=token,
        )
        if allowed:
            if set_cookie:
                flask.g.costlens_set_token_cookie = True
            return None
        resp = flask.Response("costlens dashboard: authentication required.\n", status=401)
        if auth is not None:
            resp.headers["WWW-Authenticate"] = 'Basic realm="costlens", charset="UTF-8"'
        return resp

    def remember(resp: Any) -> Any:
        if flask.g.get("costlens_set_token_cookie") and token is not None:
            resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
        return resp

    # First, before Dash's own hooks: nothing runs for a request that is not allowed.
    server.before_request_funcs.setdefault(None, []).insert(0, guard)
    server.after_request(remember)


# ---------------------------------------------------------------------------- serving


def serve(app: dash.Dash, host: str = "127.0.0.1", port: int = 8050) -> None:
    """Serve until interrupted, with waitress (8 threads: the pages' callbacks run in parallel)."""
    from waitress import serve as waitress_serve

    waitress_serve(app.server, host=host, port=port, threads=THREADS, _quiet=True)


@contextmanager
def serving(app: dash.Dash, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` with waitress on a background thread; yields the base URL, stops on exit.

    ``port=0`` picks a free port. Used by the screenshots and the browser tests, so they exercise
    the same server as ``costlens dashboard``.
    """
    from waitress import create_server, wasyncore

    sockets: dict[int, Any] = {}  # our own socket map: we run and stop the loop ourselves
    server = create_server(app.server, map=sockets, host=host, port=port, threads=THREADS)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            wasyncore.loop(timeout=0.1, map=sockets, count=1)
        for channel in list(sockets.values()):  # the listener, its trigger, open connections
            channel.close()
        server.task_dispatcher.shutdown()

    thread = threading.Thread(target=loop, name="costlens-dashboard", daemon=True)
    thread.start()
    shown = f"[{host}]" if ":" in host else host
    try:
        yield f"http://{shown}:{server.effective_port}"
    finally:
        stop.set()
        thread.join(timeout=10)
