"""CLI: `costlens run -- python train.py ARGS` and `costlens sync`.

A Python script (or ``python -m module``) runs in this process under the profiler, the way
``python -m cProfile`` runs it: same ``sys.argv``, ``__main__`` semantics, ``sys.path[0]`` = the
script's folder, same working directory; the script's own exit code and traceback. Any other
command runs as a child process with telemetry only (signals forwarded, its exit code returned).

While it runs, a live cost line goes to stderr when it is a terminal (``--quiet``: none).
``--max-usd`` and ``--stop-when-idle`` stop the training the way a SIGTERM does; the run is
saved as ``stopped`` with the reason and ``costlens run`` exits with ``STOPPED_EXIT_CODE`` (3).
"""

from __future__ import annotations

import shlex
from typing import Annotated

import typer

from costlens.cli.common import DbOption, checked, name_option, quantity_parser, vocab_check
from costlens.cli.launch import python_target, run_command, run_python
from costlens.core import validate
from costlens.core.vocab import DEFAULT_IDLE_THRESHOLD_PCT, STOPPED_EXIT_CODE, normalize_strategy

__all__ = ["fast_run", "python_target", "run", "run_command", "run_python", "start_run", "sync"]


def run(
    ctx: typer.Context,
    command: Annotated[
        list[str] | None,
        typer.Argument(help="The command after `--`: python train.py ARGS (or any command)."),
    ] = None,
    project: name_option("--project", "Project the run belongs to.") = None,
    name: name_option("--name", "Run name (default: the script's).") = None,
    strategy: name_option(
        "--strategy",
        "scratch, full-finetune, lora, frozen-features or other (any case).",
        check=vocab_check(normalize_strategy),
    ) = None,
    base_model: name_option("--base-model", "The pretrained model it starts from.") = None,
    tag: name_option("--tag", "A tag (repeatable).", repeatable=True) = None,
    provider: name_option("--provider", "Cloud provider it runs on.") = None,
    instance: name_option("--instance", "Instance type it runs on.") = None,
    region: name_option("--region", "Cloud region it runs in (prices and grid carbon).") = None,
    sample_interval_s: Annotated[
        float,
        typer.Option(
            "--sample-interval-s",
            help="Seconds between telemetry readings (above 0).",
            parser=checked("--sample-interval-s", validate.interval_s),
        ),
    ] = 1.0,
    max_usd: Annotated[
        float | None,
        typer.Option(
            "--max-usd",
            help="Stop the training when the run has cost this much (warning at 80%); the run "
            f"is saved as 'stopped' and costlens exits with {STOPPED_EXIT_CODE}.",
            parser=quantity_parser("--max-usd", above=True),
            show_default=False,
        ),
    ] = None,
    stop_when_idle: Annotated[
        float | None,
        typer.Option(
            "--stop-when-idle",
            metavar="MINUTES",
            help="Stop the training when every GPU has been idle this many minutes "
            f"(below --idle-threshold); exit code {STOPPED_EXIT_CODE}.",
            parser=quantity_parser("--stop-when-idle", above=True),
            show_default=False,
        ),
    ] = None,
    idle_threshold: Annotated[
        float,
        typer.Option(
            "--idle-threshold",
            help="GPU utilisation (%) under which a GPU counts as idle for --stop-when-idle.",
            parser=quantity_parser("--idle-threshold"),
        ),
    ] = DEFAULT_IDLE_THRESHOLD_PCT,
    expected_steps: Annotated[
        int | None,
        typer.Option(
            "--expected-steps",
            help="The run's total steps, for a projected final cost on the live line.",
            parser=quantity_parser("--expected-steps", minimum=1, integer=True),
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No live cost line and no summary on stderr.")
    ] = False,
    db: DbOption = None,
) -> None:
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
    code = start_run(
        cmd,
        project=project,
        name=name,
        strategy=strategy,
        base_model=base_model,
        tags=list(tag or []),
        sample_interval_s=sample_interval_s,
        db=db,
        provider=provider,
        instance=instance,
        region=region,
        max_usd=max_usd,
        stop_when_idle=stop_when_idle,
        idle_threshold=idle_threshold,
        expected_steps=expected_steps,
        quiet=quiet,
    )
    raise typer.Exit(code)


_NAME_FLAGS = {
    "project": "--project",
    "name": "--name",
    "base_model": "--base-model",
    "provider": "--provider",
    "instance": "--instance",
    "region": "--region",
}


def start_run(
    cmd: list[str],
    *,
    strategy: str | None = None,
    sample_interval_s: float = 1.0,
    max_usd: float | None = None,
    stop_when_idle: float | None = None,
    idle_threshold: float = DEFAULT_IDLE_THRESHOLD_PCT,
    expected_steps: int | None = None,
    quiet: bool = False,
    **opts,
) -> int:
    """Check the options (typer's parsers or :func:`fast_run`'s strings: the same checks), then
    run ``cmd`` under the profiler; returns its exit code."""
    from costlens.core.errors import UsageError
    from costlens.record import RunOptions

    if cmd[0].startswith("-"):
        raise UsageError(
            f"unknown option {cmd[0]!r} for costlens run (see `costlens run --help`); options go "
            "before `--`, the command after it: costlens run --project P -- python train.py"
        )
    if strategy is not None:
        try:
            strategy = normalize_strategy(strategy)
        except UsageError as exc:
            raise UsageError(f"--strategy: {exc}") from None
    sample_interval_s = validate.interval_s(sample_interval_s, "--sample-interval-s")
    for key, flag in _NAME_FLAGS.items():
        if opts.get(key) is not None:
            opts[key] = validate.name(opts[key], flag)
    opts["tags"] = [validate.name(t, "--tag") for t in opts.get("tags") or []]
    if opts.get("db") is not None:
        opts["db"] = validate.url(opts["db"], "--db")
    from costlens.apps.tracking import run_extensions
    from costlens.core import config
    from costlens.record.monitor import LiveOptions

    live = LiveOptions(
        max_usd=max_usd,
        stop_when_idle_min=stop_when_idle,
        idle_threshold_pct=idle_threshold,
        quiet=quiet or config.QUIET.get(),
        tick_s=min(1.0, sample_interval_s),
        extensions=run_extensions(),
    )
    options = RunOptions(
        strategy=strategy, sample_interval_s=sample_interval_s, command=shlex.join(cmd),
        expected_steps=expected_steps, live=live, **opts,
    )  # fmt: skip
    target = python_target(cmd)
    return run_python(*target, options) if target is not None else run_command(cmd, options)


#: The options :func:`fast_run` parses itself (tests hold them to the typer command's).
FAST_OPTIONS = {
    "--project": "project",
    "--name": "name",
    "--strategy": "strategy",
    "--base-model": "base_model",
    "--tag": "tags",
    "--provider": "provider",
    "--instance": "instance",
    "--region": "region",
    "--sample-interval-s": "sample_interval_s",
    "--db": "db",
}


def fast_run(argv: list[str]) -> int | None:
    """``costlens run [OPTIONS] -- CMD`` without typer's parsing, whose parameter adapters import
    pydantic (about 0.3 s of CPU before the script could start). Returns the exit code, or None
    to let typer parse it (help, a mistake, anything it does not know: typer says what is wrong).
    """
    if len(argv) < 3 or argv[0] != "run" or "--" not in argv:
        return None
    cut = argv.index("--")
    opts, cmd = argv[1:cut], argv[cut + 1 :]
    values: dict = {"tags": []}
    i = 0
    while i < len(opts):
        flag, eq, value = opts[i].partition("=")
        key = FAST_OPTIONS.get(flag)
        if key is None or (key in values and key != "tags"):
            return None
        if not eq:
            if i + 1 >= len(opts):
                return None
            i += 1
            value = opts[i]
        i += 1
        if key == "tags":
            values["tags"].append(value)
        else:
            values[key] = value
    try:
        values["sample_interval_s"] = validate.interval_s(
            values.get("sample_interval_s", 1.0), "--sample-interval-s"
        )
    except ValueError:
        return None  # typer says what is wrong
    if not cmd:
        return None
    values.setdefault("strategy", None)
    return start_run(cmd, **values)


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
