"""The pieces a recorded run is built from, outside its life cycle: the FLOP meter, the
samplers, the framework callbacks, how an exception maps to a status and an exit code, and the
facts of the process (user, script name)."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any


def _make_meter() -> Any:
    try:
        from costlens.record.flops import FlopMeter
    except ImportError:  # FLOP counting not available: steps come from run.step() only
        return None
    meter = FlopMeter()
    meter.install()
    return meter


def _attach_frameworks() -> Any:
    """Hugging Face and Lightning callbacks attached when (if) the script imports them."""
    from costlens.record.integrations.frameworks import FrameworkAttach

    attach = FrameworkAttach()
    attach.install()
    return attach


def status_for(exc: BaseException | None) -> str:
    """completed / failed / interrupted for how a block ended."""
    if exc is None:
        return "completed"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, SystemExit):
        return "completed" if exc.code in (None, 0) else "failed"
    return "failed"


def exit_code_for(exc: BaseException | None) -> int | None:
    """The exit status a process would have for ``exc`` (None: no exception)."""
    if exc is None:
        return None
    if isinstance(exc, SystemExit):
        code = exc.code
        return 0 if code is None else (code if isinstance(code, int) else 1)
    if isinstance(exc, KeyboardInterrupt):
        return 130
    return 1


def _make_samplers(sample_node: bool, root_pid: int | None) -> list:
    from costlens.record.telemetry import HostSampler, NvmlSampler

    if not sample_node:
        return []
    samplers: list = []
    nv = NvmlSampler()
    if nv.available:
        samplers.append(nv)
    samplers.append(HostSampler(root_pid=root_pid))
    return samplers


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


def _script_name() -> str:
    arg0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    return os.path.splitext(os.path.basename(arg0))[0] if arg0 not in ("", "-c") else "run"
