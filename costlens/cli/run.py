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

import os
import shlex
import signal
import sys
from typing import Annotated

import typer

from costlens import validate
from costlens.cli.common import DbOption, checked, name_option, quantity_parser, vocab_check
from costlens.vocab import DEFAULT_IDLE_THRESHOLD_PCT, STOPPED_EXIT_CODE, normalize_strategy

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
    if run.stop_reason is not None:  # a guard stopped it (SIGTERM forwarded to the command)
        status, code = "stopped", STOPPED_EXIT_CODE
    run.end(status=status, exit_code=code)
    return code


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
            parser=quantity_parser("--max-usd"),
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
            parser=quantity_parser("--stop-when-idle"),
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
    from costlens.errors import UsageError

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
    from costlens.errors import UsageError
    from costlens.profiler import RunOptions

    if cmd[0].startswith("-"):
        raise UsageError(
            f"unknown option {cmd[0]!r} for costlens run (see `costlens run --help`); options go "
            "before `--`, the command after it: costlens run --project P -- python train.py"
        )
    if strategy is not None:
        strategy = normalize_strategy(strategy)
    sample_interval_s = validate.interval_s(sample_interval_s, "--sample-interval-s")
    for key, flag in _NAME_FLAGS.items():
        if opts.get(key) is not None:
            opts[key] = validate.name(opts[key], flag)
    opts["tags"] = [validate.name(t, "--tag") for t in opts.get("tags") or []]
    if opts.get("db") is not None:
        opts["db"] = validate.url(opts["db"], "--db")
    for flag, value in (("--max-usd", max_usd), ("--stop-when-idle", stop_when_idle)):
        if value is not None and not value > 0:
            raise UsageError(f"{flag} must be greater than 0 (got {value:g}).")
    from costlens.profiler.monitor import LiveOptions
    from costlens.profiler.run import quiet_env
    from costlens.tracking import run_extensions

    live = LiveOptions(
        max_usd=max_usd,
        stop_when_idle_min=stop_when_idle,
        idle_threshold_pct=idle_threshold,
        quiet=quiet or quiet_env(),
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
    values["sample_interval_s"] = values.get("sample_interval_s", 1.0)  # checked in start_run
    if not cmd:
        return None
    values.setdefault("strategy", None)
    return start_run(cmd, **values)


def sync(db: DbOption = None) -> None:
    """Write the runs recorded while the store was unreachable (the local journal) to the store."""
    from costlens.journal import replay_pending
    from costlens.store.db import open_store

    store = open_store(db)
    try:
        n = replay_pending(store)
    finally:
        store.dispose()
    typer.echo(f"synced {n} journal record{'s' if n != 1 else ''} to {store.display_url}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command(
        "run",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(run)
    app.command("sync")(sync)
