"""Every ``COSTLENS_*`` environment variable, declared once: its name, type, default and one line
of doc (modelled on MLflow's ``mlflow/environment_variables.py``).

A setting is read with ``.get()`` where its value is used, never at import, so a variable set
later (by a test, a launcher, a notebook cell) is seen. Unset or empty is "not given": the
default. Values go through the one validation layer (:mod:`costlens.core.validate`); a bad one
raises :class:`~costlens.core.errors.ConfigError` naming the variable and what it accepts. Every
command and ``costlens.profile()`` call :func:`check_environment` first; code that must never
raise (the hot path, the CLI's error handler) reads with ``.safe_get()``, which warns and keeps
the default. Booleans follow one rule: :func:`costlens.core.validate.boolean`.

No other module reads a ``COSTLENS_*`` variable from ``os.environ`` (a test holds it), and
``docs/settings.md`` is :func:`markdown_table` (a test holds that too). Variables that describe
the launcher (``RANK``, ``SLURM_*``, ``CUDA_VISIBLE_DEVICES``...) are not costlens settings: they
are read where they are used (:mod:`costlens.record.distributed`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from costlens.core import validate
from costlens.core.errors import ConfigError, InputError
from costlens.core.vocab import DEFAULT_RUN_PROJECT

T = TypeVar("T")
log = logging.getLogger("costlens")


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One ``COSTLENS_*`` variable. ``parse(text, what)`` checks and converts a given value
    (``what`` names the variable in its message) and raises :class:`InputError` when it is bad."""

    name: str
    kind: str  # what the docs call its type: "boolean", "seconds", "path", ...
    default: T
    doc: str
    parse: Callable[[str, str], T]

    def is_set(self) -> bool:
        """Given: set and not empty."""
        return bool(os.environ.get(self.name, "").strip())

    def get(self) -> T:
        """The value now: the default when not given; a bad value raises :class:`ConfigError`."""
        raw = os.environ.get(self.name, "")
        if not raw.strip():
            return self.default
        try:
            return self.parse(raw, f"environment variable {self.name}")
        except InputError as exc:
            raise ConfigError(str(exc)) from None

    def safe_get(self, *, warn: bool = True) -> T:
        """:meth:`get`, or the default (with a warning unless ``warn`` is False) when the value is
        bad: for code that must not raise, such as the recorder beside a training run."""
        try:
            return self.get()
        except ConfigError as exc:
            if warn:
                log.warning("costlens: %s; using %r instead", exc, self.default)
            return self.default


def _text(value: str, what: str) -> str:
    return value


def _target(value: str, what: str) -> str:
    validate.target(value, what)  # refused here, before any command starts
    return value.strip()


def _path(value: str, what: str) -> Path:
    return Path(validate.url(value, what)).expanduser()


def _http_url(value: str, what: str) -> str:
    """``http://HOST[:PORT]`` (no path): where a metadata service answers."""
    out = validate.url(value, what).rstrip("/")
    rest = out[len("http://") :] if out.startswith("http://") else ""
    if not rest or "/" in rest:
        raise InputError(f"{what} must be http://HOST or http://HOST:PORT (got {value!r}).")
    return out


_SETTINGS: list[Setting[Any]] = []


def _declare(setting: Setting[T]) -> Setting[T]:
    _SETTINGS.append(setting)
    return setting


