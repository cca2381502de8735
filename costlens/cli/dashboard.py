"""CLI: `costlens dashboard`: serve the Dash dashboard (loopback unless access is guarded)."""

from __future__ import annotations

import typer

from costlens.cli.common import DbOption, name_option, port_option
from costlens.core import config

TOKEN_ENV = config.DASHBOARD_TOKEN.name
AUTH_ENV = config.DASHBOARD_AUTH.name


def secret_from(value: str | None, what: str) -> str | None:
    """A secret given as ``@FILE`` is the file's first line (so it is not in ``ps``); other
    values are returned as they are."""
    from costlens.core.errors import UsageError

    if value is None or not value.startswith("@"):
        return value
    try:
        with open(value[1:], encoding="utf-8") as fh:
            line = fh.readline(4096).strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{what}: cannot read {value[1:]}: {exc}") from None
    if not line:
        raise UsageError(f"{what}: {value[1:]} is empty; write the secret on its first line.")
    return line


def access_settings(
    host: str, auth: str | None, token: str | None
) -> tuple[tuple[str, str] | None, str | None]:
    """Check the bind address against the access options; returns (auth pair, token).

    Raises UsageError when a non-loopback address has neither basic auth nor a token, or when
    ``--auth`` is not USER:PASSWORD.
    """
    from costlens.core.errors import UsageError
    from dashboard.app import is_loopback, parse_auth

    auth = secret_from(auth, "--auth") or secret_from(config.DASHBOARD_AUTH.get(), AUTH_ENV)
    pair = parse_auth(auth) if auth is not None else None
    token = secret_from(token, "--token") or secret_from(config.DASHBOARD_TOKEN.get(), TOKEN_ENV)
    if token is not None and len(token) < 16:
        raise UsageError(
            f"the dashboard token must be at least 16 characters (--token or {TOKEN_ENV})."
        )
    if not is_loopback(host) and pair is None and token is None:
        raise UsageError(
            f"refusing to serve the dashboard on {host}, which other machines can reach, without "
            f"access control: add --auth USER:PASSWORD or --token TOKEN (or set {TOKEN_ENV}), "
            "or bind 127.0.0.1."
        )
    return pair, token


def dashboard(
    db: DbOption = None,
    host: name_option("--host", "Address to bind (loopback by default).") = "127.0.0.1",
    port: port_option("Port to listen on.") = 8050,
    auth: name_option(
        "--auth",
        "USER:PASSWORD for HTTP basic auth (required off loopback, or --token); @FILE reads it "
        f"from the file's first line. Default: {AUTH_ENV} (neither shows in `ps`).",
        show_default=False,
    ) = None,
    token: name_option(
        "--token",
        "Access token (Bearer header, or ?token= once in the browser); @FILE reads it from "
        f"the file's first line. Default: ${TOKEN_ENV}.",
        show_default=False,
    ) = None,
) -> None:
    """Serve the dashboard: spend, runs, transfer vs scratch, estimates, prices, forecasts."""
    from costlens.cli.common import open_cli_store, stderr

    pair, token = access_settings(host, auth, token)
    with open_cli_store(db) as store:  # a bad --db fails here, before serving
        url = store.url
    from dashboard.app import create_app, serve

    app = create_app(url, auth=pair, token=token)
    shown = f"[{host}]" if ":" in host else host
    hint = "" if token is None else " (open it once with ?token=YOUR_TOKEN)"
    stderr(f"costlens dashboard on http://{shown}:{port}/{hint} (Ctrl+C stops it)")
    serve(app, host=host, port=port)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("dashboard")(dashboard)
