"""``costlens.profile``: record a training run (decorator, context manager, or ``costlens run``).

One job per file: ``options`` (a run's options, declared once), ``api`` (the decorator and
context manager), ``run`` (:class:`ProfiledRun`: start, progress, end with a status),
``distributed`` (rank and the shared run id under torchrun), ``signals``
(SIGTERM and exit), ``summary`` (the end-of-run text) and ``safety`` (internal errors said once).

Ending a run maps what happened to a status: normal end -> completed, exception -> failed
(re-raised unchanged), Ctrl-C -> interrupted, SIGTERM -> preempted (flushed within 2 s, then the
previous SIGTERM disposition runs), SIGKILL -> the heartbeat goes stale and the run reads as lost.
Under torchrun every rank of one job records into one run (deterministic id), each rank its own
progress; the run's counts are the sums over ranks; GPUs and the host are sampled once per node
(LOCAL_RANK 0).

The options of a run are declared once, in ``options`` (:class:`RunOptions`); the one public
``profile`` is ``costlens.profile`` (priced, with trackers), built on ``api.start_profile``.
The names below load on first use, so importing one module of this package (the CLI imports
``options``) costs only that module's imports.
"""

from __future__ import annotations

from costlens.core.lazy import lazy_exports

_EXPORTS = {
    "NORMAL_END_TIMEOUT_S": "run",
    "ProfiledRun": "run",
    "exit_code_for": "run",
    "status_for": "run",
    "RunOptions": "options",
    "DistInfo": "distributed",
    "dist_info": "distributed",
    "make_run_id": "distributed",
    "SIGTERM_FLUSH_TIMEOUT_S": "signals",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
