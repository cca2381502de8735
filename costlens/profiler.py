"""``costlens.profile``: record a training run (decorator, context manager, or ``costlens run``).

The training thread only starts a daemon thread (:class:`~costlens.recorder.Recorder`) and
installs the FLOP meter; the store is opened on that thread. Ending a run maps what happened to a
status: normal end -> completed, exception -> failed (re-raised unchanged), Ctrl-C ->
interrupted, SIGTERM -> preempted (flushed within 2 s, then the previous SIGTERM disposition runs),
SIGKILL -> the heartbeat goes stale and the run reads as lost. Under torchrun every rank of one job
records into one run (deterministic id), each rank its own progress; the run's counts are the
sums over ranks; GPUs and the host are sampled once per node (LOCAL_RANK 0).
"""

from __future__ import annotations

import atexit
import functools
import getpass
import json
import logging
import os
import shlex
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from costlens.recorder import Recorder, utcnow

log = logging.getLogger("costlens")

_RUN_NAMESPACE = uuid.UUID("5d1c7f3e-6a4b-4f0e-9a51-636f73746c65")
_STRATEGIES = ("scratch", "full-finetune", "lora", "frozen-features", "other")
NORMAL_END_TIMEOUT_S = 15.0
SIGTERM_FLUSH_TIMEOUT_S = 1.5  # the run is saved within 2 s of SIGTERM

_logged: set[str] = set()


def _log_once(key: str, exc: BaseException) -> None:
    """An internal error: said once, never raised into training."""
    if key in _logged:
        return
    _logged.add(key)
    log.warning(
        "costlens: internal error in %s, recording may be incomplete (%s: %s)",
        key,
        type(exc).__name__,
        exc,
        exc_info=log.isEnabledFor(logging.DEBUG),
    )


# ------------------------------------------------------------------------------ distributed


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in a (torchrun) job; a plain process is rank 0 of 1."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    node_rank: int = 0
    run_key: str | None = None  # same for every rank of one job; None outside a job

    @property
    def nodes(self) -> int:
        return max(self.world_size // max(self.local_world_size, 1), 1)


def _env_int(env: dict[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name, default))
    except (TypeError, ValueError):
        return default


def dist_info(env: dict[str, str] | None = None) -> DistInfo:
    """Read RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, TORCHELASTIC_RUN_ID."""
    env = dict(os.environ if env is None else env)
    world = _env_int(env, "WORLD_SIZE", 1)
    if world <= 1 and "TORCHELASTIC_RUN_ID" not in env:
        return DistInfo()
    local_world = _env_int(env, "LOCAL_WORLD_SIZE", world)
    run_id = env.get("TORCHELASTIC_RUN_ID", "")
    key = run_id
    if run_id in ("", "none"):  # torchrun's default rdzv id: add what this launch shares
        key = "|".join((run_id, env.get("MASTER_ADDR", ""), env.get("MASTER_PORT", "")))
        if local_world >= world:  # one node: every rank is a child of the same launcher
            key += f"|{socket.gethostname()}|{os.getppid()}"
    return DistInfo(
        rank=_env_int(env, "RANK", 0),
        world_size=max(world, 1),
        local_rank=_env_int(env, "LOCAL_RANK", 0),
        local_world_size=max(local_world, 1),
        node_rank=_env_int(env, "GROUP_RANK", 0),
        run_key=key,
    )


def make_run_id(dist: DistInfo) -> str:
    """A fresh id, or for a distributed job one derived from its key (all ranks agree)."""
    if dist.run_key is not None:
        return uuid.uuid5(_RUN_NAMESPACE, dist.run_key).hex
    return uuid.uuid4().hex


# ------------------------------------------------------------------------------ SIGTERM


_active: list[ProfiledRun] = []
_prev_sigterm: Any = None
_handler_installed = False


def _install_sigterm() -> None:
    global _prev_sigterm, _handler_installed
    if _handler_installed or threading.current_thread() is not threading.main_thread():
        return
    try:
        _prev_sigterm = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _on_sigterm)
        _handler_installed = True
    except (ValueError, OSError) as exc:  # not the main interpreter / no signals here
        _log_once("sigterm", exc)


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


