"""Settings resolution: explicit argument > environment variable > default."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

from costlens.core import config
from costlens.core.errors import StoreUnreachableError
from costlens.core.paths import home_dir

# query parameters that carry a secret (libpq's ``password``, ``sslpassword``; tokens, keys)
_SECRET_KEY_RE = re.compile(r"pass|pwd|secret|token|key|auth|credential", re.IGNORECASE)
_USERINFO_RE = re.compile(r"(//[^/@:?#]*):[^/?#]*@")
_QUERY_SECRET_RE = re.compile(
    r"([?&;](?:[^=&;#]*(?:pass|pwd|secret|token|key|auth|credential)[^=&;#]*)=)([^&;#]*)",
    re.IGNORECASE,
)


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
    """The URL with every secret replaced by ``***`` (safe to print): the password of its
    userinfo (``u:pw@``) and the value of every query parameter named like a secret
    (``?password=``, ``sslpassword``, ``token``, ``api_key``...). A URL that does not parse is
    masked by the same patterns, never shown raw."""
    out = _USERINFO_RE.sub(r"\1:***@", url)
    return _QUERY_SECRET_RE.sub(r"\1***", out)


def secrets_in(url: str) -> list[str]:
    """The secret values a URL holds (its password, secret query values), longest first."""
    found: list[str] = []
    m = re.search(r"//[^/@:?#]*:([^/?#]*)@", url)
    if m and m.group(1):
        found.append(m.group(1))
    query = url.split("?", 1)[1] if "?" in url else ""
    for key, value in parse_qsl(query, keep_blank_values=False):
        if _SECRET_KEY_RE.search(key) and value:
            found += [value, quote(value, safe="")]
    return sorted(set(found), key=len, reverse=True)


def redact(text: str, url: str) -> str:
    """``text`` (a driver's error message) with every secret of ``url`` replaced by ``***``."""
    for secret in secrets_in(url):
        text = text.replace(secret, "***")
    return text


def check_store_url(resolved: str) -> None:
    """Refuse, with one message, a store URL that cannot name a store: one that does not parse
    (a bad port, an unclosed ``[``), a SQLite URL naming no file (``:memory:`` keeps nothing)
    or naming something that is not a file (``/dev/null``, a FIFO, a folder)."""
    masked = mask_url(resolved)
    try:
        parts = urlsplit(resolved)
        parts.port  # noqa: B018 - parses the port (ValueError when it is not one)
    except ValueError as exc:
        raise StoreUnreachableError(
            f"malformed store URL {masked} ({exc}): use sqlite:///PATH or "
            "postgresql://USER@HOST:PORT/DB."
        ) from None
    if not resolved.startswith("sqlite"):
        return
    path = resolved.split(":///", 1)[1].split("?", 1)[0] if ":///" in resolved else ""
    if not path or path == ":memory:" or path.startswith("file::memory:"):
        raise StoreUnreachableError(
            f"store URL {masked} names no file: use sqlite:///PATH/costlens.db."
        )
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing: each command says what it does about that
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket"
                if stat.S_ISSOCK(mode) else "not a regular file")  # fmt: skip
        raise StoreUnreachableError(
            f"store {path} is {kind}, not a store file: pass --db sqlite:///PATH/costlens.db."
        )


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
