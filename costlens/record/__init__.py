"""``costlens.profile``: record a training run (decorator, context manager, or ``costlens run``).

One job per file: ``api`` (``profile()``), ``run`` (:class:`ProfiledRun`: start, progress, end
with a status), ``distributed`` (rank and the shared run id under torchrun), ``signals``
(SIGTERM and exit), ``summary`` (the end-of-run text) and ``safety`` (internal errors said once).

Ending a run maps what happened to a status: normal end -> completed, exception -> failed
(re-raised unchanged), Ctrl-C -> interrupted, SIGTERM -> preempted (flushed within 2 s, then the
previous SIGTERM disposition runs), SIGKILL -> the heartbeat goes stale and the run reads as lost.
Under torchrun every rank of one job records into one run (deterministic id), each rank its own
progress; the run's counts are the sums over ranks; GPUs and the host are sampled once per node
(LOCAL_RANK 0).
"""

from costlens.record.api import profile
from costlens.record.distributed import DistInfo, dist_info, make_run_id
from costlens.record.run import (
    NORMAL_END_TIMEOUT_S,
    ProfiledRun,
    RunOptions,
    exit_code_for,
    status_for,
)
from costlens.record.signals import SIGTERM_FLUSH_TIMEOUT_S

__all__ = [
    "NORMAL_END_TIMEOUT_S",
    "SIGTERM_FLUSH_TIMEOUT_S",
    "DistInfo",
    "ProfiledRun",
    "RunOptions",
    "dist_info",
    "exit_code_for",
    "make_run_id",
    "profile",
    "status_for",
]
