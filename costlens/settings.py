"""Settings resolution: explicit argument > environment variable > default."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

from costlens.paths import home_dir


def default_db_url() -> str:
    """The embedded SQLite store in the home folder."""
    return f"sqlite:///{home_dir() / 'costlens.db'}"


def resolve_db_url(url: str | None = None) -> str:
    """The store URL: ``url`` if given, else ``$COSTLENS_DB``, else the SQLite default.

    A bare file path (``runs.db``) is taken as a SQLite file. ``postgresql://`` URLs use psycopg 3.
    """
    url = url or os.environ.get("COSTLENS_DB") or default_db_url()
    if "://" not in url:
        url = f"sqlite:///{os.path.abspath(os.path.expanduser(url))}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (safe to print)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


def debug_enabled() -> bool:
    """``COSTLENS_DEBUG=1`` shows tracebacks for errors that would otherwise be one line."""
    return os.environ.get("COSTLENS_DEBUG", "").strip() not in ("", "0", "false", "no")
