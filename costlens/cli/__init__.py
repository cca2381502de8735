"""The ``costlens`` command. Thin: parse, call the library, print.

Each command group lives in its own module with a ``register(app)`` function; the typer app is
:mod:`costlens.cli.app`, loaded after the fast path had its look (``costlens run ... -- CMD``
starts the script without typer: :func:`costlens.cli.launch.fast_run`). Errors go through
:func:`main`: a :class:`~costlens.core.errors.CostlensError` becomes one line on stderr and exit 1
(2 for usage errors); a traceback only with ``COSTLENS_DEBUG=1``.
"""

from __future__ import annotations

import importlib
import sys

from costlens.core import config
from costlens.core.errors import CostlensError


def _click_exceptions():
    """Click's exception module(s): Typer >= 0.20 vendors its own copy as ``typer._click``."""
    mods = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            mods.append(importlib.import_module(name))
        except ImportError:
            continue
    return mods


def _classes(attr: str) -> tuple[type[BaseException], ...]:
    return tuple(getattr(m, attr) for m in _click_exceptions() if hasattr(m, attr))


def _fail(message: str, code: int) -> None:
    sys.stderr.write(f"costlens: error: {message}\n")
    sys.stderr.flush()
    sys.exit(code)


_argv: list[str] = []


def invoked_args() -> list[str]:
    """The arguments ``costlens`` was called with (``costlens run`` checks for ``--``)."""
    return list(_argv)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    _argv[:] = sys.argv[1:] if argv is None else argv
    try:
        config.check_environment()
        from costlens.cli.launch import fast_run

        result = fast_run(_argv)  # `costlens run ... -- CMD`: the script starts at once, no typer
        if result is None:
            from costlens.cli.app import app

            result = app(args=argv, prog_name="costlens", standalone_mode=False)
    except _classes("UsageError") as exc:
        exc.show()
        sys.exit(2)
    except _classes("Abort"):
        sys.stderr.write("costlens: aborted\n")
        sys.exit(130)
    except _classes("Exit") as exc:
        sys.exit(exc.exit_code)
    except _classes("ClickException") as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CostlensError as exc:
        if config.DEBUG.safe_get(warn=False):
            raise
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("costlens: interrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # a bug: say so plainly, traceback on request
        if config.DEBUG.safe_get(warn=False):
            raise
        _fail(
            f"unexpected {type(exc).__name__}: {exc}. This is a costlens bug; rerun with "
            "COSTLENS_DEBUG=1 for the traceback and report it.",
            1,
        )
    sys.exit(result if isinstance(result, int) else 0)
