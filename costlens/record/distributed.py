"""Where this process sits in a distributed job, and the run id every process of one job agrees on.

One place reads every launcher's environment (:func:`dist_info`):

- torchrun (``TORCHELASTIC_RUN_ID``, ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``GROUP_RANK``);
- ``accelerate launch`` (torchrun's variables plus ``ACCELERATE_*``; one process: no ranks);
- the DeepSpeed launcher (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_SIZE``,
  ``CROSS_RANK``, ``MASTER_ADDR`` / ``MASTER_PORT``);
- Slurm's ``srun`` without any of them (``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID``,
  ``SLURM_NODEID``, ``SLURM_JOB_ID``, ``SLURM_STEP_ID``): all tasks of one job step are one run.

The Slurm job id and partition are recorded whichever launcher started the processes.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from dataclasses import dataclass

_RUN_NAMESPACE = uuid.UUID("5d1c7f3e-6a4b-4f0e-9a51-636f73746c65")


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in a job; a plain process is rank 0 of 1."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    node_rank: int = 0
    run_key: str | None = None  # same for every rank of one job; None outside a job
    launcher: str | None = None  # "torchrun" | "accelerate" | "deepspeed" | "slurm"
    job_id: str | None = None  # the scheduler's job id (Slurm)
    job_partition: str | None = None

    @property
    def nodes(self) -> int:
        return max(self.world_size // max(self.local_world_size, 1), 1)


def _env_int(env: dict[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name, default))
    except (TypeError, ValueError):
        return default


def _first_int(value: str | None, default: int) -> int:
    """``2(x3),1`` (Slurm's tasks per node) -> 2."""
    m = re.match(r"\s*(\d+)", value or "")
    return int(m.group(1)) if m else default


def _launcher(env: dict[str, str]) -> str:
    if "ACCELERATE_MIXED_PRECISION" in env:
        return "accelerate"
    if "TORCHELASTIC_RUN_ID" in env:
        return "torchrun"
    if "CROSS_RANK" in env and "LOCAL_SIZE" in env:
        return "deepspeed"
    return "torchrun" if "WORLD_SIZE" in env else ""


def _slurm(env: dict[str, str], job: dict) -> DistInfo | None:
    """All tasks of one ``srun`` job step (SLURM_STEP_ID set) as one run."""
    if "SLURM_PROCID" not in env or "SLURM_STEP_ID" not in env:
        return None
    world = _env_int(env, "SLURM_STEP_NUM_TASKS", _env_int(env, "SLURM_NTASKS", 1))
    nodes = _env_int(env, "SLURM_STEP_NUM_NODES", _env_int(env, "SLURM_NNODES", 1))
    per_node = env.get("SLURM_STEP_TASKS_PER_NODE") or env.get("SLURM_TASKS_PER_NODE")
    local_world = _first_int(per_node, max(world // max(nodes, 1), 1))
    key = "|".join(
        ("slurm", env.get("SLURM_JOB_ID", ""), env.get("SLURM_STEP_ID", ""),
         env.get("SLURM_RESTART_COUNT", "0"))
    )  # fmt: skip
    return DistInfo(
        rank=_env_int(env, "SLURM_PROCID", 0),
        world_size=max(world, 1),
        local_rank=_env_int(env, "SLURM_LOCALID", 0),
        local_world_size=max(local_world, 1),
        node_rank=_env_int(env, "SLURM_NODEID", 0),
        run_key=key if world > 1 else None,
        launcher="slurm",
        **job,
    )


def dist_info(env: dict[str, str] | None = None) -> DistInfo:
    """This process's place in its job, from the launchers' environment variables."""
    env = dict(os.environ if env is None else env)
    job = {"job_id": env.get("SLURM_JOB_ID") or None,
           "job_partition": env.get("SLURM_JOB_PARTITION") or None}  # fmt: skip
    launcher = _launcher(env) or None
    world = _env_int(env, "WORLD_SIZE", 1)
    if world <= 1 and "TORCHELASTIC_RUN_ID" not in env:
        slurm = _slurm(env, job)
        if slurm is not None:
            return slurm
        return DistInfo(launcher=launcher if launcher != "torchrun" else None, **job)
    local_world = _env_int(env, "LOCAL_WORLD_SIZE", _env_int(env, "LOCAL_SIZE", world))
    run_id = env.get("TORCHELASTIC_RUN_ID", "")
    key = run_id
    if run_id in ("", "none"):  # torchrun's default rdzv id: add what this launch shares
        key = "|".join((run_id, env.get("MASTER_ADDR", ""), env.get("MASTER_PORT", "")))
        if job["job_id"]:
            key += f"|{job['job_id']}|{env.get('SLURM_STEP_ID', '')}"
        if local_world >= world:  # one node: every rank is a child of the same launcher
            key += f"|{socket.gethostname()}|{os.getppid()}"
    return DistInfo(
        rank=_env_int(env, "RANK", 0),
        world_size=max(world, 1),
        local_rank=_env_int(env, "LOCAL_RANK", 0),
        local_world_size=max(local_world, 1),
        node_rank=_env_int(env, "GROUP_RANK", _env_int(env, "CROSS_RANK", 0)),
        run_key=key,
        launcher=launcher,
        **job,
    )


def make_run_id(dist: DistInfo) -> str:
    """A fresh id, or for a distributed job one derived from its key (all ranks agree)."""
    if dist.run_key is not None:
        return uuid.uuid5(_RUN_NAMESPACE, dist.run_key).hex
    return uuid.uuid4().hex
