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
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dash
from dash import html

from dashboard import components, unreachable
from dashboard.views import state
from dashboard.views.forecast import MAX_UPLOAD_BYTES

log = logging.getLogger("costlens")

HERE = Path(__file__).resolve().parent
TOKEN_COOKIE = "costlens_token"
SESSION_COOKIE = "costlens_session"  # proof of an earlier correct login: never throttled
THREADS = 8  # waitress worker threads
# The largest request body: an upload of MAX_UPLOAD_BYTES, base64-encoded (4/3) in a callback's
# JSON, plus 1 MiB for the rest of the callback. Larger is refused from Content-Length (413).
MAX_REQUEST_BYTES = MAX_UPLOAD_BYTES * 4 // 3 + 2**20
LOGIN_FAILURES_PER_MINUTE = 10  # failed logins per address and user name before a 429
ADDRESS_FAILURES_PER_MINUTE = 100  # failed logins per address over all user names


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
        on_error=unreachable.on_callback_error,  # a store that cannot be reached: a notice
    )
    state.attach_store(app.server, db_url)
    if auth is not None or token is not None:
        install_access_control(app.server, auth=auth, token=token)
    install_request_limit(app.server)
    app.layout = _shell
    # A store notice in the shell (from a callback with no place for it) lasts until the next page.
    app.callback(
        dash.Output(unreachable.NOTICE_ID, "children"),
        dash.Input("_pages_location", "pathname"),
    )(lambda _path: None)
    return app


