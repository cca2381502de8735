"""Where this process sits in a (torchrun) job, and the run id every rank of one job agrees on."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

_RUN_NAMESPACE = uuid.UUID("5d1c7f3e-6a4b-4f0e-9a51-636f73746c65")


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
