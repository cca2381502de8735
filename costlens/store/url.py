"""Settings resolution: explicit argument > environment variable > default."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from costlens.core import config
from costlens.core.paths import home_dir


def default_db_url() -> str:
    """The embedded SQLite store in the home folder."""
    return f"sqlite:///{home_dir() / 'costlens.db'}"


def resolve_db_url(url: str | None = None) -> str:
    """The store URL: ``url`` if given, else ``$COSTLENS_DB``, else the SQLite default.

    A bare file path (``runs.db``) is taken as a SQLite file. ``postgresql://`` URLs use psycopg 3.
    """
    url = url or config.DB.get() or default_db_url()
    if "://" not in url:
        url = f"sqlite:///{os.path.abspath(os.path.expanduser(url))}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


STATE_SUFFIX = ".costlens"  # <file>.costlens/ beside a SQLite store holds its own state
STORES_DIR = "stores"  # $COSTLENS_HOME/stores/<dialect>-<hash>/ for server or in-memory stores


def store_state_dir(url: str | None = None, *, create: bool = True) -> Path:
    """The folder of the state that belongs to one store (its fitted estimator model, the demo's
    outputs), so two stores never share a model.

    A SQLite file ``runs.db`` -> ``runs.db.costlens/`` beside it; a server (PostgreSQL) or an
    in-memory store -> ``$COSTLENS_HOME/stores/<dialect>-<16 hex of a hash of the URL without
    its password>/``. ``url`` None: the store in force (``$COSTLENS_DB``, else the default).
    """
    resolved = resolve_db_url(url)
    dialect = resolved.split(":", 1)[0].split("+", 1)[0]
    database = resolved.split(":///", 1)[1].split("?", 1)[0] if ":///" in resolved else ""
    if dialect == "sqlite" and database and database != ":memory:":
        path = Path(database).expanduser()
        folder = path.with_name(path.name + STATE_SUFFIX)
    else:
        digest = hashlib.sha256(mask_url(resolved).encode()).hexdigest()[:16]
        folder = home_dir(create=create) / STORES_DIR / f"{dialect}-{digest}"
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


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


def store_label(url: str | None = None) -> str:
    """Which store ``url`` is, safe to print and to compare: the resolved URL, masked, a SQLite
    file by its real absolute path (``a.db``, ``./a.db`` and ``sqlite:///$PWD/a.db`` are one
    store). A journal names the store its run was recorded for with it."""
    resolved = resolve_db_url(url)
    if resolved.startswith("sqlite:///"):
        path = resolved[len("sqlite:///") :].split("?", 1)[0]
        if path and path != ":memory:":
            resolved = f"sqlite:///{os.path.realpath(os.path.expanduser(path))}"
    return mask_url(resolved)