def _on_sigterm(signum: int, frame: Any) -> Any:
    prev = _prev_sigterm
    for run in list(reversed(_active)):
        try:
            run.end(status="preempted", exit_code=128 + signum, timeout_s=SIGTERM_FLUSH_TIMEOUT_S)
        except Exception as exc:
            _log_once("sigterm", exc)
    _uninstall_sigterm()
    # Then whatever would have happened without costlens.
    if prev is signal.SIG_IGN:
        return None
    if callable(prev):
        return prev(signum, frame)
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(1.0)  # the default action ends the process before this returns
    return None


def _atexit_end() -> None:
    for run in list(reversed(_active)):
        run.end(status="completed")


# ------------------------------------------------------------------------------ the run


def _make_meter() -> Any:
    try:
        from costlens.flops import FlopMeter
    except ImportError:  # FLOP counting not available: steps come from run.step() only
        return None
    meter = FlopMeter()
    meter.install()
    return meter


def _json_safe(value: Any) -> Any:
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if hasattr(value, "item"):  # numpy / torch scalars
        try:
            return _json_safe(value.item())
        except Exception:
            return str(value)
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return str(value)


@dataclass
class RunOptions:
    """What the user declared about a run."""

    project: str | None = None
    name: str | None = None
    strategy: str | None = None
    base_model: str | None = None
    tags: list[str] | tuple[str, ...] | None = None
    sample_interval_s: float = 1.0
    db: str | None = None
    provider: str | None = None
    instance: str | None = None
    command: str | None = None  # default: this process's sys.argv


