"""CLI: `costlens run -- python train.py ARGS` and `costlens sync`.

A Python script (or ``python -m module``) runs in this process under the profiler, the way
``python -m cProfile`` runs it: same ``sys.argv``, ``__main__`` semantics, ``sys.path[0]`` = the
script's folder, same working directory; the script's own exit code and traceback. Any other
command runs as a child process with telemetry only (signals forwarded, its exit code returned).
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
from typing import Annotated

import typer

from costlens.cli.common import DbOption

_PYTHON_NAMES = ("python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}")


def _is_python(exe: str) -> bool:
    base = os.path.basename(exe)
    if base in _PYTHON_NAMES:
        return True
    try:
        return os.path.realpath(exe) == os.path.realpath(sys.executable)
    except OSError:
        return False


def python_target(cmd: list[str]) -> tuple[str, str, list[str]] | None:
    """("path", script, args) or ("module", name, args) when ``cmd`` runs Python code we can
    run in-process; None for anything else (other interpreter flags included)."""
    if not cmd:
        return None
    if cmd[0].endswith(".py") and os.path.isfile(cmd[0]):
        return "path", cmd[0], cmd[1:]
    if not _is_python(cmd[0]) or len(cmd) < 2:
        return None
    rest = cmd[1:]
    if rest[0] == "-m" and len(rest) >= 2:
        return "module", rest[1], rest[2:]
    if rest[0].startswith("-"):
        return None
    return "path", rest[0], rest[1:]


def _script_traceback(exc: BaseException, script: str | None) -> None:
    """Print the traceback from the script's first frame on (not costlens's or runpy's)."""
    import traceback

    tb = exc.__traceback__
    if script is not None:
        target = os.path.realpath(script)
        probe = tb
        while probe is not None and os.path.realpath(probe.tb_frame.f_code.co_filename) != target:
            probe = probe.tb_next
        if probe is not None:
            tb = probe
    else:  # a module: drop the frames of this file and of runpy
        skip = (os.path.realpath(__file__), "runpy.py")
        while tb is not None and tb.tb_frame.f_code.co_filename.endswith(skip):
            tb = tb.tb_next
    sys.stderr.flush()
    traceback.print_exception(type(exc), exc, tb, file=sys.stderr)
    sys.stderr.flush()


def run_python(kind: str, target: str, args: list[str], options) -> int:
    """Run the script/module in this process under the profiler; returns its exit code."""
    import runpy

    from costlens.profiler import ProfiledRun, exit_code_for, status_for

    if kind == "path" and not os.path.isfile(target):
        from costlens.errors import UsageError

        raise UsageError(f"no such script: {target}")
    saved_argv, saved_path0 = sys.argv[:], sys.path[0] if sys.path else None
    name = os.path.splitext(os.path.basename(target))[0] if kind == "path" else target
    run = ProfiledRun(options, default_name=name)
    if kind == "path":
        sys.argv = [target, *args]
        script_dir = os.path.dirname(os.path.abspath(target))
    else:
        sys.argv = [target, *args]  # runpy replaces argv[0] with the module's file
        script_dir = os.getcwd()
    if sys.path:
        sys.path[0] = script_dir
    else:
        sys.path.insert(0, script_dir)
    run.start()
    exc: BaseException | None = None
    try:
        if kind == "path":
            runpy.run_path(target, run_name="__main__")
        else:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
    except BaseException as err:  # the script's, including SystemExit and KeyboardInterrupt
        exc = err
    finally:
        sys.argv = saved_argv
        if saved_path0 is not None and sys.path:
            sys.path[0] = saved_path0
    code = exit_code_for(exc) or 0
    run.end(status=status_for(exc), exit_code=code)
    if exc is None or isinstance(exc, SystemExit):
        if isinstance(exc, SystemExit) and exc.code is not None and not isinstance(exc.code, int):
            sys.stderr.write(f"{exc.code}\n")  # what Python prints for sys.exit("message")
        return code
    _script_traceback(exc, target if kind == "path" else None)
    if isinstance(exc, KeyboardInterrupt):  # end the way Python does: killed by SIGINT
        sys.stdout.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    return code


