"""How `costlens run` runs a command: a Python script or module in this process under the
profiler (as ``python -m cProfile`` does), anything else as a child process with telemetry only.

:func:`fast_run` is the fast path: :func:`costlens.cli.main` calls it before typer loads, and it
reads ``costlens run [OPTIONS] -- CMD`` from the flags of :mod:`costlens.record.options` (the
one declaration the typer command is built from too); anything else goes to typer.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
from collections.abc import Mapping
from typing import Any

from costlens.core.vocab import STOPPED_EXIT_CODE

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

    from costlens.record import ProfiledRun, exit_code_for, status_for

    if kind == "path" and not os.path.isfile(target):
        from costlens.core.errors import UsageError

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


def _ends_with_us():
    """A ``preexec_fn`` that has the child sent SIGTERM when ``costlens run`` dies, even of a
    SIGKILL (Linux ``PR_SET_PDEATHSIG``); None elsewhere. libc is loaded before the fork, and the
    child only makes two system calls."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # costlens died before the call: end now
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def run_command(cmd: list[str], options) -> int:
    """Run any command as a child process, recording telemetry only; returns its exit code."""
    import subprocess

    from costlens.record import ProfiledRun

    run = ProfiledRun(options, default_name=os.path.basename(cmd[0]))
    try:
        proc = subprocess.Popen(cmd, preexec_fn=_ends_with_us())  # before any thread
    except OSError as exc:
        from costlens.core.errors import UsageError

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


def start_run(cmd: list[str], values: Mapping[str, Any]) -> int:
    """Check the options (keyword -> value, from typer or :func:`fast_run`: the declaration's
    checks either way), then run ``cmd`` under the profiler, priced and reporting; returns its
    exit code."""
    from costlens.apps.tracking import run_extensions
    from costlens.core.errors import UsageError
    from costlens.record.options import run_options

    if cmd[0].startswith("-"):
        raise UsageError(
            f"unknown option {cmd[0]!r} for costlens run (see `costlens run --help`); options go "
            "before `--`, the command after it: costlens run --project P -- python train.py"
        )
    options = run_options(values, cli=True, command=shlex.join(cmd), extensions=run_extensions())
    target = python_target(cmd)
    return run_python(*target, options) if target is not None else run_command(cmd, options)


def read_flags(args: list[str]) -> dict[str, Any] | None:
    """The options before ``--`` (keyword -> text, a list for a repeatable flag, True for a
    switch), or None for anything typer should read: help, an unknown or repeated flag, a flag
    without its value."""
    from costlens.record.options import FLAGS

    values: dict[str, Any] = {}
    i = 0
    while i < len(args):
        flag, eq, value = args[i].partition("=")
        opt = FLAGS.get(flag)
        i += 1
        if opt is None or (opt.key in values and not opt.repeatable):
            return None
        if opt.switch:
            if eq:
                return None
            values[opt.key] = True
            continue
        if not eq:
            if i >= len(args):
                return None
            value = args[i]
            i += 1
        if opt.repeatable:
            values.setdefault(opt.key, []).append(value)
        else:
            values[opt.key] = value
    return values


def fast_run(argv: list[str]) -> int | None:
    """``costlens run [OPTIONS] -- CMD`` without typer (whose import and parameter adapters cost
    CPU before the script could start). Returns the exit code, or None to let typer parse it
    (help, a mistake, anything it does not know: typer says what is wrong)."""
    if len(argv) < 3 or argv[0] != "run" or "--" not in argv:
        return None
    cut = argv.index("--")
    values, cmd = read_flags(argv[1:cut]), argv[cut + 1 :]
    if values is None or not cmd:
        return None
    from costlens.core.errors import InputError
    from costlens.record.options import run_options

    try:
        run_options(values, cli=True)
    except InputError:
        return None  # typer says what is wrong, in its words
    return start_run(cmd, values)
