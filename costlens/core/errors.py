"""Typed errors. Every error costlens raises on purpose derives from :class:`CostlensError`.

Each message says what the user must fix. The CLI turns these into one line and an exit code:

- 2 (:class:`UsageError`, :class:`InputError`): the command line itself is wrong, whatever the
  world holds: an unknown flag, a value refused for what it is (not a number, out of bounds,
  not one of the choices, an ``--out`` suffix costlens cannot write);
- 1 (every other :class:`CostlensError`): the line is well formed but what it names or needs is
  missing or failed: no such file, run, store or price; an optional package not installed
  (:class:`MissingPackageError`).

Anything else is a bug and is reported as such.
"""

from __future__ import annotations


class CostlensError(Exception):
    """Root of every error costlens raises on purpose."""

    exit_code = 1


class UsageError(CostlensError):
    """A wrong flag or argument combination."""

    exit_code = 2


class InputError(UsageError, ValueError):
    """A value outside what costlens accepts: a flag, a plan cell, an environment variable or an
    argument of the Python API (the message names it and says what is allowed). A ValueError
    too, as Python callers expect of a bad argument (:mod:`costlens.core.validate`)."""


class MissingPackageError(CostlensError):
    """An optional package the command needs is not installed (the message says what to
    install). Exit 1: the command line was right; the environment lacks a piece."""


class ConfigError(CostlensError):
    """A bad setting (environment variable, home folder, option value)."""


class StoreError(CostlensError):
    """The run store failed (unreachable, corrupt, wrong schema)."""


class StoreUnreachableError(StoreError):
    """The store could not be opened or reached."""


class RunNotFoundError(StoreError):
    """No run matches the id (or id prefix) given."""


class TrackerError(CostlensError):
    """An experiment tracker (MLflow, W&B) refused what it was sent (its URI, its run id)."""


class DataTableError(CostlensError):
    """A reference or user table (prices, specs, priors, plans) is malformed.

    ``path``, ``line`` and ``column`` locate the problem when they are known.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.column = column
        where = ":".join(str(p) for p in (path, line) if p is not None)
        if column:
            where = f"{where} column {column!r}" if where else f"column {column!r}"
        super().__init__(f"{where}: {message}" if where else message)


class UnknownAcceleratorError(CostlensError):
    """An accelerator name that the spec table does not know."""

    def __init__(self, name: str, suggestions: list[str] | None = None) -> None:
        self.name = name
        self.suggestions = list(suggestions or [])
        hint = f" Closest known names: {', '.join(self.suggestions)}." if self.suggestions else ""
        super().__init__(
            f"unknown accelerator {name!r}.{hint} Run `costlens gpus` for the full list."
        )


class PriceNotFoundError(CostlensError):
    """No price row matches the requested accelerator / provider / instance."""


class EstimatorError(CostlensError):
    """An impossible scenario or an unusable estimator model."""


class PlanError(DataTableError):
    """A budget plan file is malformed."""
