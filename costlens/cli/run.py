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
from costlens.core import validate
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
    into: Annotated[
        str | None,
        typer.Option(
            "--into",
            parser=checked("--into", validate.url),
            help="Write every journal into this store, also those recorded for another store.",
            metavar="URL",
        ),
    ] = None,
    create: Annotated[
        bool,
        typer.Option(
            "--create", help="Create the store when there is none yet at --db (else refused)."
        ),
    ] = False,
) -> None:
    """Write the runs recorded while their store was unreachable (the local journal) to it.

    Each journal goes to the store its run was recorded for; `--db STORE` writes only the
    journals of STORE (others are refused, naming both stores); `--into STORE` writes them all
    into STORE."""
    from costlens.core.errors import StoreError, UsageError
    from costlens.record.journal_files import by_store, closed_files, journal_dir
    from costlens.store.url import store_label

    if db and into:
        raise UsageError("give --db (the journals of that store) or --into (all of them), not both")
    files = closed_files()
    target = store_label(into or db)
    if not files:
        typer.echo(f"nothing to sync: no journal files wait in {journal_dir()} (store {target})")
        return
    groups = {target: files} if into else by_store(files, target)
    urls = {target: into or db}
    problems = []
    if db:  # only this store's journals; the others are refused, naming both stores
        for label, paths in groups.items():
            if label != target:
                problems.append(
                    f"{len(paths)} journal file(s) ({paths[0].name}...) were recorded for store "
                    f"{label}, not {target}: `costlens sync` writes them to {label}; "
                    f"`costlens sync --into {target}` writes them into {target}"
                )
        groups = {target: groups[target]} if target in groups else {}
    for label, paths in groups.items():
        try:
            _sync_store(urls.get(label, label), label, paths, create)
        except StoreError as exc:
            problems.append(str(exc))
    if problems:
        raise StoreError("; ".join(problems))


def _sync_store(url: str | None, label: str, paths: list, create: bool) -> None:
    """Replay ``paths`` into the store at ``url`` (``label``: how it is shown); one line out."""
    import sqlite3

    from sqlalchemy.exc import SQLAlchemyError

    from costlens.core.errors import StoreUnreachableError
    from costlens.record.journal import replay_files
    from costlens.record.journal_files import journal_dir
    from costlens.store import schema
    from costlens.store.db import OpenMode, kind_at, open_store
    from costlens.store.failures import write_failure

    if url is not None and "***" in url:  # a journal names a store whose password is masked
        raise StoreUnreachableError(
            f"{len(paths)} journal file(s) were recorded for store {label}: give its URL with "
            "the password, `costlens sync --db URL`"
        )
    found = kind_at(url)
    schema.refuse_foreign(label, found)
    made = found.kind in (schema.MISSING, schema.EMPTY)
    if made and not create:
        raise StoreUnreachableError(
            f"there is no costlens store at {label} yet: `costlens sync` writes the journal "
            "into an existing store. Check --db (or COSTLENS_DB), or pass --create to make "
            "a new store there."
        )
    with open_store(url, OpenMode.WRITE) as store:
        try:
            n = replay_files(store, paths, progress=_progress_line())
        except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
            raise write_failure(
                store.url, exc, f"the journal stays in {journal_dir()}; counts never move back"
            ) from exc
    typer.echo(
        f"synced {n} journal record{'s' if n != 1 else ''} to {label}{' (created)' if made else ''}"
    )


PROGRESS_FROM_BYTES = 16 * 2**20  # a journal this large says how far its sync has come


def _progress_line():
    """A ``progress(path, done, size)`` that writes a line on stderr at each tenth of a large
    journal."""
    import sys

    from costlens.core import fmt

    shown: dict[str, int] = {}

    def progress(path, done: int, size: int) -> None:
        if size < PROGRESS_FROM_BYTES:
            return
        tenth = min(done * 10 // size, 10)
        if tenth > shown.get(path.name, 0):
            shown[path.name] = tenth
            sys.stderr.write(
                f"costlens: syncing {path.name}: {fmt.percent(done / size)} of "
                f"{fmt.number(size / 2**20, 'MiB')}\n"
            )

    return progress


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command(
        "run",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(run)
    app.command("sync")(sync)