HOME: Setting[Path | None] = _declare(
    Setting("COSTLENS_HOME", "path", None, "Home folder: default store, models, prices.csv "
            "(unset: `~/.costlens`).", _path)
)  # fmt: skip
DB: Setting[str | None] = _declare(
    Setting("COSTLENS_DB", "store URL", None, "Store URL or SQLite file when `--db` is not "
            "given (unset: `$COSTLENS_HOME/costlens.db`).", validate.url)
)  # fmt: skip
PROJECT: Setting[str] = _declare(
    Setting("COSTLENS_PROJECT", "name", DEFAULT_RUN_PROJECT, "Project of a profiled run "
            "without `--project`/`project=`.", validate.name)
)  # fmt: skip
QUIET: Setting[bool] = _declare(
    Setting("COSTLENS_QUIET", "boolean", False, "No live cost line and no end-of-run summary "
            "on stderr.", validate.boolean)
)  # fmt: skip
DEBUG: Setting[bool] = _declare(
    Setting("COSTLENS_DEBUG", "boolean", False, "Show the traceback of an error that is "
            "otherwise one line.", validate.boolean)
)  # fmt: skip
FLUSH_INTERVAL_S: Setting[float] = _declare(
    Setting("COSTLENS_FLUSH_INTERVAL_S", "seconds", 5.0, "How often the recorder writes to the "
            "store (above 0; at most 5 is used).", validate.interval_s)
)  # fmt: skip
LOST_AFTER_S: Setting[float] = _declare(
    Setting("COSTLENS_LOST_AFTER_S", "seconds", 60.0, "A running run whose heartbeat is older "
            "than this shows as lost.", validate.interval_s)
)  # fmt: skip
DASHBOARD_TOKEN: Setting[str | None] = _declare(
    Setting("COSTLENS_DASHBOARD_TOKEN", "text", None, "Access token of `costlens dashboard` "
            "when `--token` is not given (at least 16 characters).", _text)
)  # fmt: skip
TARGET: Setting[str | None] = _declare(
    Setting("COSTLENS_TARGET", "target", None, "The project's quality target when `--target` "
            "is not given (`accuracy>=0.95`): `show`, `cost` and `runs` give the cost to reach "
            "it.", _target)
)  # fmt: skip


def _port(value: str, what: str) -> int:
    return validate.port(value, what)


METRICS_PORT: Setting[int | None] = _declare(
    Setting("COSTLENS_METRICS_PORT", "port", None, "Serve a profiled run's live figures for "
            "Prometheus on this port when `--metrics-port`/`metrics_port=` is not given.", _port)
)  # fmt: skip
METRICS_ADDR: Setting[str] = _declare(
    Setting("COSTLENS_METRICS_ADDR", "address", "127.0.0.1", "Address the run's metrics "
            "server and `costlens exporter` listen on (`0.0.0.0`: every interface).",
            validate.name)
)  # fmt: skip
DMI_ROOT: Setting[Path] = _declare(
    Setting("COSTLENS_DMI_ROOT", "path", Path("/sys/class/dmi/id"), "Folder of the machine's "
            "DMI strings, read to tell whether it runs on AWS, GCP or Azure (tests: a fixture).",
            _path)
)  # fmt: skip
METADATA_URL: Setting[str] = _declare(
    Setting("COSTLENS_METADATA_URL", "http URL", "http://169.254.169.254", "The cloud's "
            "instance metadata service, asked only on a machine whose DMI names that cloud "
            "(tests: a local fake server).", _http_url)
)  # fmt: skip
NO_INSTANCE_DETECTION: Setting[bool] = _declare(
    Setting("COSTLENS_NO_INSTANCE_DETECTION", "boolean", False, "Never read DMI or ask a "
            "cloud metadata service for the instance a run runs on.", validate.boolean)
)  # fmt: skip
DASHBOARD_AUTH: Setting[str | None] = _declare(
    Setting("COSTLENS_DASHBOARD_AUTH", "text", None, "USER:PASSWORD for the basic auth of "
            "`costlens dashboard` when `--auth` is not given (kept out of `ps`).", _text)
)  # fmt: skip

SETTINGS: tuple[Setting[Any], ...] = tuple(_SETTINGS)


def check_environment() -> None:
    """Refuse a bad value in any ``COSTLENS_*`` variable (:class:`ConfigError` naming it).
    Every CLI command and ``costlens.profile()`` call it before anything starts."""
    for setting in SETTINGS:
        setting.get()


def markdown_table() -> str:
    """The settings as the Markdown table of ``docs/settings.md``."""
    rows = ["| Variable | Type | Default | What it does |", "|---|---|---|---|"]
    for s in SETTINGS:
        default = s.default if not isinstance(s.default, float) else f"{s.default:g}"
        default = "unset" if default is None else f"`{str(default).lower()}`"
        rows.append(f"| `{s.name}` | {s.kind} | {default} | {s.doc} |")
    return "\n".join(rows) + "\n"