def _shell() -> html.Div:
    """The frame around every page: navigation, the page, the store's location."""
    return html.Div(
        [
            components.navbar(dash.page_registry.values()),
            html.Div(id=unreachable.NOTICE_ID),
            html.Main(dash.page_container, className="page"),
            html.Footer(
                ["store: ", html.Code(state.current().display_url)],
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
    from costlens.core.errors import UsageError

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


class LoginThrottle:
    """Failed logins per client address in a sliding window: after ``limit`` failures within
    ``window_s`` the address is refused (429) until the oldest failure leaves the window; each
    throttling is logged once per address and window. Thread-safe; at most ``max_clients``
    addresses are remembered (the oldest forgotten first)."""

    def __init__(
        self,
        limit: int = LOGIN_FAILURES_PER_MINUTE,
        window_s: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        self.limit, self.window_s = limit, window_s
        self.clock, self.max_clients = clock, max_clients
        self._failures: dict[str, deque[float]] = {}
        self._logged: dict[str, float] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.get(client, deque())
        while times and now - times[0] >= self.window_s:
            times.popleft()
        return times

    def retry_after_s(self, client: str) -> float:
        """Seconds until ``client`` may try again (0: not throttled)."""
        with self._lock:
            now = self.clock()
            times = self._recent(client, now)
            if len(times) < self.limit:
                return 0.0
            if self._logged.get(client, -1e18) < times[0]:
                self._logged[client] = now
                log.warning(
                    "costlens dashboard: %d failed logins from %s in %g s; refusing its logins "
                    "for %.0f s",
                    len(times), client, self.window_s, self.window_s - (now - times[0]),
                )  # fmt: skip
            return max(self.window_s - (now - times[0]), 0.001)

    def failed(self, client: str) -> None:
        """Count one failed login of ``client``."""
        with self._lock:
            now = self.clock()
            times = self._recent(client, now)
            times.append(now)
            self._failures.pop(client, None)
            self._failures[client] = times  # most recent last
            while len(self._failures) > self.max_clients:
                self._failures.pop(next(iter(self._failures)))


def _offers_credentials(request: Any) -> bool:
    """Whether a request tried to log in (a browser's first, bare request did not)."""
    return bool(
        request.headers.get("Authorization")
        or request.headers.get("X-Costlens-Token")
        or request.cookies.get(TOKEN_COOKIE)
        or request.args.get("token")
    )


def _offered_user(request: Any) -> str:
    """The user name of a basic-auth header ("" for a token or none; "?" when undecodable)."""
    header = request.headers.get("Authorization", "")
    if header[:6].lower() != "basic ":
        return ""
    try:
        return base64.b64decode(header[6:]).decode("utf-8").partition(":")[0][:200]
    except (binascii.Error, UnicodeDecodeError):
        return "?"


def _too_many(retry_after_s: float) -> Any:
    import flask

    resp = flask.Response(
        "costlens dashboard: too many failed logins from this address; try again later.\n",
        status=429,
    )
    resp.headers["Retry-After"] = str(int(retry_after_s) + 1)
    return resp


def install_access_control(
    server: Any,
    *,
    auth: tuple[str, str] | None,
    token: str | None,
    throttle: LoginThrottle | None = None,
) -> None:
    """Guard every request of ``server`` (a Flask app) with basic auth and/or a token; failed
    logins are throttled per client address (``throttle``, default 10 per minute)."""
    import flask

    throttle = throttle or LoginThrottle()
    address_throttle = LoginThrottle(
        ADDRESS_FAILURES_PER_MINUTE, throttle.window_s, clock=throttle.clock
    )
    server.extensions["costlens_login_throttle"] = throttle
    session = secrets.token_urlsafe(32)  # this server's; a guess is one in 2**256

    def guard() -> Any:
        # A browser that logged in correctly holds the session cookie: failed logins of other
        # processes on the same address (every local process is 127.0.0.1) never lock it out.
        if _same(flask.request.cookies.get(SESSION_COOKIE, ""), session):
            return None
        address = flask.request.remote_addr or "unknown"
        # Failures count per address AND user name offered: guesses at one name lock out that
        # name only (10 a minute), so another local process guessing cannot lock the real user
        # out unless it guesses the real name; every address also has a cap over all names
        # (ADDRESS_FAILURES_PER_MINUTE), so rotating names buys no unbounded guessing.
        client = f"{address} user={_offered_user(flask.request)}"
        wait = max(throttle.retry_after_s(client), address_throttle.retry_after_s(address))
        if wait:
            return _too_many(wait)
        allowed, set_cookie = check_request(
            flask.request.headers,
            flask.request.cookies,
            flask.request.args,
            auth=auth,
            token=token,
        )
        if allowed:
            flask.g.costlens_new_session = True
            if set_cookie:
                flask.g.costlens_set_token_cookie = True
            return None
        if _offers_credentials(flask.request):
            throttle.failed(client)
            address_throttle.failed(address)
        resp = flask.Response("costlens dashboard: authentication required.\n", status=401)
        if auth is not None:
            resp.headers["WWW-Authenticate"] = 'Basic realm="costlens", charset="UTF-8"'
        return resp

    def remember(resp: Any) -> Any:
        if flask.g.get("costlens_set_token_cookie") and token is not None:
            resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
        if flask.g.get("costlens_new_session"):
            resp.set_cookie(SESSION_COOKIE, session, httponly=True, samesite="Strict")
        return resp

    # First, before Dash's own hooks: nothing runs for a request that is not allowed.
    server.before_request_funcs.setdefault(None, []).insert(0, guard)
    server.after_request(remember)


def install_request_limit(server: Any, limit: int = MAX_REQUEST_BYTES) -> None:
    """Refuse a request whose Content-Length is over ``limit`` (413) before its body is read:
    Flask's ``MAX_CONTENT_LENGTH`` and a first hook; waitress is given the same limit."""
    import flask

    server.config["MAX_CONTENT_LENGTH"] = limit

    def refuse_large() -> Any:
        size = flask.request.content_length
        if size is not None and size > limit:
            mb = MAX_UPLOAD_BYTES // 1_000_000
            return flask.Response(
                f"costlens dashboard: the request is {size:,} bytes, over the {limit:,}-byte "
                f"limit (uploads are at most {mb} MB).\n",
                status=413,
            )
        return None

    server.before_request_funcs.setdefault(None, []).insert(0, refuse_large)


# ---------------------------------------------------------------------------- serving


def serve(app: dash.Dash, host: str = "127.0.0.1", port: int = 8050) -> None:
    """Serve until interrupted, with waitress (8 threads: the pages' callbacks run in parallel)."""
    from waitress import serve as waitress_serve

    waitress_serve(
        app.server, host=host, port=port, threads=THREADS, _quiet=True,
        max_request_body_size=_body_limit(app),
    )  # fmt: skip


def _body_limit(app: dash.Dash) -> int:
    return int(app.server.config.get("MAX_CONTENT_LENGTH") or MAX_REQUEST_BYTES)


@contextmanager
def serving(app: dash.Dash, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` with waitress on a background thread; yields the base URL, stops on exit.

    ``port=0`` picks a free port. Used by the screenshots and the browser tests, so they exercise
    the same server as ``costlens dashboard``.
    """
    from waitress import create_server, wasyncore

    sockets: dict[int, Any] = {}  # our own socket map: we run and stop the loop ourselves
    server = create_server(
        app.server, map=sockets, host=host, port=port, threads=THREADS,
        max_request_body_size=_body_limit(app),
    )  # fmt: skip
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
