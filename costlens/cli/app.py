"""The typer app of the ``costlens`` command: every command group registered in order.

:func:`costlens.cli.main` loads it after the fast path (``costlens run ... -- CMD``) had its look.
"""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from costlens import __version__

_COMMAND_MODULES = (
    "runs",
    "run",
    "prices",
    "estimate",
    "forecast",
    "dashboard",
    "exporter",
    "demo",
    "trackers",
    "focus",
)

app = typer.Typer(
    name="costlens",
    help="What your training really costs: profile runs, price them, estimate scratch vs transfer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"costlens {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """costlens: measured training cost."""


for _name in _COMMAND_MODULES:
    importlib.import_module(f"costlens.cli.{_name}").register(app)
