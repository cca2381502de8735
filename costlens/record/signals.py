"""SIGTERM and interpreter exit: the active runs are ended (preempted within 2 s / completed).

After ending the runs on SIGTERM, whatever would have happened without costlens happens: the
script's own handler runs, an ignored signal stays ignored, or the default action ends the process.

A guard of costlens's own (``--max-usd``, ``--stop-when-idle``) stops the training the same way
(:func:`request_stop`: a SIGTERM to this process): the runs end as ``stopped`` with the reason,
then the script's own SIGTERM handler runs if it has one (it may save a checkpoint and exit);
otherwise ``SystemExit(STOPPED_EXIT_CODE)`` is raised in the main thread, so ``finally`` blocks
and context managers of the training run, and the process exits with that code (3).

``os._exit(code)`` skips atexit, ``finally`` and every handler, so while a run is active
``os._exit`` is wrapped: in the process that started the run (never in a forked worker) the runs
end first (completed for 0, else failed, with the exit code; saved within 2 s), then the real
``os._exit`` runs with the same code. A SIGKILL cannot be observed from inside the process: that
run reads as ``lost`` once its heartbeat is stale.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
import time
from typing import Any, Protocol

from costlens.core.vocab import STOPPED_EXIT_CODE
from costlens.record.safety import log_once


class EndableRun(Protocol):
    """What ending a run needs (a :class:`costlens.record.run.ProfiledRun`)."""

    def end(
        self,
        status: str | None = None,
        exc: BaseException | None = None,
        exit_code: int | None = None,
        timeout_s: float = ...,
    ) -> None: ...

    @property
    def stop_reason(self) -> str | None: ...


SIGTERM_FLUSH_TIMEOUT_S = 1.5  # the run is saved within 2 s of SIGTERM

_active: list[EndableRun] = []
_prev_sigterm: Any = None
_handler_installed = False
_real_os_exit = os._exit
_owner_pid: int | None = None  # the process whose runs the os._exit wrapper ends


def register(run: EndableRun) -> None:
    """A run started: end it on SIGTERM, at exit or at os._exit (handlers installed with the first
    run)."""
    global _owner_pid
    _active.append(run)
    if len(_active) == 1:
        _install_sigterm()
        atexit.register(_atexit_end)
        _owner_pid = os.getpid()
        if os._exit is _real_os_exit:  # never stacked on someone else's wrapper
            os._exit = _os_exit


def current_run() -> Any:
    """The run started last and not ended yet (what a framework callback reports to), or None."""
    return _active[-1] if _active else None


def unregister(run: EndableRun) -> None:
    """A run ends: handlers removed with the last run."""
    if run in _active:
        _active.remove(run)
    if not _active:
        _uninstall_sigterm()
        atexit.unregister(_atexit_end)
        if os._exit is _os_exit:
            os._exit = _real_os_exit


def _install_sigterm() -> None:
    global _prev_sigterm, _handler_installed
    if _handler_installed or threading.current_thread() is not threading.main_thread():
        return
    try:
        _prev_sigterm = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _on_sigterm)
        _handler_installed = True
    except (ValueError, OSError) as exc:  # not the main interpreter / no signals here
        log_once("sigterm", exc)


def _uninstall_sigterm() -> None:
    global _handler_installed
    if not _handler_installed or threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is _on_sigterm:
            signal.signal(signal.SIGTERM, _prev_sigterm if _prev_sigterm is not None else 0)
    except (ValueError, OSError, TypeError):
        pass
    _handler_installed = False


def request_stop(run: EndableRun) -> bool:
    """Stop the training as a SIGTERM would (``run.stop_reason`` already set); called from the
    live thread. False when no SIGTERM handler of ours is installed (a run started off the main
    thread): the run is then ended as ``stopped`` here and the training is not interrupted."""
    if _handler_installed and signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        os.kill(os.getpid(), signal.SIGTERM)
        return True
    run.end(status="stopped", exit_code=STOPPED_EXIT_CODE, timeout_s=SIGTERM_FLUSH_TIMEOUT_S)
    return False


def _on_sigterm(signum: int, frame: Any) -> Any:
    prev = _prev_sigterm
    guarded = False
    for run in list(reversed(_active)):
        stopped = run.stop_reason is not None
        guarded = guarded or stopped
        try:
            run.end(
                status="stopped" if stopped else "preempted",
                exit_code=STOPPED_EXIT_CODE if stopped else 128 + signum,
                timeout_s=SIGTERM_FLUSH_TIMEOUT_S,
            )
        except Exception as exc:
            log_once("sigterm", exc)
    _uninstall_sigterm()
    # Then whatever would have happened without costlens (a guard's stop: exit, gracefully).
    if callable(prev):
        return prev(signum, frame)
    if guarded:
        raise SystemExit(STOPPED_EXIT_CODE)
    if prev is signal.SIG_IGN:
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(1.0)  # the default action ends the process before this returns
    return None


def _atexit_end() -> None:
    for run in list(reversed(_active)):
        run.end(status="completed")


def _os_exit(code: int) -> None:
    """``os._exit`` while a run is active: end the runs with ``code`` (in the process that started
    them only), then exit as asked; nothing of ours can stop the exit."""
    try:
        if os.getpid() == _owner_pid:
            for run in list(reversed(_active)):
                run.end(
                    status="completed" if code == 0 else "failed",
                    exit_code=code,
                    timeout_s=SIGTERM_FLUSH_TIMEOUT_S,
                )
    except BaseException as exc:  # the exit goes ahead whatever happened
        with contextlib.suppress(BaseException):
            log_once("os-exit", exc)
    finally:
        _real_os_exit(code)