class ProfiledRun:
    """One recorded run. ``.id``; ``.log(**metrics)``; ``.step(samples=, tokens=)``."""

    def __init__(self, options: RunOptions, default_name: str = "") -> None:
        self.options = options
        self.default_name = default_name
        self.id: str = ""
        self.status: str | None = None
        self.dist = DistInfo()
        self._metrics: dict[str, Any] = {}
        self._metrics_json: str | None = None
        self._steps = 0
        self._samples = 0
        self._tokens = 0
        self._meter: Any = None
        self._recorder: Recorder | None = None
        self._t0 = 0.0
        self._ended = False
        self._lock = threading.RLock()  # taken only at the end (re-entrant: SIGTERM mid-end)

    # -------------------------------------------------------------- user API (hot path: cheap)

    def step(self, samples: int = 0, tokens: int = 0) -> None:
        """Declare one training step with its samples and tokens (optional)."""
        # Plain integer adds (no lock): the recorder thread reads them; declared counts win over
        # the FLOP meter's inferred ones (as FlopMeter.declare would), without its lock per step.
        try:
            self._steps += 1
            self._samples += int(samples)
            self._tokens += int(tokens)
        except Exception as exc:
            _log_once("step", exc)

    def log(self, **metrics: Any) -> None:
        """Record final metrics (accuracy, loss, ...); later values replace earlier ones."""
        try:
            self._metrics.update({k: _json_safe(v) for k, v in metrics.items()})
            self._metrics_json = json.dumps(self._metrics, sort_keys=True)
        except Exception as exc:
            _log_once("log", exc)

    # -------------------------------------------------------------- lifecycle

    def start(self) -> ProfiledRun:
        """Start recording (returns at once; the store is opened on the recorder's thread)."""
        try:
            self._start()
        except Exception as exc:
            _log_once("start", exc)
            if self._meter is not None:  # leave no hooks behind a run that never started
                _safe_call(self._meter.uninstall, "flops")
                self._meter = None
        return self

    def _start(self) -> None:
        o = self.options
        self._t0 = time.monotonic()
        self.dist = d = dist_info()
        self.id = make_run_id(d)
        strategy = o.strategy or "other"
        if strategy not in _STRATEGIES:
            log.warning(
                "costlens: unknown strategy %r recorded as 'other' (choose one of %s)",
                strategy,
                ", ".join(_STRATEGIES),
            )
            strategy = "other"
        from costlens.telemetry import host_facts

        now = utcnow()
        values: dict[str, Any] = {
            "id": self.id,
            "project": o.project or os.environ.get("COSTLENS_PROJECT") or "default",
            "name": o.name or self.default_name or _script_name(),
            "tags_json": json.dumps([str(t) for t in (o.tags or [])]),
            "status": "running",
            "started_at": now,
            "heartbeat_at": now,
            "host": socket.gethostname(),
            "user": _user(),
            "command": o.command if o.command is not None else shlex.join(sys.argv),
            "strategy": strategy,
            "base_model": o.base_model,
            "world_size": d.world_size,
            "provider": o.provider,
            "instance_type": o.instance,
            **host_facts(),
        }
        self._meter = _safe_call(_make_meter, "flops")
        sample_gpus = d.local_rank == 0
        root_pid = os.getppid() if d.run_key is not None and sample_gpus else None
        self._recorder = Recorder(
            run_values=values,
            rank=d.rank,
            node_rank=d.node_rank,
            nodes=d.nodes,
            is_owner=d.rank == 0,
            db=o.db,
            sample_interval_s=o.sample_interval_s,
            progress=self._progress,
            make_samplers=functools.partial(_make_samplers, sample_gpus, root_pid),
        )
        self._recorder.start()
        _active.append(self)
        if len(_active) == 1:
            _install_sigterm()
            atexit.register(_atexit_end)

    def _progress(self) -> dict[str, Any]:
        """This rank's counts and the run's facts (called from the recorder thread)."""
        out: dict[str, Any] = {
            "steps": self._steps,
            "samples": self._samples,
            "tokens": self._tokens,
            "flops": 0.0,
        }
        if self._meter is not None:
            s = self._meter.snapshot()
            out.update(
                steps=self._steps or s.steps,
                samples=self._samples or s.samples,
                tokens=self._tokens or s.tokens,
                flops=float(s.flops or 0.0),
                flops_per_step=s.flops_per_step,
                params_total=s.params_total,
                params_trainable=s.params_trainable,
                precision=s.precision,
            )
        if self._metrics_json is not None:
            out["metrics_json"] = self._metrics_json
        return out

    def end(
        self,
        status: str | None = None,
        exc: BaseException | None = None,
        exit_code: int | None = None,
        timeout_s: float = NORMAL_END_TIMEOUT_S,
    ) -> None:
        """Stop recording with a status (derived from ``exc`` when not given); never raises."""
        with self._lock:
            if self._ended:  # ending already (maybe SIGTERM arrived mid-end): let it finish
                if self._recorder is not None:
                    self._recorder.wait(timeout_s)
                return
            self._ended = True
        try:
            self._end(status or status_for(exc), exit_code, timeout_s)
        except Exception as err:
            _log_once("end", err)

    def _end(self, status: str, exit_code: int | None, timeout_s: float) -> None:
        self.status = status
        if self in _active:
            _active.remove(self)
        if not _active:
            _uninstall_sigterm()
            atexit.unregister(_atexit_end)
        if self._meter is not None:
            _safe_call(self._meter.uninstall, "flops")
        rec = self._recorder
        if rec is None:
            return
        final: dict[str, Any] = {}
        if rec.is_owner:
            final = {"status": status, "ended_at": utcnow()}
            if exit_code is not None:
                final["exit_code"] = exit_code
        if self._metrics_json is not None:
            final["metrics_json"] = self._metrics_json
        rec.finish(final, timeout_s=timeout_s)
        if rec.is_owner and os.environ.get("COSTLENS_QUIET", "") in ("", "0"):
            _safe_call(lambda: sys.stderr.write(self.summary() + "\n"), "summary")

    def summary(self) -> str:
        """Duration, steps, FLOPs, achieved FLOP/s, GPU-hours, utilisation, energy (one block)."""
        from costlens.telemetry import ENERGY_POWER_INTEGRAL

        rec = self._recorder
        p = self._progress()
        duration_s = time.monotonic() - self._t0
        flops = float(p.get("flops") or 0.0)
        gpus = len(rec.device_names) * self.dist.nodes if rec else 0
        lines = [f"costlens: run {self.id[:12]} {self.status} in {duration_s:.1f} s"]
        who = (
            f" (rank 0 of {self.dist.world_size}; the store sums all ranks)"
            if (self.dist.world_size > 1)
            else ""
        )
        lines.append(f"  steps {p.get('steps', 0):,}{who}")
        if flops > 0:
            lines.append(
                f"  FLOPs {flops:.3g}, achieved {flops / max(duration_s, 1e-9):.3g} FLOP/s"
            )
        else:
            lines.append("  FLOPs not measured")
        if gpus and rec:
            lines.append(
                f"  GPU-hours {gpus * duration_s / 3600:.4f} ({gpus} x {rec.device_names[0]})"
            )
            util = f"{rec.util_sum / rec.util_n:.0f}%" if rec.util_n else "not reported"
            lines.append(f"  average GPU utilisation {util}")
        else:
            lines.append("  GPU-hours 0 (no GPU seen)")
        if rec and rec.energy_j is not None:
            how = " (from power)" if rec.energy_source == ENERGY_POWER_INTEGRAL else ""
            lines.append(f"  energy {rec.energy_j / 3.6e6:.4f} kWh{how}")
        else:
            lines.append("  energy not measured")
        if rec and rec.journalled:
            lines.append(
                f"  store unreachable: {rec.journalled} samples kept in the local journal;"
                " `costlens sync` writes them"
            )
        return "\n".join(lines)


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
    from costlens.telemetry import HostSampler, NvmlSampler

    if not sample_node:
        return []
    samplers: list = []
    nv = NvmlSampler()
    if nv.available:
        samplers.append(nv)
    samplers.append(HostSampler(root_pid=root_pid))
    return samplers