def run_command(cmd: list[str], options) -> int:
    """Run any command as a child process, recording telemetry only; returns its exit code."""
    import subprocess

    from costlens.profiler import ProfiledRun

    run = ProfiledRun(options, default_name=os.path.basename(cmd[0]))
    try:
        proc = subprocess.Popen(cmd)
    except OSError as exc:
        from costlens.errors import UsageError

        raise UsageError(f"cannot run {cmd[0]!r}: {exc.strerror}") from exc
    run.start()
    got: dict[str, int] = {}

    def forward(signum: int, _frame) -> None:
        got.setdefault("signal", signum)
        proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                rc = proc.wait()
                break
            except InterruptedError:
                continue
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    code = rc if rc >= 0 else 128 - rc
    sig = got.get("signal") or (-rc if rc < 0 else None)
    if rc == 0:
        status = "completed"
    elif sig == signal.SIGTERM:
        status = "preempted"
    elif sig == signal.SIGINT:
        status = "interrupted"
    else:
        status = "failed"
    run.end(status=status, exit_code=code)
    return code


def run(
    ctx: typer.Context,
    command: Annotated[
        list[str] | None,
        typer.Argument(help="The command after `--`: python train.py ARGS (or any command)."),
    ] = None,
    project: Annotated[str | None, typer.Option(help="Project the run belongs to.")] = None,
    name: Annotated[str | None, typer.Option(help="Run name (default: the script's).")] = None,
    strategy: Annotated[
        str | None,
        typer.Option(help="scratch, full-finetune, lora, frozen-features or other."),
    ] = None,
    base_model: Annotated[
        str | None, typer.Option("--base-model", help="The pretrained model it starts from.")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable).")] = None,
    provider: Annotated[str | None, typer.Option(help="Cloud provider it runs on.")] = None,
    instance: Annotated[str | None, typer.Option(help="Instance type it runs on.")] = None,
    sample_interval_s: Annotated[
        float, typer.Option("--sample-interval-s", help="Seconds between telemetry readings.")
    ] = 1.0,
    db: DbOption = None,
) -> None:
    """Profile a training script: `costlens run [OPTIONS] -- python train.py ARGS`."""
    from costlens.errors import UsageError
    from costlens.profiler import RunOptions
    from costlens.vocab import normalize_strategy

    cmd = [*(command or []), *ctx.args]
    if not cmd:
        raise UsageError("give the command to profile after `--`: costlens run -- python train.py")
    from costlens.cli import invoked_args

    if "--" not in invoked_args():
        raise UsageError(
            "put `--` before the command, so that its own options stay its own: "
            f"costlens run [OPTIONS] -- {shlex.join(cmd)}"
        )
    if cmd[0].startswith("-"):
        raise UsageError(
            f"unknown option {cmd[0]!r} for costlens run (see `costlens run --help`); options go "
            "before `--`, the command after it: costlens run --project P -- python train.py"
        )
    if strategy is not None:
        strategy = normalize_strategy(strategy)
    if not sample_interval_s > 0:
        raise UsageError("--sample-interval-s must be positive.")
    options = RunOptions(
        project=project,
        name=name,
        strategy=strategy,
        base_model=base_model,
        tags=list(tag or []),
        sample_interval_s=sample_interval_s,
        db=db,
        provider=provider,
        instance=instance,
        command=shlex.join(cmd),
    )
    target = python_target(cmd)
    code = run_python(*target, options) if target is not None else run_command(cmd, options)
    raise typer.Exit(code)


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
    from costlens.errors import StoreUnreachableError
    from costlens.journal import closed_files, journal_dir, replay_pending
    from costlens.settings import mask_url, resolve_db_url
    from costlens.store import schema
    from costlens.store.db import kind_at, open_store

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
    store = open_store(db)
    try:
        n = replay_pending(store)
    finally:
        store.dispose()
    made = " (created)" if found.kind in (schema.MISSING, schema.EMPTY) else ""
    typer.echo(f"synced {n} journal record{'s' if n != 1 else ''} to {store.display_url}{made}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command(
        "run",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(run)
    app.command("sync")(sync)
