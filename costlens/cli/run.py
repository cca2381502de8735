"""CLI: `costlens run -- python train.py ARGS` and `costlens sync`.

A Python script (or ``python -m module``) runs in this process under the profiler, the way
``python -m cProfile`` runs it: same ``sys.argv``, ``__main__`` semantics, ``sys.path[0]`` = the
script's folder, same working directory; the script's own exit code and traceback. Any other
command runs as a child process with telemetry only (signals forwarded, its exit code returned).

While it runs, a live cost line goes to stderr when it is a terminal (``--quiet``: none).
``--max-usd`` and ``--stop-when-idle`` stop the training the way a SIGTERM does; the run is
saved as ``stopped`` with the reason and ``costlens run`` exits with ``STOPPED_EXIT_CODE`` (3).

The options are declared once (:mod:`costlens.record.options`): the typer parameters below are
built from that declaration, and the fast path (:func:`costlens.cli.launch.fast_run`) reads the
same flags.
"""

from __future__ import annotations

import inspect
import shlex
from typing import Annotated, Any

import typer

from costlens.cli.common import DbOption, checked
from costlens.cli.launch import start_run
from costlens.record.options import OPTIONS, Option

__all__ = ["run", "sync"]


def run(ctx: typer.Context, command: list[str] | None = None, **options: Any) -> None:
    """Profile a training script: `costlens run [OPTIONS] -- python train.py ARGS`.

    Exit code: the command's own; 3 when --max-usd or --stop-when-idle stopped it."""
    from costlens.core.errors import UsageError

    cmd = [*(command or []), *ctx.args]
    if not cmd:
        raise UsageError("give the command to profile after `--`: costlens run -- python train.py")
    from costlens.cli import invoked_args

    if "--" not in invoked_args():
        raise UsageError(
            "put `--` before the command, so that its own options stay its own: "
            f"costlens run [OPTIONS] -- {shlex.join(cmd)}"
        )
    raise typer.Exit(start_run(cmd, options))


def _typer_option(opt: Option) -> inspect.Parameter:
    """A typer parameter from the declaration (:mod:`costlens.record.options`)."""
    f = opt.flag
    more: dict[str, Any] = {"help": f.help}
    if f.check is not None:
        more["parser"] = checked(f.flag, f.check)
    if f.metavar is not None:
        more["metavar"] = f.metavar
    if not f.show_default:
        more["show_default"] = False
    return inspect.Parameter(
        opt.key,
        inspect.Parameter.KEYWORD_ONLY,
        default=opt.default,
        annotation=Annotated[opt.type, typer.Option(f.flag, *f.names, **more)],
    )


_COMMAND = Annotated[
    list[str] | None,
    typer.Argument(help="The command after `--`: python train.py ARGS (or any command)."),
]
run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        inspect.Parameter(
            "command", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=_COMMAND
        ),
        *(_typer_option(opt) for opt in OPTIONS.values()),
    ],
    return_annotation=None,
)


def sync(
    db: DbOption = None,
    create: Annotated[
        bool,
        typer.Option(
            "--create", help="Create the store when there is none yet at --db (else refused)."
        ),
    ] = False,
) -> None:
    """Write the runs recorded while the store was unreachable (the local journal) to the store."""
    from costlens.core.errors import StoreUnreachableError
    from costlens.record.journal import closed_files, journal_dir, replay_pending
    from costlens.store import schema
    from costlens.store.db import OpenMode, kind_at, open_store
    from costlens.store.url import mask_url, resolve_db_url

    target = mask_url(resolve_db_url(db))
    if not closed_files():
        typer.echo(f"nothing to sync: no journal files wait in {journal_dir()} (store {target})")
        return
    found = kind_at(db)
    schema.refuse_foreign(target, found)
    if found.kind in (schema.MISSING, schema.EMPTY) and not create:
        raise StoreUnreachableError(
            f"there is no costlens store at {target} yet: `costlens sync` writes the journal "
            "into an existing store. Check --db (or COSTLENS_DB), or pass --create to make "
            "a new store there."
        )
    with open_store(db, OpenMode.WRITE) as store:
        n = replay_pending(store)
    made = " (created)" if found.kind in (schema.MISSING, schema.EMPTY) else ""
    typer.echo(f"synced {n} journal record{'s' if n != 1 else ''} to {store.display_url}{made}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command(
        "run",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(run)
    app.command("sync")(sync)