def _safe_call(fn: Callable[[], Any], key: str) -> Any:
    try:
        return fn()
    except Exception as exc:
        _log_once(key, exc)
        return None


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


def _script_name() -> str:
    arg0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    return os.path.splitext(os.path.basename(arg0))[0] if arg0 not in ("", "-c") else "run"


# ------------------------------------------------------------------------------ public API


class _Profile:
    """Both a decorator and a context manager (each use records a new run)."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self._runs: list[ProfiledRun] = []

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn):
            raise TypeError("costlens.profile decorates a function")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            run = ProfiledRun(self.options, default_name=getattr(fn, "__name__", "")).start()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                run.end(exc=exc, exit_code=_lib_exit_code(exc))
                raise
            run.end()
            return result

        return wrapper

    def __enter__(self) -> ProfiledRun:
        run = ProfiledRun(self.options).start()
        self._runs.append(run)
        return run

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        run = self._runs.pop() if self._runs else None
        if run is not None:
            run.end(exc=exc, exit_code=_lib_exit_code(exc))
        return False  # never swallow the training's exception


def _lib_exit_code(exc: BaseException | None) -> int | None:
    return exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else None


def profile(
    func: Callable[..., Any] | None = None,
    /,
    *,
    project: str | None = None,
    name: str | None = None,
    strategy: str | None = None,
    base_model: str | None = None,
    tags: list[str] | tuple[str, ...] | None = None,
    sample_interval_s: float = 1.0,
    db: str | None = None,
    provider: str | None = None,
    instance: str | None = None,
) -> Any:
    """Record a training run: ``@profile``, ``@profile(...)`` or ``with profile(...) as run``.

    ``sample_interval_s``: seconds between telemetry readings. ``db``: store URL (default
    ``$COSTLENS_DB`` or the SQLite file in ``~/.costlens``). ``provider``/``instance``: where it
    ran, for pricing later.
    """
    spec = _Profile(
        RunOptions(
            project=project,
            name=name,
            strategy=strategy,
            base_model=base_model,
            tags=tags,
            sample_interval_s=sample_interval_s,
            db=db,
            provider=provider,
            instance=instance,
        )
    )
    return spec(func) if func is not None else spec
